"""proto_wss: SIP over secure WebSocket (RFC 7118), TLS from tls_mgm (OpenSIPS module `proto_wss`).

The connection must negotiate the `sip` subprotocol. pysips additions: `allowed_origins` (a
comma-separated list of Origin values, `*` wildcards allowed) and `ws_ping_interval` (seconds of
silence after which we send a WebSocket ping; 0, the default, never pings).
"""

from __future__ import annotations

from pysips.core.services import PROTO_SERVICES, TLS_DOMAINS
from pysips.script.exports import ModuleExports, ParamExport, ParamType
from pysips.transport.proto_module import TRACE_PARAMS, init_proto_module

exports = ModuleExports(
    "proto_wss",
    params=(
        ParamExport("wss_port", ParamType.INT, 443, doc="default port of wss listeners and destinations"),
        ParamExport("wss_max_msg_chunks", ParamType.INT, 4, doc="accepted (frames carry whole messages)"),
        ParamExport("wss_send_timeout", ParamType.INT, 100, doc="accepted; writes never block"),
        ParamExport("require_origin", ParamType.INT, 0, doc="refuse handshakes without an Origin header"),
        ParamExport("allowed_origins", ParamType.STR, None, doc="pysips: Origin values allowed (comma list)"),
        ParamExport("ws_ping_interval", ParamType.INT, 0, doc="pysips: ping a quiet connection after N s"),
        ParamExport("wss_resource", ParamType.STR, "/", doc="path requested when we open a WSS connection"),
        ParamExport("wss_handshake_timeout", ParamType.INT, 100, doc="accepted"),
        ParamExport("wss_tls_handshake_timeout", ParamType.INT, 100,
                    doc="ms for the TLS handshake; values under 1000 keep pysips's 10 s"),
        ParamExport("cert_check_on_conn_reusage", ParamType.INT, 0, doc="accepted"),
        *TRACE_PARAMS,
    ),
    requires=(TLS_DOMAINS,),  # OpenSIPS: it depends on tls_mgm
    provides=(PROTO_SERVICES["wss"],),
    init=init_proto_module,
    doc="SIP over secure WebSocket (RFC 7118), TLS from tls_mgm",
)
