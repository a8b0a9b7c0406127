"""options_ping: send an OPTIONS from the routing script, read the answers over the MI.

An example of a complete pysips module (see docs/writing-a-module.md): a script function with a
fixed-up argument, a parameter, a required service (tm's UAC), an MI command, statistics, and
the lifecycle hooks.

    loadmodule "tm.so"
    loadmodule "options_ping.so"
    modparam("options_ping", "from_uri", "sip:monitor@example.com")
    route { if (options_ping("sip:gw1.example.com")) ... }

    opensips-cli -x mi options_ping_list
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.services import TRANSACTIONS
from pysips.mi import MICall, MIError, command
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
    ParamType,
    StatExport,
)

from .pinger import Pinger

log = logging.getLogger("pysips.options_ping")

NAME = "options_ping"


def _sip_uri(value: Any, fctx: FixupContext) -> str:
    """Fixup: run once at load for a constant, at each call for a value with variables."""
    text = str(value).strip()
    if not text.startswith(("sip:", "sips:")):
        raise FixupError(f"options_ping() needs a SIP URI, got {text!r}", fctx.pos)
    return text


def _pinger(ctx: MsgContext) -> Pinger:
    pinger = ctx.process.modules.get(NAME)  # the module's own slot: what _init returned
    if not isinstance(pinger, Pinger):
        raise RuntimeError("options_ping: module not initialised in this process")
    return pinger


def w_options_ping(ctx: MsgContext, uri: str) -> int:
    """options_ping(uri): 1 when the OPTIONS went out, -1 when it could not be sent."""
    return 1 if _pinger(ctx).ping(uri) else -1


def mi_list(call: MICall) -> Any:
    pinger = call.process.modules.get(NAME)
    if not isinstance(pinger, Pinger):
        raise MIError(500, "options_ping is not initialised")
    return [{"uri": uri, "code": reply.code, "reason": reply.reason, "local": reply.local}
            for uri, reply in sorted(pinger.last.items())]


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Pinger:
    # tm is initialised first (we require it), wherever the script loads it
    return Pinger(ictx.require(TRANSACTIONS), str(params.get("from_uri") or ""))


def _destroy(pinger: object) -> None:
    if isinstance(pinger, Pinger):
        log.log(25, "options_ping: %d sent, %d answered, %d unanswered", pinger.sent, pinger.answered,
                 pinger.timeouts)


def _counter(name: str) -> StatExport:
    return StatExport(name, lambda p: int(getattr(p, name)), lambda p: setattr(p, name, 0))


exports = ModuleExports(
    NAME,
    functions=(
        FunctionExport("options_ping", w_options_ping, (ArgSpec(ArgKind.STR, "uri", fixup=_sip_uri),),
                       route_types=RouteType.ALL, doc="send an OPTIONS to uri; the answer shows in the MI"),
    ),
    params=(
        ParamExport("from_uri", ParamType.STR, "", doc="From URI of the pings (default sip:pysips@<socket>)"),
    ),
    requires=(TRANSACTIONS,),
    init=_init,
    destroy=_destroy,
    mi_commands=(
        command("options_ping_list", "the last final answer to each pinged URI", {(): mi_list}, NAME),
    ),
    stats=(_counter("sent"), _counter("answered"), _counter("timeouts")),
    doc="OPTIONS pings from the routing script (an example module)",
)
