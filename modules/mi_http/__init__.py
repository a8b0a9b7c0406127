"""mi_http: the management interface as JSON-RPC 2.0 over HTTP POST (OpenSIPS `mi_http`).

Served by httpd at `/<root>` (param `root`, default "mi"): POST a JSON-RPC request, get the JSON-RPC
response (200, application/json). Another method gets 405, an unparsable body a JSON-RPC parse
error. A notification (no "id") gets an empty 200.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.services import HTTP, HttpService
from pysips.mi import mi_of
from pysips.script.context import ProcessState
from pysips.script.errors import FixupError
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType

log = logging.getLogger("pysips.mi_http")

JSON = "application/json"


class MiHttp:
    """`process.modules["mi_http"]`: the page handler httpd calls for /<root>."""

    def __init__(self, process: ProcessState, root: str) -> None:
        self.process = process
        self.root = root.strip("/") or "mi"
        self.attached = False

    def handle(self, request: Any) -> tuple[int, str, bytes]:
        if request.method != "POST":
            return 405, "text/plain", b"only POST is accepted\n"
        reply = mi_of(self.process).handle_text(request.body)
        return 200, JSON, reply or b""

    def attach(self, httpd: HttpService) -> None:
        httpd.register(self.root, "mi_http", self.handle)
        self.attached = True


def _not_implemented(value: Any) -> Any:
    raise FixupError("MI tracing (proto_hep) is not implemented in pysips")


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> MiHttp:
    mi_http = MiHttp(mctx.process, str(params.get("root") or "mi"))
    mi_http.attach(mctx.require(HTTP))  # httpd is initialised first, wherever it is loaded
    return mi_http


exports = ModuleExports(
    "mi_http",
    params=(
        ParamExport("root", ParamType.STR, "mi", doc="the path served: http://IP:PORT/<root>"),
        ParamExport("mi_http_method", ParamType.INT, 0,
                    legacy="3.x serves JSON-RPC over POST only, and so does pysips",
                    doc="2.x: GET (0) or POST (1) forms; accepted, JSON-RPC over POST is served"),
        ParamExport("trace_destination", ParamType.STR, None, check=_not_implemented,
                    doc="not implemented: a load error"),
        ParamExport("trace_bwlist", ParamType.STR, None, check=_not_implemented,
                    doc="not implemented: a load error"),
    ),
    requires=(HTTP,),
    init=_init,
    main_process_only=True,  # one MI endpoint, in the main process, with workers
    doc="JSON-RPC management interface over HTTP",
)
