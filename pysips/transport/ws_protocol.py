"""Sans-I/O SIP over WebSocket (RFC 7118) around the `websockets` protocol objects.

`WsSession` owns a `websockets` ServerProtocol or ClientProtocol: bytes from the network go in
(`receive`), SIP messages and state changes come out as events, and `take_output()` says what to
write (a `None` item means: close the TCP connection once written). The `sip` subprotocol is
required both ways. One WebSocket message carries one SIP message, so no Content-Length framing is
needed; fragmented messages are reassembled here up to `max_message` bytes. Pings are answered by
the library; close frames are answered and reported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

SIP = Subprotocol("sip")
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_TOO_BIG = 1009

# the library logs every open/close at INFO: far too chatty for thousands of phones
_lib_log = logging.getLogger("pysips.transport.ws.lib")
_lib_log.setLevel(logging.WARNING)


class WsOpened:
    __slots__ = ("origin", "path")

    def __init__(self, path: str, origin: str | None) -> None:
        self.path = path
        self.origin = origin


class WsMessage:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class WsRejected:
    """The opening handshake failed; `status` is the HTTP status sent (or received)."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


class WsClosed:
    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


WsEvent = WsOpened | WsMessage | WsRejected | WsClosed


class OriginPolicy:
    """Which browser pages may connect: `require` (OpenSIPS's require_origin) and an allow list
    of exact origins or `*` wildcards (pysips's `allowed_origins`)."""

    __slots__ = ("_patterns", "require")

    def __init__(self, require: bool = False, allowed: Sequence[str] = ()) -> None:
        self.require = require
        self._patterns = [re.compile(re.escape(a.strip()).replace(r"\*", ".*") + r"\Z", re.IGNORECASE)
                          for a in allowed if a.strip()]

    def check(self, origin: str | None) -> str | None:
        """None when allowed, else why not."""
        if origin is None:
            return "missing Origin header" if self.require else None
        if self._patterns and not any(p.match(origin) for p in self._patterns):
            return f"Origin {origin!r} is not allowed"
        return None


def _select_sip(protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    if SIP in offered:
        return SIP
    from websockets.exceptions import NegotiationError

    raise NegotiationError("the client did not offer the 'sip' subprotocol (RFC 7118)")


class WsSession:
    """One WebSocket connection's protocol state, server or client side."""

    __slots__ = ("_frag", "_frag_size", "_policy", "_proto", "_request", "max_message", "opened",
                 "server")

    def __init__(self, server: bool, *, max_message: int = 65535, policy: OriginPolicy | None = None,
                 uri: str | None = None, origin: str | None = None) -> None:
        self.server = server
        self.max_message = max_message
        self._policy = policy or OriginPolicy()
        self._frag: list[bytes] = []
        self._frag_size = -1  # -1: no fragmented message in progress
        self.opened = False
        self._request: Request | None = None
        self._proto: ServerProtocol | ClientProtocol
        if server:
            self._proto = ServerProtocol(subprotocols=[SIP], select_subprotocol=_select_sip,
                                         max_size=max_message, logger=_lib_log)
        else:
            if uri is None:
                raise ValueError("a client session needs the server's ws:// URI")
            try:
                parsed = parse_uri(uri)
            except InvalidURI as exc:
                raise ValueError(str(exc)) from exc
            client = ClientProtocol(parsed, origin=None if origin is None else origin,  # type: ignore[arg-type]
                                    subprotocols=[SIP], max_size=max_message, logger=_lib_log)
            self._proto = client
            self._request = client.connect()
            client.send_request(self._request)

    @property
    def is_open(self) -> bool:
        return self._proto.state is State.OPEN

    @property
    def in_message(self) -> bool:
        """Bytes of an incomplete handshake, frame or fragmented message are waiting (what
        tcp_max_msg_time limits). The library keeps unparsed bytes in its reader's buffer."""
        return self._frag_size >= 0 or bool(self._proto.reader.buffer)

    @property
    def closing(self) -> bool:
        return self._proto.state in (State.CLOSING, State.CLOSED)

    def receive(self, data: bytes) -> list[WsEvent]:
        self._proto.receive_data(data)
        return self._drain()

    def receive_eof(self) -> list[WsEvent]:
        self._proto.receive_eof()
        events = self._drain()
        if not any(isinstance(e, WsClosed) for e in events):
            events.append(WsClosed(1006, "connection lost"))
        return events

    def _drain(self) -> list[WsEvent]:
        out: list[WsEvent] = []
        proto = self._proto
        for event in proto.events_received():
            if isinstance(event, Request):
                self._on_request(event, out)
            elif isinstance(event, Response):
                self._on_response(event, out)
            elif isinstance(event, Frame):
                self._on_frame(event, out)
        if proto.state is State.CLOSED and not any(isinstance(e, (WsClosed, WsRejected)) for e in out):
            rcvd = proto.close_rcvd
            if rcvd is not None:
                out.append(WsClosed(rcvd.code, rcvd.reason))
            elif self.opened:
                out.append(WsClosed(proto.close_code or 1006, proto.close_reason or ""))
        return out

    def _on_request(self, request: Request, out: list[WsEvent]) -> None:
        proto = self._proto
        assert isinstance(proto, ServerProtocol)
        headers: Headers = request.headers
        origin = headers.get("Origin")
        refused = self._policy.check(origin)
        if refused is not None:
            proto.send_response(proto.reject(403, f"Forbidden: {refused}\n"))
            out.append(WsRejected(403, refused))
            return
        response = proto.accept(request)
        proto.send_response(response)
        if response.status_code == 101:
            self.opened = True
            out.append(WsOpened(request.path, origin))
        else:
            exc = proto.handshake_exc
            out.append(WsRejected(response.status_code, str(exc) if exc else response.reason_phrase))

    def _on_response(self, response: Response, out: list[WsEvent]) -> None:
        proto = self._proto
        if proto.state is State.OPEN:
            self.opened = True
            out.append(WsOpened(self._request.path if self._request else "/", None))
        else:
            exc = proto.handshake_exc
            out.append(WsRejected(response.status_code, str(exc) if exc else response.reason_phrase))

    def _on_frame(self, frame: Frame, out: list[WsEvent]) -> None:
        op = frame.opcode
        if op is Opcode.TEXT or op is Opcode.BINARY:
            if frame.fin:
                out.append(WsMessage(bytes(frame.data)))
            else:
                self._frag = [bytes(frame.data)]
                self._frag_size = len(frame.data)
        elif op is Opcode.CONT:
            self._frag.append(bytes(frame.data))
            self._frag_size += len(frame.data)
            if self._frag_size > self.max_message:
                self._frag = []
                self._frag_size = -1
                self.close(CLOSE_TOO_BIG, "message too big")
                return
            if frame.fin:
                out.append(WsMessage(b"".join(self._frag)))
                self._frag = []
                self._frag_size = -1
        elif op is Opcode.CLOSE:
            rcvd = self._proto.close_rcvd
            out.append(WsClosed(rcvd.code if rcvd else 1005, rcvd.reason if rcvd else ""))

    # ------------------------------------------------------------------ sending

    def send_message(self, data: bytes) -> bool:
        """One SIP message as one frame: text when it is UTF-8 (what browsers expect), else binary."""
        if not self.is_open:
            return False
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            self._proto.send_binary(data)
        else:
            self._proto.send_text(data)
        return True

    def ping(self, payload: bytes = b"") -> None:
        if self.is_open:
            self._proto.send_ping(payload)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        if self._proto.state is State.OPEN:
            self._proto.send_close(code, reason)
        elif self._proto.state is State.CONNECTING:
            self._proto.send_eof()

    def take_output(self) -> list[bytes | None]:
        """Bytes to write, in order; None means: close the transport after writing."""
        out: list[bytes | None] = []
        for chunk in self._proto.data_to_send():
            out.append(chunk if chunk else None)
        return out

    def close_expected(self) -> bool:
        return self._proto.close_expected()
