"""exec: external commands from the script (OpenSIPS module `exec`).

exec(command[, stdin[, stdout_var[, stderr_var[, env_avp]]]]) runs `command` with /bin/sh; the
values of env_avp become OSIPS_EXEC_0 (the newest), OSIPS_EXEC_1, ... in its environment, and
with modparam setvars=1 the request's SIP_HF_<HEADER>, SIP_TID, SIP_DID, SIP_SRCIP, SIP_RURI,
SIP_USER, SIP_ORURI and SIP_OUSER as OpenSIPS documents them. It returns 1 once started (and
its outputs read), -1 when it cannot be started; the exit status is not looked at. Only the
calling message waits (runner.py); exec() may also be used in async().
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pysips.core.suspend import wait
from pysips.script.context import MsgContext, RouteType
from pysips.script.corefuncs import current_ruri
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    check_bool,
)
from pysips.script.module_runtime import module_runtime
from pysips.script.pv_base import PVAccessor
from pysips.script.pv_vars import AvpPV
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

from .runner import ExecRunner

__all__ = ["ExecModule", "exports"]

log = logging.getLogger("pysips.modules.exec")

# compact header forms, written canonically in SIP_HF_ names
_COMPACT = {"i": "CALL_ID", "m": "CONTACT", "e": "CONTENT_ENCODING", "l": "CONTENT_LENGTH",
            "c": "CONTENT_TYPE", "f": "FROM", "s": "SUBJECT", "k": "SUPPORTED", "t": "TO",
            "v": "VIA", "r": "REFER_TO", "b": "REFERRED_BY", "o": "EVENT", "u": "ALLOW_EVENTS",
            "x": "SESSION_EXPIRES"}


class ExecModule:
    __slots__ = ("runner", "setvars")

    def __init__(self, runner: ExecRunner, setvars: bool) -> None:
        self.runner = runner
        self.setvars = setvars


def _module(ctx: MsgContext) -> ExecModule:
    return module_runtime(ctx.process, "exec", ExecModule)


def _hf_name(name: str) -> str:
    if len(name) == 1 and name.lower() in _COMPACT:
        return _COMPACT[name.lower()]
    return "".join(c.upper() if c.isalnum() else "_" for c in name)


def _user_of(uri_text: str | None) -> str:
    uri = parse_uri(uri_text) if uri_text else None
    return (uri.user or "") if isinstance(uri, SipUri) else ""


def sip_variables(ctx: MsgContext) -> dict[str, str]:
    """OpenSIPS's documented SIP_* variables of the current request."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        return {}
    env: dict[str, str] = {}
    for name, value in msg.header_fields():
        key = "SIP_HF_" + _hf_name(name)
        env[key] = f"{env[key]},{value}" if key in env else value
    if ctx.rcv is not None:
        env["SIP_SRCIP"] = ctx.rcv.src_ip
    ruri = current_ruri(ctx) or msg.ruri
    env["SIP_RURI"] = ruri
    env["SIP_USER"] = _user_of(ruri)
    env["SIP_ORURI"] = msg.ruri
    env["SIP_OUSER"] = _user_of(msg.ruri)
    from_header = msg.from_header()
    to_header = msg.to_header()
    from_tag = "" if isinstance(from_header, ParseError) else from_header.tag or ""
    vias = msg.via_headers()
    branch = "" if isinstance(vias, ParseError) or not vias else vias[0].branch or ""
    seed = "|".join((from_tag, msg.header("call-id") or "", msg.header("cseq") or "",
                     msg.ruri, branch))
    env["SIP_TID"] = hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()
    env["SIP_DID"] = "" if isinstance(to_header, ParseError) else to_header.tag or ""
    return env


def _environment(ctx: MsgContext, module: ExecModule, env_avp: PVAccessor | None) -> dict[str, str]:
    env = sip_variables(ctx) if module.setvars else {}
    if env_avp is not None:
        for index, value in enumerate(env_avp.get_all(ctx)):
            env[f"OSIPS_EXEC_{index}"] = "" if value is None else str(value)
    return env


def w_exec(ctx: MsgContext, command: str, stdin: str | None = None,
           out: PVAccessor | None = None, err: PVAccessor | None = None,
           env_avp: PVAccessor | None = None) -> int:
    module = _module(ctx)
    if env_avp is not None and not env_avp.get_all(ctx):
        log.error("cannot get first avp value")
        return -1
    env = _environment(ctx, module, env_avp)
    data = stdin.encode() if stdin else None
    try:
        result = wait(module.runner.run(command, data, out is not None, err is not None, env))
    except OSError as exc:
        log.error("exec: cannot run %r: %s", command, exc)
        return -1
    if out is not None and result.stdout:
        out.set(ctx, result.stdout.decode("utf-8", "replace"))
    if err is not None and result.stderr:
        err.set(ctx, result.stderr.decode("utf-8", "replace"))
    return 1


def _fix_env_avp(value: Any, fctx: FixupContext) -> Any:
    if not isinstance(value, AvpPV):
        raise FixupError("environment var must be an AVP", fctx.pos)
    return value


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> ExecModule:
    log.info("exec - initializing")
    return ExecModule(ExecRunner(float(params["time_to_kill"] or 0)), bool(params["setvars"]))


async def _destroy(runtime: object) -> None:
    if isinstance(runtime, ExecModule):
        await runtime.runner.close()


_ROUTES = (RouteType.REQUEST | RouteType.FAILURE | RouteType.LOCAL | RouteType.STARTUP
           | RouteType.TIMER | RouteType.EVENT | RouteType.ONREPLY)

exports = ModuleExports(
    "exec",
    functions=(
        FunctionExport("exec", w_exec,
                       (ArgSpec(ArgKind.STR, "command"),
                        ArgSpec(ArgKind.STR, "stdin", optional=True),
                        ArgSpec(ArgKind.VAR, "stdout", optional=True),
                        ArgSpec(ArgKind.VAR, "stderr", optional=True),
                        ArgSpec(ArgKind.VAR, "envavp", optional=True, fixup=_fix_env_avp)),
                       _ROUTES, async_capable=True,
                       doc="run a shell command (input, output, error, environment)"),
    ),
    params=(
        ParamExport("time_to_kill", ParamType.INT, 0,
                    doc="seconds after which a command still running gets SIGTERM (0: never)"),
        ParamExport("setvars", ParamType.INT_OR_STR, 0, check=check_bool,
                    doc="1: pass the request's SIP_* variables to the command"),
    ),
    init=_init,
    destroy=_destroy,
    doc="external commands from the script",
)
