"""Pseudo-variables named in module parameters (`password_spec`, `log_extra`, `received_avp`).

Modules compile them from `ParamExport.resolve` (or their `init`) against the script's registry,
which holds every loaded module's variables, so `"code=$T_reply_code"` works as in OpenSIPS.
"""

from __future__ import annotations

from pysips.script.ast import NOWHERE
from pysips.script.errors import FixupError
from pysips.script.parse_pv import PVSyntaxError, parse_pv_token
from pysips.script.pv import PVRegistry, compile_pvar
from pysips.script.pv_base import PVAccessor, PVError

_CORE_ONLY: PVRegistry | None = None


def core_registry() -> PVRegistry:
    """Core variables only: for code that compiles a spec with no script at hand (unit tests)."""
    global _CORE_ONLY
    if _CORE_ONLY is None:
        _CORE_ONLY = PVRegistry()
    return _CORE_ONLY


def compile_param_pv(
    text: str, what: str, registry: PVRegistry | None = None, writable: bool = False
) -> PVAccessor:
    """One pseudo-variable written in a parameter; FixupError (a load error) when it is not."""
    token = text.strip()
    try:
        node = parse_pv_token(token, NOWHERE)
        accessor = compile_pvar(node, registry if registry is not None else core_registry())
    except (PVSyntaxError, PVError) as exc:
        raise FixupError(f"{what}: bad pseudo-variable {token!r}: {exc}") from None
    if writable and not accessor.writable:
        raise FixupError(f"{what}: {token!r} cannot be written")
    return accessor
