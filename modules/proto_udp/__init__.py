"""proto_udp: the UDP transport (OpenSIPS module `proto_udp`).

The UDP listeners themselves are run by the engine (pysips.transport.udp); this module exists so
`loadmodule "proto_udp.so"` and its parameters load as in OpenSIPS. `udp_workers` is accepted and
recorded: pysips runs one worker process for now.
"""

from __future__ import annotations

from typing import Any

from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> dict[str, Any]:
    return dict(params)


exports = ModuleExports(
    "proto_udp",
    params=(
        ParamExport("udp_port", ParamType.INT, 5060, doc="default port of udp listeners without one"),
        ParamExport("udp_workers", ParamType.INT, 1, doc="accepted; one worker process for now"),
        ParamExport("udp_send_timeout", ParamType.INT, 0, doc="accepted; sends never block over UDP"),
    ),
    init=_init,
    doc="UDP transport",
)
