"""Pseudo-variables named in module parameters ("$var(password)", "$avp(rpid)"), compiled once
when the script loads, against the script's registry (module variables included) when given."""

from __future__ import annotations

from pysips.script.pv import PVRegistry
from pysips.script.pv_base import PVAccessor
from pysips.script.pvparam import compile_param_pv


def compile_spec(
    text: str, what: str, writable: bool = False, registry: PVRegistry | None = None
) -> PVAccessor:
    """FixupError (a load error) when `text` is not one pseudo-variable."""
    return compile_param_pv(text, what, registry, writable)
