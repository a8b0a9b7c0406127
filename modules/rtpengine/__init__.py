"""rtpengine: media relay through the Sipwise rtpengine daemon (OpenSIPS module `rtpengine`).

rtpengine_offer/answer hand the message's SDP to a daemon over the NG control protocol and put the
rewritten SDP back in the message; rtpengine_delete ends the session; rtpengine_manage picks one of
the three from the message. Daemons come from `rtpengine_sock` (sets, weights); one that does not
answer within `rtpengine_tout` seconds x `rtpengine_retr` attempts is disabled for
`rtpengine_disable_tout` seconds and the next one of the set takes the command; with worker
processes every worker learns it at once (sharing.py), as OpenSIPS's shared memory. While a message
waits on a daemon its script is suspended (pysips.core.suspend) and other messages are processed;
OpenSIPS blocks its worker there unless the script uses async(). See docs/rtpengine.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pysips.core.services import SHARED_STATE, TRANSACTIONS
from pysips.script.ast import NOWHERE
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamResolveContext,
    ParamType,
)
from pysips.script.posixre import compile_posix
from pysips.script.pv import PVRegistry
from pysips.script.pv_vars import avp_key

from . import flags as fl
from .functions import (
    rtpengine_answer,
    rtpengine_delete,
    rtpengine_manage,
    rtpengine_offer,
    rtpengine_pause_recording,
    rtpengine_start_recording,
    rtpengine_stop_recording,
    rtpengine_use_set,
)
from .ng_client import NgTransport
from .pvars import PVARS
from .runtime import RtpEngine
from .sets import build_sets, check_sock_param, parse_sock_param
from .sharing import NodeSharing


def _fix_flags(value: Any, fctx: FixupContext) -> fl.ParsedFlags | None:
    """Constant flag strings are parsed once, at load (a bad one is a load error); strings built
    from variables are parsed per call through the cache."""
    text = "" if value is None else str(value)
    return fl.parse_cached(text) if text else None


def _fix_set_id(value: Any, fctx: FixupContext) -> int:
    """As OpenSIPS: a set not defined by rtpengine_sock is looked up again at run time (sets may
    come from the database or a reload); rtpengine_use_set() then fails with an error logged."""
    set_id = int(value)
    declared: set[int] = set()
    for item in fctx.params.get("rtpengine_sock") or ():
        if str(item).strip() and str(item).strip().upper() != "NONE":
            declared.add(parse_sock_param(str(item))[0])
    if set_id not in declared:
        fctx.warnings.append(f"rtpengine set {set_id} is not defined by rtpengine_sock; it is looked up "
                             "when the call runs (and fails there unless the set exists then)")
    return set_id


def _check_positive(value: Any) -> int:
    n = int(value)
    if n < 0:
        raise FixupError(f"must not be negative (got {n})")
    return n


def _check_avp(value: Any) -> str:
    text = str(value).strip()
    if not text.startswith("$avp(") or not text.endswith(")"):
        raise FixupError(f"setid_avp must be an AVP such as $avp(setid) (got {text!r})")
    return text


def _check_regex(value: Any) -> str:
    try:
        compile_posix(str(value))
    except re.error as exc:
        raise FixupError(f"bad regular expression {value!r}: {exc}") from None
    return str(value)


def _resolve_extra_id(value: Any, rctx: ParamResolveContext) -> ExtraId:
    # resolved once every module is loaded, so any module's variable may be named (OpenSIPS
    # parses the spec in mod_init)
    return _compile_template(str(value), rctx.pv_registry)


def _unsupported(name: str) -> Any:
    def check(value: Any) -> Any:
        raise FixupError(f"{name} is not supported by pysips yet")

    return check


ExtraId = Callable[[MsgContext], str]


def _compile_template(text: str, registry: PVRegistry | None) -> ExtraId:
    from pysips.script.ast import StrLit
    from pysips.script.parse_pv import string_value
    from pysips.script.pv import compile_template
    from pysips.script.pv_base import PVError
    from pysips.script.pvparam import core_registry

    node = string_value(text, NOWHERE, lambda _k: NOWHERE)
    if isinstance(node, StrLit):
        constant = node.value

        def fixed(ctx: MsgContext) -> str:
            return constant

        return fixed
    try:
        return compile_template(node, registry if registry is not None else core_registry())
    except PVError as exc:
        raise FixupError(f"extra_id_pv {text!r}: {exc.message}") from None


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> object:
    socks = [str(v) for v in params.get("rtpengine_sock") or ()]
    transport = NgTransport(float(params["rtpengine_tout"]), int(params["rtpengine_retr"]))
    setid = params.get("setid_avp")
    extra = params.get("extra_id_pv")
    if isinstance(extra, str):  # set without the script loader (tests): compile it here
        extra = _compile_template(extra, ictx.pv_registry) if extra else None
    engine = RtpEngine(
        build_sets(socks),
        transport,
        float(params["rtpengine_disable_tout"]),
        setid_avp=avp_key(setid) if setid else None,
        extra_id=extra,
        extra_failover=tuple(compile_posix(p) for p in params.get("extra_failover_error") or ()),
    )
    engine.resolve_all()
    # SHARED_STATE is there when the server runs worker processes (the core provides it)
    shared = ictx.get(SHARED_STATE)
    if shared is not None:
        engine.on_change = NodeSharing(engine.sets, shared).changed
    return engine


_FLAGS = ArgSpec(ArgKind.STR, "flags", optional=True, fixup=_fix_flags)
_SOCK = ArgSpec(ArgKind.VAR, "sock_var", optional=True)
_SDP = ArgSpec(ArgKind.VAR, "sdp_var", optional=True)
_BODY = ArgSpec(ArgKind.STR, "body", optional=True)
_ALL = RouteType.ALL


exports = ModuleExports(
    "rtpengine",
    functions=(
        FunctionExport(
            "rtpengine_offer",
            rtpengine_offer,
            (_FLAGS, _SOCK, _SDP, _BODY),
            _ALL,
            async_capable=True,
            doc="send the SDP offer to rtpengine and put the rewritten SDP in the message",
        ),
        FunctionExport(
            "rtpengine_answer",
            rtpengine_answer,
            (_FLAGS, _SOCK, _SDP, _BODY),
            _ALL,
            async_capable=True,
            doc="send the SDP answer (reply, ACK or PRACK) and put the rewritten SDP in the message",
        ),
        FunctionExport(
            "rtpengine_delete", rtpengine_delete, (_FLAGS, _SOCK), _ALL, async_capable=True,
            doc="end the media session of the call (or of the current branch)",
        ),
        FunctionExport(
            "rtpengine_manage",
            rtpengine_manage,
            (_FLAGS, _SOCK, _SDP, _BODY),
            _ALL,
            async_capable=True,
            doc="offer, answer or delete, chosen from the message",
        ),
        FunctionExport(
            "rtpengine_start_recording", rtpengine_start_recording, (_FLAGS, _SOCK), _ALL,
            doc="ask the daemon to record the call",
        ),
        FunctionExport(
            "rtpengine_stop_recording", rtpengine_stop_recording, (_FLAGS, _SOCK), _ALL,
            doc="ask the daemon to stop recording the call",
        ),
        FunctionExport(
            "rtpengine_pause_recording", rtpengine_pause_recording, (_FLAGS, _SOCK), _ALL,
            doc="pause the recording (the file stays open)",
        ),
        FunctionExport(
            "rtpengine_use_set",
            rtpengine_use_set,
            (ArgSpec(ArgKind.INT, "setid", fixup=_fix_set_id),),
            _ALL,
            doc="use this set of daemons for the following rtpengine_* calls on this message",
        ),
    ),
    params=(
        ParamExport("rtpengine_sock", ParamType.STR, multi=True, check=check_sock_param,
                    doc="daemons: [set ==] udp:host:port[=weight] ..."),
        ParamExport("rtpengine_disable_tout", ParamType.INT, 60, check=_check_positive,
                    doc="seconds a daemon that did not answer stays disabled"),
        ParamExport("rtpengine_tout", ParamType.INT, 1, check=_check_positive,
                    doc="seconds to wait for a reply, per attempt"),
        ParamExport("rtpengine_retr", ParamType.INT, 5, check=_check_positive,
                    doc="attempts per daemon before it is declared dead"),
        ParamExport("rtpengine_timer_interval", ParamType.INT, 5, check=_check_positive,
                    doc="accepted for compatibility: disabled daemons are probed when next selected"),
        ParamExport("ping_enabled", ParamType.INT, 0, doc="accepted for compatibility; no effect"),
        ParamExport("extra_id_pv", ParamType.STR, None, resolve=_resolve_extra_id,
                    doc="the value of via-branch=extra (a string with pseudo-variables)"),
        ParamExport("setid_avp", ParamType.STR, None, check=_check_avp,
                    doc="an AVP holding the set id to use"),
        ParamExport("extra_failover_error", ParamType.STR, multi=True, check=_check_regex,
                    doc="a daemon error (regular expression) that moves the command to the next daemon"),
        ParamExport("error_pv", ParamType.STR, None, check=_unsupported("error_pv"), doc="not supported yet"),
        ParamExport("notification_sock", ParamType.STR, None, check=_unsupported("notification_sock"),
                    doc="not supported yet"),
        ParamExport("db_url", ParamType.STR, None, check=_unsupported("db_url"), doc="not supported yet"),
        ParamExport("db_table", ParamType.STR, "rtpengine", doc="only meaningful with db_url"),
        ParamExport("socket_column", ParamType.STR, "socket", doc="only meaningful with db_url"),
        ParamExport("set_column", ParamType.STR, "set_id", doc="only meaningful with db_url"),
    ),
    pvars=PVARS,
    uses=(TRANSACTIONS,),  # the branch id of a forked offer (OpenSIPS: DEP_SILENT on tm)
    init=_init,
    doc="Media relay through the rtpengine daemon (NG protocol).",
)
