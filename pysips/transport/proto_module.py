"""What the four proto_* modules (tcp, tls, ws, wss) share: their init and the trace_* parameters.

Tracing needs proto_hep, which pysips lacks, so the trace_* parameters are accepted only when they
ask for nothing; the same refusal must hold for every stream protocol, hence one definition here.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import PROTO_SERVICES
from pysips.script.errors import FixupError
from pysips.script.exports import ModuleInitContext, ParamExport, ParamType
from pysips.transport.stream_settings import proto_module_state


def refuse_tracing(value: Any) -> Any:
    """trace_* parameters need proto_hep, which pysips does not have: refuse them at load."""
    if value in (None, "", 0):
        return value
    raise FixupError("SIP capture (trace_destination/trace_on) needs proto_hep, not available in pysips")


TRACE_PARAMS = (
    ParamExport("trace_destination", ParamType.STR, None, check=refuse_tracing, doc="not supported"),
    ParamExport("trace_on", ParamType.INT, 0, check=refuse_tracing, doc="not supported (0 only)"),
    ParamExport("trace_filter_route", ParamType.STR, None, doc="accepted; tracing is not supported"),
)


def init_proto_module(mctx: ModuleInitContext, params: dict[str, Any]) -> dict[str, Any]:
    """Module init of a proto_* module: offer its parameters with the core tcp_* globals to the
    stream transports (its PROTO_SERVICES entry)."""
    state = proto_module_state(mctx.script, params)
    mctx.provide(PROTO_SERVICES[mctx.name.removeprefix("proto_")], state)
    return state
