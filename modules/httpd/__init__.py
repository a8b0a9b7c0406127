"""httpd: the embedded HTTP server other modules (mi_http) publish their pages on (OpenSIPS `httpd`).

Parameters as in OpenSIPS: `ip` (default 127.0.0.1, `*` for all addresses), `port` (8888),
`conn_timeout`, `receive_buf_size`/`post_buf_size` (accepted; bodies up to 1 MiB are read, or
more when they say so), `tls_cert_file`/`tls_key_file`/`tls_ciphers` (HTTPS), and
`auth_realm`/`auth_username`/`auth_password` (HTTP Basic authentication). pysips also takes
`socket` ("http:127.0.0.1:8888", "127.0.0.1:8888" or "*:8888"), which wins over ip/port.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import HTTP
from pysips.mi import MICall, command
from pysips.script.errors import FixupError
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType

from .server import Httpd, HttpdConfig, HttpdError

__all__ = ["Httpd", "HttpdConfig", "HttpdError", "exports", "parse_socket"]


def parse_socket(text: Any) -> tuple[str, int]:
    """ "http:127.0.0.1:8888" / "127.0.0.1:8888" / "[::1]:8888" / "*:8888" -> (ip, port)."""
    value = str(text).strip()
    for scheme in ("http:", "https:"):
        if value.lower().startswith(scheme):
            value = value[len(scheme):]
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise FixupError(f"bad httpd socket {text!r}: expected http:IP:PORT")
    port = int(port_text)
    if not 0 < port < 65536:
        raise FixupError(f"bad httpd port {port}")
    return host.strip("[]") if host != "*" else "*", port


def _check_port(value: Any) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise FixupError(f"bad httpd port {port}")
    return port


def _check_socket(value: Any) -> str:
    parse_socket(value)
    return str(value)


def config_from(params: dict[str, Any]) -> HttpdConfig:
    cfg = HttpdConfig(ip=str(params.get("ip") or "127.0.0.1"), port=int(params.get("port") or 8888))
    if params.get("socket"):
        cfg.ip, cfg.port = parse_socket(params["socket"])
    cfg.conn_timeout = max(0, int(params.get("conn_timeout") or 0))
    cfg.max_body = max(1 << 20, int(params.get("receive_buf_size") or 0),
                       int(params.get("post_buf_size") or 0))
    for name in ("tls_cert_file", "tls_key_file", "tls_ciphers", "auth_realm", "auth_username",
                 "auth_password"):
        setattr(cfg, name, str(params.get(name) or ""))
    return cfg


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> Httpd:
    httpd = Httpd(config_from(params))
    httpd.start()
    mctx.provide(HTTP, httpd)
    from pysips.mi import mi_of

    mi_of(mctx.process).add_role(f"HTTPD {httpd.address}")
    return httpd


def _list_root_path(call: MICall) -> Any:
    httpd = call.process.modules["httpd"]
    return [{"http_root": root.path, "module": root.module} for root in httpd.roots.values()]


def _destroy(runtime: object) -> None:
    if isinstance(runtime, Httpd):
        runtime.close()


exports = ModuleExports(
    "httpd",
    params=(
        ParamExport("ip", ParamType.STR, "127.0.0.1", doc="address to listen on (* for all)"),
        ParamExport("port", ParamType.INT, 8888, check=_check_port, doc="TCP port"),
        ParamExport("socket", ParamType.STR, None, check=_check_socket,
                    doc="pysips: http:IP:PORT, instead of ip and port"),
        ParamExport("conn_timeout", ParamType.INT, 0,
                    doc="idle seconds before a connection is closed; 0 never"),
        ParamExport("buf_size", ParamType.INT, 0, doc="accepted; responses are not size-limited"),
        ParamExport("post_buf_size", ParamType.INT, 1024, doc="accepted; see receive_buf_size"),
        ParamExport("receive_buf_size", ParamType.INT, 1024,
                    doc="largest request body read (never below 1 MiB here)"),
        ParamExport("tls_cert_file", ParamType.STR, "", doc="certificate: serve HTTPS"),
        ParamExport("tls_key_file", ParamType.STR, "", doc="private key of the certificate"),
        ParamExport("tls_ciphers", ParamType.STR, "", doc="OpenSSL cipher list"),
        ParamExport("auth_realm", ParamType.STR, "", doc="realm of HTTP Basic authentication"),
        ParamExport("auth_username", ParamType.STR, "", doc="require HTTP Basic authentication as this user"),
        ParamExport("auth_password", ParamType.STR, "", doc="the password of auth_username"),
    ),
    provides=(HTTP,),
    init=_init,
    main_process_only=True,  # one MI endpoint, in the main process, with workers
    destroy=_destroy,
    mi_commands=(command("httpd_list_root_path", "lists the root paths served by httpd",
                         {(): _list_root_path}, "httpd"),),
    doc="embedded HTTP server",
)
