"""One request, its answers, over any of the five transports (real sockets on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import uuid

from websockets.asyncio.client import connect as ws_connect

LOCAL = "127.0.0.1"


def tls_client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def build_request(method: str, ruri: str, proto: str, *, from_uri: str, to_uri: str | None = None,
                  to_tag: str = "", extra: str = "", body: bytes = b"", via_host: str = "") -> bytes:
    tag = uuid.uuid4().hex[:12]
    via_host = via_host or (f"{uuid.uuid4().hex[:8]}.invalid" if proto in ("WS", "WSS") else f"{LOCAL}:9")
    to = f"<{to_uri or ruri}>" + (f";tag={to_tag}" if to_tag else "")
    head = (f"{method} {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/{proto} {via_host};branch=z9hG4bK{tag};rport\r\n"
            f"From: <{from_uri}>;tag={tag}\r\nTo: {to}\r\nCall-ID: {tag}@rel.test\r\n"
            f"CSeq: 1 {method}\r\nContact: <sip:x@{via_host}>\r\nMax-Forwards: 70\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def _split(data: bytes) -> list[bytes]:
    """Cut a stream of replies into messages (Content-Length honoured)."""
    out: list[bytes] = []
    while b"\r\n\r\n" in data:
        head, rest = data.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"content-length", b"l"):
                length = int(value.strip() or 0)
        out.append(head + b"\r\n\r\n" + rest[:length])
        data = rest[length:]
    return out


def final_status(replies: list[bytes]) -> int | None:
    for reply in replies:
        if reply.startswith(b"SIP/2.0 ") and not reply.startswith(b"SIP/2.0 1"):
            return int(reply[8:11])
    return None


def exchange(proto: str, port: int, message: bytes, timeout: float = 3.0) -> list[bytes]:
    """Send `message` over `proto` to 127.0.0.1:`port`; the replies received until a final one
    or `timeout`."""
    if proto == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(message, (LOCAL, port))
            got: list[bytes] = []
            deadline = time.monotonic() + timeout
            while final_status(got) is None and time.monotonic() < deadline:
                try:
                    got.append(s.recv(65535))
                except TimeoutError:
                    break
            return got
    if proto in ("tcp", "tls"):
        raw = socket.create_connection((LOCAL, port), timeout=timeout)
        s = tls_client_context().wrap_socket(raw) if proto == "tls" else raw
        with s:
            s.sendall(message)
            data = b""
            deadline = time.monotonic() + timeout
            while final_status(_split(data)) is None and time.monotonic() < deadline:
                try:
                    chunk = s.recv(65535)
                except (TimeoutError, OSError):
                    break
                if not chunk:
                    break
                data += chunk
            return _split(data)
    return asyncio.run(_ws_exchange(proto, port, message, timeout))


async def _ws_exchange(proto: str, port: int, message: bytes, timeout: float) -> list[bytes]:
    kw = {"ssl": tls_client_context()} if proto == "wss" else {}
    got: list[bytes] = []
    async with ws_connect(f"{proto}://{LOCAL}:{port}/", subprotocols=["sip"], **kw) as ws:  # type: ignore[arg-type, list-item]
        await ws.send(message.decode())
        deadline = time.monotonic() + timeout
        while final_status(got) is None and time.monotonic() < deadline:
            try:
                answer = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            got.append(answer.encode() if isinstance(answer, str) else answer)
    return got
