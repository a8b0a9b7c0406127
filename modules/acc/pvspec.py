"""Pseudo-variables named in module parameters ("$var(password)", "$avp(rpid)"), compiled once
when the script loads. Only core variables, $var and $avp are known here (module variables are
registered with the script's own registry, which parameters do not see)."""

from __future__ import annotations

from pysips.script.ast import NOWHERE
from pysips.script.errors import FixupError
from pysips.script.parse_pv import PVSyntaxError, parse_pv_token
from pysips.script.pv import PVRegistry, compile_pvar
from pysips.script.pv_base import PVAccessor, PVError

_REGISTRY: PVRegistry | None = None


def registry() -> PVRegistry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = PVRegistry()
    return _REGISTRY


def compile_spec(text: str, what: str, writable: bool = False) -> PVAccessor:
    """FixupError (a load error) when `text` is not one pseudo-variable."""
    token = text.strip()
    try:
        node = parse_pv_token(token, NOWHERE)
        accessor = compile_pvar(node, registry())
    except (PVSyntaxError, PVError) as exc:
        raise FixupError(f"{what}: bad pseudo-variable {token!r}: {exc}") from None
    if writable and not accessor.writable:
        raise FixupError(f"{what}: {token!r} cannot be written")
    return accessor
