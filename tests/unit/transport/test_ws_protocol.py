"""WsSession (sans-I/O) server against client, no sockets: handshake, subprotocol, fragments, close."""

from __future__ import annotations

from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from pysips.transport.ws_protocol import (
    OriginPolicy,
    WsClosed,
    WsMessage,
    WsOpened,
    WsRejected,
    WsSession,
)

HANDSHAKE = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")


def pump(a: WsSession, b: WsSession) -> tuple[list[object], list[object]]:
    """Move bytes both ways until quiet; returns the events each side saw."""
    ea: list[object] = []
    eb: list[object] = []
    for _ in range(10):
        moved = False
        for src, dst, sink in ((a, b, eb), (b, a, ea)):
            for chunk in src.take_output():
                if chunk is None:
                    sink.extend(dst.receive_eof())
                else:
                    sink.extend(dst.receive(chunk))
                moved = True
        if not moved:
            break
    return ea, eb


def test_handshake_with_sip_subprotocol_and_messages_both_ways() -> None:
    server = WsSession(True)
    client = WsSession(False, uri="ws://127.0.0.1:9/")
    ec, es = pump(client, server)
    assert any(isinstance(e, WsOpened) for e in es) and any(isinstance(e, WsOpened) for e in ec)
    assert client.send_message(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
    _, es = pump(client, server)
    assert [e.data for e in es if isinstance(e, WsMessage)] == [b"OPTIONS sip:x SIP/2.0\r\n\r\n"]
    assert server.send_message(b"SIP/2.0 200 OK\r\n\r\n")
    ec, _ = pump(client, server)
    assert [e.data for e in ec if isinstance(e, WsMessage)] == [b"SIP/2.0 200 OK\r\n\r\n"]


def test_handshake_without_sip_subprotocol_is_refused_with_400() -> None:
    server = WsSession(True)
    events = server.receive(HANDSHAKE + b"\r\n")
    rejected = [e for e in events if isinstance(e, WsRejected)]
    assert rejected and rejected[0].status == 400
    out = server.take_output()
    assert out[0] is not None and out[0].startswith(b"HTTP/1.1 400")
    assert out[-1] is None  # then the TCP connection closes


def test_handshake_with_other_subprotocol_only_is_refused() -> None:
    server = WsSession(True)
    events = server.receive(HANDSHAKE + b"Sec-WebSocket-Protocol: chat\r\n\r\n")
    assert any(isinstance(e, WsRejected) for e in events)


def test_origin_policy() -> None:
    policy = OriginPolicy(require=True, allowed=["https://*.example.com"])
    assert policy.check(None) is not None
    assert policy.check("https://app.example.com") is None
    assert policy.check("https://evil.test") is not None
    server = WsSession(True, policy=policy)
    events = server.receive(HANDSHAKE + b"Sec-WebSocket-Protocol: sip\r\nOrigin: https://evil.test\r\n\r\n")
    assert [e.status for e in events if isinstance(e, WsRejected)] == [403]
    ok = WsSession(True, policy=policy)
    events = ok.receive(HANDSHAKE + b"Sec-WebSocket-Protocol: sip\r\nOrigin: https://a.example.com\r\n\r\n")
    assert any(isinstance(e, WsOpened) for e in events)


def _open_server() -> WsSession:
    server = WsSession(True, max_message=100)
    server.receive(HANDSHAKE + b"Sec-WebSocket-Protocol: sip\r\n\r\n")
    server.take_output()
    return server


def _client_frame(frame: Frame) -> bytes:
    # frames from a client are masked: serialize through a client-side protocol's rules
    return frame.serialize(mask=True, extensions=[])


def test_fragmented_message_is_reassembled() -> None:
    server = _open_server()
    events = server.receive(_client_frame(Frame(Opcode.TEXT, b"OPTIONS ", fin=False)))
    events += server.receive(_client_frame(Frame(Opcode.CONT, b"sip:x ", fin=False)))
    events += server.receive(_client_frame(Frame(Opcode.CONT, b"SIP/2.0", fin=True)))
    assert [e.data for e in events if isinstance(e, WsMessage)] == [b"OPTIONS sip:x SIP/2.0"]


def test_fragmented_message_over_the_cap_closes_with_1009() -> None:
    server = _open_server()
    server.receive(_client_frame(Frame(Opcode.TEXT, b"a" * 60, fin=False)))
    server.receive(_client_frame(Frame(Opcode.CONT, b"a" * 60, fin=False)))
    out = b"".join(c for c in server.take_output() if c)
    assert out[:1] == b"\x88" and out[2:4] == (1009).to_bytes(2, "big")


def test_ping_answered_with_pong_and_close_reported() -> None:
    server = _open_server()
    assert server.receive(_client_frame(Frame(Opcode.PING, b"hi"))) == []
    out = b"".join(c for c in server.take_output() if c)
    assert out[:1] == b"\x8a" and out.endswith(b"hi")
    events = server.receive(_client_frame(Frame(Opcode.CLOSE, (1001).to_bytes(2, "big") + b"bye")))
    closed = [e for e in events if isinstance(e, WsClosed)]
    assert closed and closed[0].code == 1001
    assert not server.send_message(b"late")


def test_peer_vanishing_reports_1006() -> None:
    server = _open_server()
    events = server.receive_eof()
    assert [e.code for e in events if isinstance(e, WsClosed)] == [1006]


def test_library_server_protocol_is_what_we_wrap() -> None:
    assert isinstance(_open_server()._proto, ServerProtocol)


def test_in_message_covers_partial_handshake_frames_and_fragments() -> None:
    """What tcp_max_msg_time times on a WebSocket: handshake bytes, a partial frame, a message
    whose fragments have not all come."""
    server = WsSession(True)
    assert not server.in_message
    request = HANDSHAKE + b"Sec-WebSocket-Protocol: sip\r\n\r\n"
    server.receive(request[:20])
    assert server.in_message
    server.receive(request[20:])
    server.take_output()
    assert server.is_open and not server.in_message
    masked = b"\x81\x85" + b"\x00\x00\x00\x00" + b"hello"  # a masked text frame, mask of zeros
    server.receive(masked[:7])
    assert server.in_message
    server.receive(masked[7:])
    assert not server.in_message
    server.receive(b"\x01\x82\x00\x00\x00\x00ab")  # first fragment of a text message
    assert server.in_message
    events = server.receive(b"\x80\x81\x00\x00\x00\x00c")
    assert [e.data for e in events if isinstance(e, WsMessage)] == [b"abc"]
    assert not server.in_message
