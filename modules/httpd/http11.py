"""HTTP/1.1 request framing over an asyncio stream, and response bytes. Small on purpose: the
management interface needs requests with a Content-Length body, keep-alive, and clear errors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from http import HTTPStatus

MAX_HEAD = 16384


class HttpError(Exception):
    def __init__(self, status: int, text: str = "") -> None:
        super().__init__(text or HTTPStatus(status).phrase)
        self.status = status


@dataclass(slots=True)
class HttpRequest:
    method: str
    target: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return conn == "keep-alive"
        return conn != "close"


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def parse_head(head: bytes) -> HttpRequest:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise HttpError(400) from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "bad request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, "bad header line")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return HttpRequest(method, target, version, headers)


async def read_request(reader: asyncio.StreamReader, max_body: int) -> HttpRequest | None:
    """The next request on the connection; None when the peer closed it between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(400, "truncated request") from None
    except asyncio.LimitOverrunError:
        raise HttpError(431) from None
    request = parse_head(head[:-4])
    if "transfer-encoding" in request.headers:
        raise HttpError(501, "chunked request bodies are not supported: send Content-Length")
    length_text = request.headers.get("content-length", "0")
    if not length_text.isdigit():
        raise HttpError(400, "bad Content-Length")
    length = int(length_text)
    if length > max_body:
        raise HttpError(413)
    if length:
        try:
            request.body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise HttpError(400, "truncated body") from None
    return request


def response_bytes(resp: HttpResponse, keep_alive: bool, head_only: bool = False) -> bytes:
    reason = HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else ""
    lines = [f"HTTP/1.1 {resp.status} {reason}", f"Content-Type: {resp.content_type}",
             f"Content-Length: {len(resp.body)}", "Server: pysips httpd"]
    lines.extend(f"{name}: {value}" for name, value in resp.headers)
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + resp.body
