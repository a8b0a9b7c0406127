"""rest_client: HTTP requests from the script (OpenSIPS module `rest_client`).

rest_get(url, body_var[, ctype_var[, retcode_var]]), rest_post/rest_put(url, send_body,
[send_ctype], body_var[, ctype_var[, retcode_var]]) make the request and return OpenSIPS's codes
(1 done whatever the HTTP status, -1 refused, -2 connect timeout, -3 transfer timeout, -10
internal error); the status goes in retcode_var (0 when no reply came), the trimmed body and
Content-Type in their variables. rest_append_hf(txt) adds a header to the next request of the
same message. Only the calling message waits (transfer.py); all three work under async().
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, unquote

from pysips.core.suspend import wait
from pysips.script.ast import Pos
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    TransformExport,
    check_bool,
)
from pysips.script.module_runtime import module_runtime
from pysips.script.pv_base import PVAccessor, PVError
from pysips.script.transforms import TrArg, TrFunc

from .transfer import INTERNAL_ERROR, RestConfig, RestTransfers

__all__ = ["RestTransfers", "exports"]

log = logging.getLogger("pysips.modules.rest_client")

HEADERS_KEY = "rest_client.headers"  # ctx.extra: headers rest_append_hf() queued for the next request


def _transfers(ctx: MsgContext) -> RestTransfers:
    return module_runtime(ctx.process, "rest_client", RestTransfers)


def _request(ctx: MsgContext, method: str, url: str, body: str | None, ctype: str | None,
             body_var: PVAccessor, ctype_var: PVAccessor | None,
             code_var: PVAccessor | None) -> int:
    headers: list[tuple[str, str]] = ctx.extra.pop(HEADERS_KEY, [])
    data = body.encode() if body is not None else (b"" if method != "GET" else None)
    try:
        outcome = wait(_transfers(ctx).transfer(method, url, data, ctype or None, headers))
    except TimeoutError:  # async()'s own timeout ran out
        log.error("%s %s: the async() timeout ran out", method, url)
        return INTERNAL_ERROR
    if code_var is not None:
        code_var.set(ctx, outcome.status)
    if outcome.code < 0 and outcome.code != -3:
        return outcome.code
    body_var.set(ctx, outcome.body.decode("utf-8", "replace").strip())
    if ctype_var is not None:
        ctype_var.set(ctx, outcome.content_type.strip())
    return outcome.code


def w_rest_get(ctx: MsgContext, url: str, body_var: PVAccessor, ctype_var: PVAccessor | None = None,
               code_var: PVAccessor | None = None) -> int:
    return _request(ctx, "GET", url, None, None, body_var, ctype_var, code_var)


def w_rest_post(ctx: MsgContext, url: str, body: str, ctype: str | None, body_var: PVAccessor,
                ctype_var: PVAccessor | None = None, code_var: PVAccessor | None = None) -> int:
    return _request(ctx, "POST", url, body, ctype, body_var, ctype_var, code_var)


def w_rest_put(ctx: MsgContext, url: str, body: str, ctype: str | None, body_var: PVAccessor,
               ctype_var: PVAccessor | None = None, code_var: PVAccessor | None = None) -> int:
    return _request(ctx, "PUT", url, body, ctype, body_var, ctype_var, code_var)


def w_rest_append_hf(ctx: MsgContext, text: str) -> int:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        log.error("rest_append_hf: expected 'Name: value', got %r", text)
        return -1
    ctx.extra.setdefault(HEADERS_KEY, []).append((name.strip(), value.strip()))
    return 1


def make_rest_transform(method: str, args: tuple[TrArg, ...], pos: Pos) -> TrFunc:
    """{rest.escape}: RFC 3986 percent-encoding of everything but the unreserved characters, as
    curl_easy_escape; {rest.unescape}: the reverse (a '+' stays a '+')."""
    if args:
        raise PVError(f"{{rest.{method}}} takes no parameters", pos)
    if method == "escape":
        return lambda ctx, value: quote(str(value), safe="")
    if method == "unescape":
        return lambda ctx, value: unquote(str(value))
    raise PVError(f"unknown transformation {{rest.{method}}}", pos)


def _positive(value: Any) -> int:
    if not isinstance(value, int) or value < 0:
        raise FixupError(f"expected a number of seconds, not {value!r}")
    return value


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> RestTransfers:
    if params["curl_timeout"] < params["connection_timeout"]:
        log.warning("rest_client: curl_timeout (%d) is below connection_timeout (%d)",
                    params["curl_timeout"], params["connection_timeout"])
    config = RestConfig(float(params["connection_timeout"]), float(params["curl_timeout"]),
                        int(params["max_transfer_size"]), bool(params["ssl_verifypeer"]),
                        bool(params["ssl_verifyhost"]), params["ssl_capath"] or None)
    return RestTransfers(config)


async def _destroy(runtime: object) -> None:
    if isinstance(runtime, RestTransfers):
        await runtime.close()


_OUT = ArgSpec(ArgKind.VAR, "body_pv")
_CTYPE_OUT = ArgSpec(ArgKind.VAR, "ctype_pv", optional=True)
_CODE_OUT = ArgSpec(ArgKind.VAR, "retcode_pv", optional=True)
_UPLOAD = (ArgSpec(ArgKind.STR, "url"), ArgSpec(ArgKind.STR, "send_body"),
           ArgSpec(ArgKind.STR, "send_ctype", optional=True), _OUT, _CTYPE_OUT, _CODE_OUT)

exports = ModuleExports(
    "rest_client",
    functions=(
        FunctionExport("rest_get", w_rest_get,
                       (ArgSpec(ArgKind.STR, "url"), _OUT, _CTYPE_OUT, _CODE_OUT),
                       RouteType.ALL, async_capable=True, doc="HTTP GET"),
        FunctionExport("rest_post", w_rest_post, _UPLOAD, RouteType.ALL, async_capable=True,
                       doc="HTTP POST"),
        FunctionExport("rest_put", w_rest_put, _UPLOAD, RouteType.ALL, async_capable=True,
                       doc="HTTP PUT"),
        FunctionExport("rest_append_hf", w_rest_append_hf, (ArgSpec(ArgKind.STR, "txt"),),
                       RouteType.ALL, doc="a header for the next request"),
        FunctionExport("rest_init_client_tls", lambda ctx, *a: -1,
                       (ArgSpec(ArgKind.STR, "tls_client_domain"),), RouteType.ALL,
                       missing="client certificates from tls_mgm domains are not wired into"
                               " rest_client yet"),
    ),
    params=(
        ParamExport("curl_timeout", ParamType.INT, 20, check=_positive,
                    doc="seconds for a whole transfer, connect included"),
        ParamExport("connection_timeout", ParamType.INT, 20, check=_positive,
                    doc="seconds to establish the connection"),
        ParamExport("connect_poll_interval", ParamType.INT, 20,
                    doc="accepted for compatibility (libcurl's connect polling; not needed here)"),
        ParamExport("max_async_transfers", ParamType.INT, 100,
                    doc="accepted for compatibility (transfers never block the worker here)"),
        ParamExport("max_transfer_size", ParamType.INT, 10240, check=_positive,
                    doc="KB a response may have (0: no limit); more is error -10"),
        ParamExport("ssl_verifypeer", ParamType.INT_OR_STR, 1, check=check_bool),
        ParamExport("ssl_verifyhost", ParamType.INT_OR_STR, 1, check=check_bool),
        ParamExport("ssl_capath", ParamType.STR, None),
        ParamExport("curl_http_version", ParamType.INT, 0,
                    doc="accepted for compatibility (HTTP/1.1 is used)"),
        ParamExport("enable_expect_100", ParamType.INT_OR_STR, 0, check=check_bool,
                    doc="accepted for compatibility (no Expect: 100-continue is sent)"),
        ParamExport("no_concurrent_connects", ParamType.INT_OR_STR, 0, check=check_bool,
                    doc="accepted for compatibility (never -4 here)"),
        ParamExport("curl_conn_lifetime", ParamType.INT, 0,
                    doc="accepted for compatibility (httpx keeps its own connection pool)"),
    ),
    transforms=(TransformExport("rest", make_rest_transform,
                                doc="{rest.escape}, {rest.unescape}: URL percent-encoding"),),
    init=_init,
    destroy=_destroy,
    doc="HTTP requests (GET, POST, PUT) from the script",
)
