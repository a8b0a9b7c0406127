"""proto_tcp: SIP over TCP (OpenSIPS module `proto_tcp`).

The listeners and connections live in pysips.transport (stream_listeners, stream_conn); this module
carries the parameters scripts set. The core globals tcp_connection_lifetime, tcp_connect_timeout,
tcp_max_connections, tcp_keepalive/keepidle/keepinterval/keepcount and tcp_accept_aliases apply to
every stream protocol.
"""

from __future__ import annotations

from pysips.core.services import PROTO_SERVICES
from pysips.script.exports import ModuleExports, ParamExport, ParamType
from pysips.transport.proto_module import TRACE_PARAMS, init_proto_module

exports = ModuleExports(
    "proto_tcp",
    params=(
        ParamExport("tcp_port", ParamType.INT, 5060, doc="default port of tcp listeners and destinations"),
        ParamExport("tcp_send_timeout", ParamType.INT, 100, doc="accepted; writes never block (asyncio)"),
        ParamExport("tcp_max_msg_chunks", ParamType.INT, 4,
                    doc="a message arriving in more reads than this closes the connection (0: no limit)"),
        ParamExport("tcp_crlf_pingpong", ParamType.INT, 1, doc="answer CRLFCRLF keepalives with CRLF"),
        ParamExport("tcp_crlf_drop", ParamType.INT, 0, doc="accepted; lone CRLFs are always dropped"),
        ParamExport("tcp_async", ParamType.INT, 1, doc="accepted; always asynchronous"),
        ParamExport("tcp_async_max_postponed_chunks", ParamType.INT, 32, doc="accepted"),
        ParamExport("tcp_async_local_write_timeout", ParamType.INT, 10, doc="accepted"),
        *TRACE_PARAMS,
    ),
    provides=(PROTO_SERVICES["tcp"],),
    init=init_proto_module,
    doc="TCP transport",
)
