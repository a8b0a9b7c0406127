"""`$challenge.algorithm`, `.realm`, `.nonce`, `.opaque`, `.qop`, `.ik`, `.ck`: the parts of the
digest challenge of a 401/407 reply (read in failure_route as `$(<reply>challenge.realm)` or in
onreply_route). Null on a request, another code, or no Digest challenge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysips.script.context import MsgContext, Value
from pysips.script.pv_base import FuncPV, PVAccessor, PVError
from pysips.sip import digest
from pysips.sip.digest_client import Challenge, any_challenge
from pysips.sip.message import SipMessage


def _algorithm(found: Challenge) -> str:
    # OpenSIPS prints the parsed algorithm: MD5 when the challenge named none
    return digest.algorithm_name(found.algorithm)


_PARTS: dict[str, Callable[[Challenge], str]] = {
    "algorithm": _algorithm,
    "realm": lambda found: found.realm,
    "nonce": lambda found: found.nonce,
    "opaque": lambda found: found.opaque,
    "qop": lambda found: found.qop_text,
    "ik": lambda found: found.header.get("ik") or "",
    "ck": lambda found: found.header.get("ck") or "",
}


def _getter(part: Callable[[Challenge], str]) -> Callable[[MsgContext], Value]:
    def get(ctx: MsgContext) -> Value:
        msg = ctx.msg
        if not isinstance(msg, SipMessage) or msg.is_request:
            return None
        found = any_challenge(msg)
        if found is None:
            return None
        return part(found) or None

    return get


def challenge_factories() -> dict[str, Any]:
    def factory_for(name: str, part: Callable[[Challenge], str]) -> Any:
        def factory(pv_name: str, subname: str | None, pos: Any) -> PVAccessor:
            if subname is not None:
                raise PVError(f"${pv_name} takes no name in parentheses", pos)
            return FuncPV(f"${pv_name}", _getter(part))

        return factory

    return {f"challenge.{name}": factory_for(name, part) for name, part in _PARTS.items()}
