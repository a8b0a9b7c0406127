"""proto_tls: SIP over TLS (OpenSIPS module `proto_tls`); certificates come from tls_mgm."""

from __future__ import annotations

from pysips.core.services import PROTO_SERVICES, TLS_DOMAINS
from pysips.script.exports import ModuleExports, ParamExport, ParamType
from pysips.transport.proto_module import TRACE_PARAMS, init_proto_module

exports = ModuleExports(
    "proto_tls",
    params=(
        ParamExport("tls_port", ParamType.INT, 5061, doc="default port of tls listeners and destinations"),
        ParamExport("tls_crlf_pingpong", ParamType.INT, 1, doc="answer CRLFCRLF keepalives with CRLF"),
        ParamExport("tls_crlf_drop", ParamType.INT, 0, doc="accepted; lone CRLFs are always dropped"),
        ParamExport("tls_max_msg_chunks", ParamType.INT, 4,
                    doc="a message arriving in more reads than this closes the connection (0: no limit)"),
        ParamExport("cert_check_on_conn_reusage", ParamType.INT, 0, doc="accepted"),
        ParamExport("tls_handshake_timeout", ParamType.INT, 100,
                    doc="ms for the whole handshake; values under 1000 keep pysips's 10 s"),
        ParamExport("tls_send_timeout", ParamType.INT, 100, doc="accepted; writes never block"),
        ParamExport("tls_async", ParamType.INT, 1, doc="accepted; always asynchronous"),
        ParamExport("tls_async_max_postponed_chunks", ParamType.INT, 32, doc="accepted"),
        *TRACE_PARAMS,
    ),
    requires=(TLS_DOMAINS,),  # OpenSIPS: proto_tls depends on tls_mgm
    provides=(PROTO_SERVICES["tls"],),
    init=init_proto_module,
    doc="TLS transport",
)
