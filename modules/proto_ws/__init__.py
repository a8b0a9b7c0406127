"""proto_ws: SIP over WebSocket (RFC 7118) (OpenSIPS module `proto_ws`).

The connection must negotiate the `sip` subprotocol. pysips additions: `allowed_origins` (a
comma-separated list of Origin values, `*` wildcards allowed) and `ws_ping_interval` (seconds of
silence after which we send a WebSocket ping; 0, the default, never pings).
"""

from __future__ import annotations

from pysips.core.services import PROTO_SERVICES
from pysips.script.exports import ModuleExports, ParamExport, ParamType
from pysips.transport.proto_module import TRACE_PARAMS, init_proto_module

exports = ModuleExports(
    "proto_ws",
    params=(
        ParamExport("ws_port", ParamType.INT, 80, doc="default port of ws listeners and destinations"),
        ParamExport("ws_max_msg_chunks", ParamType.INT, 4, doc="accepted (frames carry whole messages)"),
        ParamExport("ws_send_timeout", ParamType.INT, 100, doc="accepted; writes never block"),
        ParamExport("require_origin", ParamType.INT, 0, doc="refuse handshakes without an Origin header"),
        ParamExport("allowed_origins", ParamType.STR, None, doc="pysips: Origin values allowed (comma list)"),
        ParamExport("ws_ping_interval", ParamType.INT, 0, doc="pysips: ping a quiet connection after N s"),
        ParamExport("ws_resource", ParamType.STR, "/", doc="pysips: path asked for when dialling"),
        *TRACE_PARAMS,
    ),
    provides=(PROTO_SERVICES["ws"],),
    init=init_proto_module,
    doc="SIP over WebSocket (RFC 7118)",
)
