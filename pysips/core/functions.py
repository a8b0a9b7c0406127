"""Core script functions that need the engine: forward(), send(), force_send_socket().

They replace the `missing=` placeholders of pysips.script.corefuncs when a script is loaded to run
(the server passes `ENGINE_FUNCTIONS` to the loader). Handlers reach the engine through
`ctx.process.core`; arguments are parsed once at load time when they are constants.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.cache_functions import CACHE_FUNCTIONS
from pysips.core.forward import HostPort, forward_request, parse_phostport, send_as_is
from pysips.core.sockets import default_port
from pysips.script.context import MsgContext
from pysips.script.errors import FixupError
from pysips.script.exports import ArgKind, ArgSpec, FixupContext, FunctionExport

log = logging.getLogger("pysips.core")


def fix_hostport(value: Any, fctx: FixupContext) -> HostPort:
    if isinstance(value, HostPort):
        return value
    parsed = parse_phostport(str(value))
    if parsed is None:
        raise FixupError(f"bad destination {value!r} (want [proto:]host[:port])", fctx.pos)
    return parsed


def _engine(ctx: MsgContext) -> Any:
    core = ctx.process.core
    if core is None:
        log.error("no SIP engine in this process (script only checked?)")
    return core


def w_forward(ctx: MsgContext, dest: HostPort | None = None) -> int:
    engine = _engine(ctx)
    if engine is None:
        return -1
    return forward_request(engine, ctx, dest)


def w_send(ctx: MsgContext, dest: HostPort, headers: str | None = None) -> int:
    engine = _engine(ctx)
    if engine is None:
        return -1
    return send_as_is(engine, ctx, dest, headers)


def w_force_send_socket(ctx: MsgContext, where: HostPort) -> int:
    engine = _engine(ctx)
    if engine is None:
        return -1
    proto = where.proto or "udp"
    sock = engine.table.find(proto, where.host, where.port or default_port(proto))
    if sock is None:
        log.error("force_send_socket: we do not listen on %s:%s:%s", proto, where.host, where.port)
        return -1
    ctx.force_socket = sock
    return 1


_DEST = ArgSpec(ArgKind.STR, "destination", fixup=fix_hostport)

ENGINE_FUNCTIONS: tuple[FunctionExport, ...] = (
    *CACHE_FUNCTIONS,
    FunctionExport(
        "forward", w_forward, (ArgSpec(ArgKind.STR, "destination", optional=True, fixup=fix_hostport),),
        doc="forward the request statelessly to $du / the R-URI (RFC 3263), or to [proto:]host[:port]",
    ),
    FunctionExport(
        "send", w_send, (_DEST, ArgSpec(ArgKind.STR, "headers", optional=True)),
        doc="send the request as it is (no Via added) to [proto:]host[:port]",
    ),
    FunctionExport(
        "force_send_socket", w_force_send_socket, (ArgSpec(ArgKind.STR, "socket", fixup=fix_hostport),),
        doc="send this message out of one of our sockets, [proto:]ip[:port]",
    ),
)
