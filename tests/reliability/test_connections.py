"""Connections an attacker controls: slow drips, half-open handshakes, oversized messages, broken
WebSocket frames and garbage on a stream. Each must cost the attacker its own connection only;
an ordinary client is answered while (and after) the attack runs.

Limits of the server below: tcp_max_msg_time 2 s (OpenSIPS's default is 4), tcp_max_msg_chunks
raised to 1000 as operators do for large messages (so only the time limit stops a drip),
tcp_connection_lifetime 30 s (longer than any wait here: a close seen within a few seconds is
the limit under test, not the idle lifetime), TLS and WS handshakes 2 s, 40 connections per
peer address (tcp_max_connections_per_ip, pysips's own).
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pysips.devcert import make_dev_certificate
from tests.integration.proxy_harness import free_port
from tests.integration.test_transports import serving
from tests.reliability.clients import LOCAL, build_request, exchange, final_status, tls_client_context

pytestmark = pytest.mark.integration

MAX_MSG_TIME = 2
PER_IP = 40
HANDSHAKE = 2
LIFETIME = 30

CFG = """\
log_level=3
log_stderror=yes
listen=udp:127.0.0.1:{udp}
listen=tcp:127.0.0.1:{tcp}
listen=tls:127.0.0.1:{tls}
listen=ws:127.0.0.1:{ws}
listen=wss:127.0.0.1:{wss}
tcp_connection_lifetime={lifetime}
tcp_max_msg_time={max_msg_time}
tcp_max_connections=4000
tcp_max_connections_per_ip={per_ip}
loadmodule "sl.so"
loadmodule "signaling.so"
loadmodule "proto_udp.so"
loadmodule "proto_tcp.so"
loadmodule "proto_tls.so"
loadmodule "proto_ws.so"
loadmodule "proto_wss.so"
loadmodule "tls_mgm.so"
modparam("proto_tcp", "tcp_max_msg_chunks", 1000)
modparam("proto_tls", "tls_max_msg_chunks", 1000)
modparam("proto_tls", "tls_handshake_timeout", {handshake_ms})
modparam("proto_wss", "wss_tls_handshake_timeout", {handshake_ms})
modparam("tls_mgm", "certificate", "{cert}")
modparam("tls_mgm", "private_key", "{key}")
route {{
    sl_send_reply(200, "OK");
}}
"""


@dataclass
class Server:
    proc: object
    log_path: Path
    ports: dict[str, int]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("connections")
    cert, key = make_dev_certificate(base / "certs")
    ports = {name: free_port() for name in ("udp", "tcp", "tls", "ws", "wss")}
    text = CFG.format(cert=cert, key=key, lifetime=LIFETIME, max_msg_time=MAX_MSG_TIME,
                      handshake_ms=HANDSHAKE * 1000, per_ip=PER_IP, **ports)
    streams = [ports[name] for name in ("tcp", "tls", "ws", "wss")]
    with serving(base / "connections.cfg", text, streams) as (proc, log_path):
        yield Server(proc, log_path, ports)


def options(proto: str, port: int) -> bytes:
    return build_request("OPTIONS", f"sip:{LOCAL}:{port}", proto.upper(), from_uri=f"sip:a@{LOCAL}")


def served(server: Server, proto: str = "tcp") -> bool:
    """An ordinary client gets its 200."""
    port = server.ports[proto]
    return final_status(exchange(proto, port, options(proto, port))) == 200


def open_stream(server: Server, proto: str) -> socket.socket:
    """A TCP connection to the `proto` listener, TLS-wrapped for tls and wss."""
    raw = socket.create_connection((LOCAL, server.ports[proto]), timeout=5)
    if proto in ("tls", "wss"):
        return tls_client_context().wrap_socket(raw)
    return raw


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (reading everything it sends), None if it did not."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            if not sock.recv(65535):
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return time.monotonic() - started
    return None


# ---------------------------------------------------------------------------------------------
# slow and half-open


@pytest.mark.parametrize("proto", ["tcp", "tls"])
def test_one_byte_at_a_time_is_cut_by_tcp_max_msg_time(server: Server, proto: str) -> None:
    msg = options(proto, server.ports[proto])
    with open_stream(server, proto) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.monotonic()
        closed = False
        for i in range(len(msg)):  # a byte every 0.3 s: the message would take minutes
            try:
                s.send(msg[i : i + 1])
            except OSError:
                closed = True
                break
            if i % 5 == 0:
                assert served(server), server.log()  # others are answered during the drip
            time.sleep(0.3)
            if time.monotonic() - started > MAX_MSG_TIME + 4:
                break
        if not closed:
            closed = closed_within(s, 1.0) is not None
    assert closed, "a dripping peer outlived tcp_max_msg_time"
    assert time.monotonic() - started <= MAX_MSG_TIME + 4
    assert "tcp_max_msg_time" in server.log()


def test_half_open_tls_handshake_is_dropped(server: Server) -> None:
    """TCP connects, a partial ClientHello (or nothing) follows: the handshake timeout ends both."""
    with socket.create_connection((LOCAL, server.ports["tls"]), timeout=5) as silent, \
            socket.create_connection((LOCAL, server.ports["tls"]), timeout=5) as partial:
        partial.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's first bytes
        assert served(server, "tls")
        assert closed_within(silent, HANDSHAKE + 3) is not None
        assert closed_within(partial, 1.5) is not None
    assert served(server, "tls")


@pytest.mark.parametrize("proto", ["ws", "wss"])
def test_slow_websocket_handshake_is_dropped(server: Server, proto: str) -> None:
    port = server.ports[proto]
    request = (f"GET / HTTP/1.1\r\nHost: {LOCAL}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: sip\r\n\r\n").encode()
    with open_stream(server, proto) as s:
        started = time.monotonic()
        try:
            for i in range(len(request)):
                s.send(request[i : i + 1])
                time.sleep(0.25)
                if time.monotonic() - started > HANDSHAKE + 4:
                    break
        except OSError:
            pass
        assert closed_within(s, 1.5) is not None
    assert time.monotonic() - started <= HANDSHAKE + 5.5
    assert served(server, proto)


# ---------------------------------------------------------------------------------------------
# oversized and garbage


@pytest.mark.parametrize("proto", ["tcp", "tls"])
def test_70kb_message_closes_only_that_connection(server: Server, proto: str) -> None:
    port = server.ports[proto]
    big = build_request("MESSAGE", f"sip:{LOCAL}:{port}", proto.upper(), from_uri=f"sip:a@{LOCAL}",
                        body=b"x" * 70_000)
    with open_stream(server, proto) as s:
        with contextlib.suppress(OSError):  # the server may close before it read everything
            s.sendall(big)
        answers = b""
        s.settimeout(3)
        try:
            while chunk := s.recv(65535):
                answers += chunk
        except (TimeoutError, OSError):
            pass
    assert b"200 OK" not in answers  # the message was not processed
    assert "exceeds 65535" in server.log()
    assert served(server, proto)


@pytest.mark.parametrize("proto", ["tcp", "tls"])
def test_garbage_after_a_valid_message(server: Server, proto: str) -> None:
    """The valid message is answered; the garbage behind it (no end of headers ever) costs the
    connection once tcp_max_msg_time passes; others are not affected."""
    port = server.ports[proto]
    with open_stream(server, proto) as s:
        s.sendall(options(proto, port) + os.urandom(300).replace(b"\r\n\r\n", b"xxxx"))
        s.settimeout(3)
        first = s.recv(65535)
        assert first.startswith(b"SIP/2.0 200 OK"), first
        assert closed_within(s, MAX_MSG_TIME + 3) is not None
    with open_stream(server, proto) as s:  # garbage with an end of headers: closed at once
        s.sendall(options(proto, port) + b"\x00\x01garbage\r\n\r\n")
        s.settimeout(3)
        assert s.recv(65535).startswith(b"SIP/2.0 200 OK")
        assert closed_within(s, 1.5) is not None
    assert served(server, proto)


# ---------------------------------------------------------------------------------------------
# WebSocket frames (RFC 6455, RFC 7118)


def ws_open(server: Server, proto: str, subprotocol: str | None = "sip") -> tuple[socket.socket, bytes]:
    port = server.ports[proto]
    s = open_stream(server, proto)
    key = base64.b64encode(os.urandom(16)).decode()
    sub = f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else ""
    s.sendall((f"GET / HTTP/1.1\r\nHost: {LOCAL}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{sub}\r\n").encode())
    s.settimeout(3)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def frame(opcode: int, payload: bytes, *, mask: bool = True, fin: bool = True,
          length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_code(s: socket.socket, timeout: float = 3.0) -> int | None:
    """The status code of the server's close frame (unmasked, server to client)."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65535)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        data += chunk
        at = data.find(b"\x88")
        if at >= 0 and len(data) >= at + 4:
            return int(struct.unpack("!H", data[at + 2 : at + 4])[0])
    return None


@pytest.mark.parametrize("proto", ["ws", "wss"])
def test_websocket_frames_that_break_the_protocol_get_a_protocol_close(server: Server, proto: str) -> None:
    msg = options(proto, server.ports[proto])
    cases = {
        "unmasked client frame": (frame(0x1, msg, mask=False), 1002),
        "unknown opcode 0x3": (frame(0x3, b"hello"), 1002),
        "reserved control opcode 0xB": (frame(0xB, b""), 1002),
        "1 MB frame": (frame(0x1, b"x" * 1024, length=1 << 20), 1009),
        "continuation with no start": (frame(0x0, b"abc"), 1002),
    }
    got = {}
    for name, (data, _) in cases.items():
        s, head = ws_open(server, proto)
        with s:
            assert head.startswith(b"HTTP/1.1 101"), head
            s.sendall(data)
            got[name] = close_code(s)
            assert closed_within(s, 4) is not None, name
    assert got == {name: code for name, (_, code) in cases.items()}
    assert served(server, proto)


@pytest.mark.parametrize("subprotocol", [None, "chat", "sip2"])
def test_websocket_without_the_sip_subprotocol_is_refused(server: Server, subprotocol: str | None) -> None:
    s, head = ws_open(server, "ws", subprotocol)
    with s:
        assert head.startswith(b"HTTP/1.1 400"), head
        assert closed_within(s, 3) is not None
    assert served(server, "ws")


def test_fragmented_message_over_the_limit_is_too_big(server: Server) -> None:
    """A message cut into small frames adds up past 65535 bytes: 1009, not unbounded buffering."""
    s, head = ws_open(server, "ws")
    with s:
        assert head.startswith(b"HTTP/1.1 101")
        s.sendall(frame(0x1, b"x" * 30_000, fin=False))
        s.sendall(frame(0x0, b"x" * 30_000, fin=False))
        s.sendall(frame(0x0, b"x" * 30_000, fin=False))
        assert close_code(s) == 1009
    assert served(server, "ws")


# ---------------------------------------------------------------------------------------------
# many connections from one source


def test_one_source_cannot_take_every_connection(server: Server) -> None:
    """A flood of connections from one address stops at tcp_max_connections_per_ip; the others
    are refused at once (closed), and a client from another address is still served."""
    held: list[socket.socket] = []
    try:
        for _ in range(PER_IP + 10):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.3", 0))
            s.connect((LOCAL, server.ports["tcp"]))
            held.append(s)
        time.sleep(0.5)
        refused = [s for s in held if closed_within(s, 0.05) is not None]
        assert len(refused) == 10, server.log()
        assert served(server, "tcp")
        assert served(server, "tls")
    finally:
        for s in held:
            s.close()
    assert "tcp_max_connections_per_ip (40) reached for 127.0.0.3" in server.log()
    time.sleep(1.0)  # closed connections give their places back
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with s:
        s.bind(("127.0.0.3", 0))
        s.connect((LOCAL, server.ports["tcp"]))
        s.sendall(options("tcp", server.ports["tcp"]))
        s.settimeout(3)
        assert s.recv(65535).startswith(b"SIP/2.0 200 OK")


def test_many_half_sent_messages_are_all_cut_and_others_served(server: Server) -> None:
    """300 connections (from ten addresses, under the per-address cap) each send half a request
    and stop: all are closed by tcp_max_msg_time, and an ordinary client is answered meanwhile."""
    half = options("tcp", server.ports["tcp"])[:60]
    held: list[socket.socket] = []
    try:
        for i in range(300):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((f"127.0.0.{50 + i % 10}", 0))
            s.connect((LOCAL, server.ports["tcp"]))
            s.sendall(half)
            held.append(s)
        assert served(server, "tcp") and served(server, "udp")
        time.sleep(MAX_MSG_TIME + 2.5)
        still_open = [s for s in held if closed_within(s, 0.01) is None]
        assert still_open == [], f"{len(still_open)} half-sent connections still open"
    finally:
        for s in held:
            s.close()
    assert served(server, "tcp")


def test_tls_record_dripped_byte_by_byte_is_cut(server: Server) -> None:
    """One TLS record holding a whole OPTIONS, sent a byte at a time: no plaintext reaches the SIP
    layer until the record is complete, yet the bytes keep coming. tcp_max_msg_time must still
    apply (the record is a message in progress)."""
    port = server.ports["tls"]
    raw = socket.create_connection((LOCAL, port), timeout=5)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls_client_context().wrap_bio(incoming, outgoing)
    with raw:
        while True:  # the handshake, by hand
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65535))
        raw.sendall(outgoing.read())
        tls.write(options("tls", port))
        record = outgoing.read()
        started = time.monotonic()
        closed = False
        for i in range(len(record)):
            try:
                raw.send(record[i : i + 1])
            except OSError:
                closed = True
                break
            time.sleep(0.3)
            if time.monotonic() - started > MAX_MSG_TIME + 4:
                break
        closed = closed or closed_within(raw, 1.0) is not None
    assert closed, "a peer dripping one TLS record outlived tcp_max_msg_time"
    assert served(server, "tls")
