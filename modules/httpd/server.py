"""The embedded HTTP server: one listening socket, handlers by root path (`/mi`, ...).

The socket is bound when the module initialises, so a busy port stops the start with a clear
message; serving starts on the event loop right after. Handlers are synchronous callables
(request -> (status, content type, body)): the MI commands they run never block.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from .http11 import HttpError, HttpRequest, HttpResponse, read_request, response_bytes

log = logging.getLogger("pysips.httpd")

# A page handler: the request to (status, content type, body), or a full HttpResponse.
Handler = Callable[[HttpRequest], "HttpResponse | tuple[int, str, bytes]"]


@dataclass(slots=True)
class HttpdConfig:
    ip: str = "127.0.0.1"
    port: int = 8888
    conn_timeout: int = 0  # idle seconds before closing a kept-alive connection; 0 never
    max_body: int = 1 << 20
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_ciphers: str = ""
    auth_realm: str = ""
    auth_username: str = ""
    auth_password: str = ""


@dataclass(frozen=True, slots=True)
class Root:
    path: str  # without slashes: "mi"
    module: str
    handler: Handler


class HttpdError(Exception):
    pass


class Httpd:
    """`process.modules["httpd"]`: modules add their roots with `register(root, module, handler)`."""

    def __init__(self, config: HttpdConfig) -> None:
        self.config = config
        self.roots: dict[str, Root] = {}
        self.sock: socket.socket | None = None
        self.server: asyncio.AbstractServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return f"{self.config.ip}:{self.config.port}"

    def register(self, root: str, module: str, handler: Handler) -> None:
        path = root.strip("/")
        if path in self.roots:
            raise HttpdError(f"httpd: root /{path} is taken by {self.roots[path].module}")
        self.roots[path] = Root(path, module, handler)

    # ---------------------------------------------------------------- lifecycle

    def bind(self) -> None:
        ip = self.config.ip
        family = socket.AF_INET6 if ip == "*" or ":" in ip else socket.AF_INET
        host = "::" if ip == "*" else ip.strip("[]")
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if ip == "*":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((host, self.config.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise HttpdError(f"httpd: cannot listen on {self.address}: {exc.strerror or exc}") from exc
        self.sock = sock

    def _ssl_context(self) -> ssl.SSLContext | None:
        cfg = self.config
        if not cfg.tls_cert_file:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(cfg.tls_cert_file, cfg.tls_key_file or None)
            if cfg.tls_ciphers:
                ctx.set_ciphers(cfg.tls_ciphers)
        except (OSError, ssl.SSLError) as exc:
            raise HttpdError(f"httpd: TLS setup failed: {exc}") from exc
        return ctx

    def start(self) -> None:
        """Binds now; serves as soon as the event loop runs (no loop: only binds, for checks)."""
        self.bind()
        ssl_ctx = self._ssl_context()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("httpd: no event loop running, %s bound but not served", self.address)
            return
        self._task = loop.create_task(self._serve(ssl_ctx))

    async def _serve(self, ssl_ctx: ssl.SSLContext | None) -> None:
        assert self.sock is not None
        self.server = await asyncio.start_server(self._connection, sock=self.sock, ssl=ssl_ctx,
                                                 limit=65536)
        scheme = "https" if ssl_ctx else "http"
        log.log(25, "listening on %s:%s, roots %s", scheme, self.address,
                ", ".join("/" + r for r in self.roots) or "none")

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        elif self.sock is not None:
            self.sock.close()

    # ---------------------------------------------------------------- requests

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        timeout = self.config.conn_timeout or None
        try:
            while True:
                try:
                    request = await asyncio.wait_for(read_request(reader, self.config.max_body), timeout)
                except HttpError as exc:
                    resp = HttpResponse(exc.status, (str(exc) + "\n").encode())
                    writer.write(response_bytes(resp, keep_alive=False))
                    await writer.drain()
                    return
                if request is None:
                    return
                resp = self.respond(request)
                keep = request.keep_alive
                writer.write(response_bytes(resp, keep, head_only=request.method == "HEAD"))
                await writer.drain()
                if not keep:
                    return
        except (TimeoutError, ConnectionError, ssl.SSLError):
            return
        except Exception:
            log.exception("httpd: connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _authorized(self, request: HttpRequest) -> bool:
        cfg = self.config
        if not cfg.auth_username:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (hmac.compare_digest(user, cfg.auth_username)
                and hmac.compare_digest(password, cfg.auth_password))

    def respond(self, request: HttpRequest) -> HttpResponse:
        if not self._authorized(request):
            realm = self.config.auth_realm or "pysips"
            return HttpResponse(401, b"authorization required\n",
                                headers=(("WWW-Authenticate", f'Basic realm="{realm}"'),))
        first = request.path.strip("/").split("/", 1)[0]
        root = self.roots.get(first)
        if root is None:
            return HttpResponse(404, b"not found\n")
        try:
            result = root.handler(request)
            if isinstance(result, tuple):
                status, content_type, body = result
                extra = (("Allow", "POST"),) if status == 405 else ()
                return HttpResponse(status, body, content_type, extra)
            return result
        except Exception:
            log.exception("httpd: handler of /%s failed", root.path)
            return HttpResponse(500, b"internal error\n")
