"""proto_ws: SIP over WebSocket (RFC 7118) (OpenSIPS module `proto_ws`).

The connection must negotiate the `sip` subprotocol. pysips additions: `allowed_origins` (a
comma-separated list of Origin values, `*` wildcards allowed) and `ws_ping_interval` (seconds of
silence after which we send a WebSocket ping; 0, the default, never pings).
"""

from __future__ import annotations

from typing import Any

from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType
from pysips.transport.stream_settings import proto_module_state, refuse_tracing


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> dict[str, Any]:
    return proto_module_state(mctx.script, params)


exports = ModuleExports(
    "proto_ws",
    params=(
        ParamExport("ws_port", ParamType.INT, 80, doc="default port of ws listeners and destinations"),
        ParamExport("ws_max_msg_chunks", ParamType.INT, 4, doc="accepted (frames carry whole messages)"),
        ParamExport("ws_send_timeout", ParamType.INT, 100, doc="accepted; writes never block"),
        ParamExport("require_origin", ParamType.INT, 0, doc="refuse handshakes without an Origin header"),
        ParamExport("allowed_origins", ParamType.STR, None, doc="pysips: Origin values allowed (comma list)"),
        ParamExport("ws_ping_interval", ParamType.INT, 0, doc="pysips: ping a quiet connection after N s"),
        ParamExport("trace_destination", ParamType.STR, None, check=refuse_tracing, doc="not supported"),
        ParamExport("trace_on", ParamType.INT, 0, check=refuse_tracing, doc="not supported (0 only)"),
        ParamExport("trace_filter_route", ParamType.STR, None, doc="accepted; tracing is not supported"),
        ParamExport("ws_resource", ParamType.STR, "/", doc="pysips: path asked for when dialling"),
    ),
    init=_init,
    doc="SIP over WebSocket (RFC 7118)",
)
