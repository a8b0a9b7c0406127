"""StreamTransports' sending rules, with connections in memory: reuse, replies, browsers, dialling."""

from __future__ import annotations

import asyncio
import socket
from types import SimpleNamespace
from typing import Any

from pysips.core.api import Destination, Hooks, Socket
from pysips.core.services import PROTO_SERVICES
from pysips.script.services import ServiceRegistry
from pysips.transport.connections import Connection
from pysips.transport.stream_listeners import StreamTransports
from pysips.transport.stream_settings import CORE_KEY

WS_SOCK = Socket("ws", "127.0.0.1", 8080)
WSS_SOCK = Socket("wss", "127.0.0.1", 8443)
TCP_SOCK = Socket("tcp", "127.0.0.1", 5060)
REQUEST = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"
REPLY = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"


class MemConn(Connection):
    __slots__ = ("sent",)

    def __init__(self, proto: str, ip: str, port: int) -> None:
        super().__init__(proto, {"ws": WS_SOCK, "wss": WSS_SOCK}.get(proto, TCP_SOCK), False)
        self.remote_ip, self.remote_port = ip, port
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> bool:
        self.sent.append(data)
        return True

    def close(self, reason: str = "") -> None:
        pass


def make(loop: asyncio.AbstractEventLoop) -> tuple[StreamTransports, list[int], list[Any]]:
    closed: list[int] = []
    received: list[Any] = []
    hooks = Hooks()
    hooks.connection_closed.append(closed.append)
    services = ServiceRegistry()  # what proto_tcp and proto_ws offer once initialised
    services.provide(PROTO_SERVICES["tcp"], {CORE_KEY: {"tcp_connect_timeout": 500}}, "proto_tcp")
    services.provide(PROTO_SERVICES["ws"], {}, "proto_ws")
    engine = SimpleNamespace(process=SimpleNamespace(modules={}, services=services), hooks=hooks,
                             receive=lambda data, rcv: received.append((data, rcv)))
    return StreamTransports(engine, loop), closed, received  # type: ignore[arg-type]


def test_reuse_by_id_and_by_address_and_closing_notifies() -> None:
    loop = asyncio.new_event_loop()
    try:
        st, closed, _ = make(loop)
        conn = MemConn("ws", "10.0.0.1", 50000)
        cid = st.table.add(conn)
        assert st.send(REQUEST, Destination("ws", "10.0.0.1", 50000), WS_SOCK)
        assert st.send(REPLY, Destination("ws", "0.0.0.0", 1, cid), WS_SOCK)
        assert conn.sent == [REQUEST, REPLY]
        st.lost(conn, "test")  # type: ignore[arg-type]
        assert closed == [cid]
    finally:
        loop.close()


def test_reply_never_opens_a_connection_and_browsers_are_not_dialled() -> None:
    loop = asyncio.new_event_loop()
    try:
        st, _, _ = make(loop)
        assert not st.send(REPLY, Destination("tcp", "10.0.0.2", 5060), TCP_SOCK)
        browser = MemConn("ws", "10.0.0.3", 51000)
        cid = st.table.add(browser)
        st.lost(browser, "gone")  # type: ignore[arg-type]
        assert not st.send(REQUEST, Destination("ws", "10.0.0.3", 51000), WS_SOCK)
        # a destination naming a WebSocket connection that is gone is not dialled either
        assert not st.send(REQUEST, Destination("ws", "10.0.0.9", 9, cid), WS_SOCK)
        assert st.stats["dialled"] == 0 and len(st.table) == 0
    finally:
        loop.close()


def test_ws_destination_takes_the_wss_connection_of_a_browser_but_not_the_reverse() -> None:
    # JsSIP over WSS registers Contact: <sip:x@y.invalid;transport=ws>; once fixed up to the
    # source address, a request to it says ws while the only connection there is wss
    loop = asyncio.new_event_loop()
    try:
        st, _, _ = make(loop)
        browser = MemConn("wss", "10.0.0.4", 52000)
        st.table.add(browser)
        assert st.send(REQUEST, Destination("ws", "10.0.0.4", 52000), WS_SOCK)
        assert browser.sent == [REQUEST]
        plain = MemConn("ws", "10.0.0.5", 53000)
        st.table.add(plain)
        st.no_new_conn = True  # a wss destination must not fall back to plain ws: it would dial
        assert not st.send(REQUEST, Destination("wss", "10.0.0.5", 53000), WSS_SOCK)
        assert plain.sent == []
        st.no_new_conn = False
        # once the wss browser is gone, a ws destination to it is not dialled either
        st.lost(browser, "gone")  # type: ignore[arg-type]
        assert not st.send(REQUEST, Destination("ws", "10.0.0.4", 52000), WS_SOCK)
        assert st.stats["dialled"] == 0
    finally:
        loop.close()


def test_request_to_a_new_peer_dials_and_a_refused_connect_is_cleaned_up() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed

    async def run() -> tuple[bool, dict[str, int], int, list[int]]:
        st, closed, _ = make(asyncio.get_running_loop())
        ok = st.send(REQUEST, Destination("tcp", "127.0.0.1", port), TCP_SOCK)
        for _ in range(50):
            if st.stats["dial_failures"]:
                break
            await asyncio.sleep(0.02)
        return ok, st.stats, len(st.table), closed

    ok, stats, left, closed = asyncio.run(run())
    assert ok  # queued: the connect happens in the background
    assert stats["dialled"] == 1 and stats["dial_failures"] == 1
    assert left == 0 and len(closed) == 1


def test_delivery_carries_the_connection_id_and_learns_aliases() -> None:
    loop = asyncio.new_event_loop()
    try:
        st, _, received = make(loop)
        st.settings.accept_aliases = True
        conn = MemConn("tcp", "10.0.0.4", 40000)
        cid = st.table.add(conn)
        msg = (b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.4:5070;branch=z9hG4bK1;alias\r\n"
               b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
               b"Content-Length: 0\r\n\r\n")
        st.deliver(conn, msg)  # type: ignore[arg-type]
        rcv = received[0][1]
        assert (rcv.proto, rcv.local_port, rcv.src_ip, rcv.src_port, rcv.conn_id) == (
            "tcp", 5060, "10.0.0.4", 40000, cid)
        assert st.table.by_addr("tcp", "10.0.0.4", 5070) is conn
    finally:
        loop.close()


def test_a_kept_connection_outlives_the_idle_lifetime_and_others_do_not() -> None:
    # tcp_persistent_flag: the registrar asks the connection to stay as long as the registration
    async def run() -> tuple[bool, bool, bool, bool]:
        loop = asyncio.get_running_loop()
        st, _, _ = make(loop)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        await st.start_listener(Socket("tcp", "127.0.0.1", port))
        try:
            kept_r, kept_w = await asyncio.open_connection("127.0.0.1", port)
            idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(50):
                if len(st.table) == 2:
                    break
                await asyncio.sleep(0.01)
            local = kept_w.get_extra_info("sockname")[1]
            kept = next(c for c in st.table if c.remote_port == local)
            set_ok = st.set_connection_lifetime(kept.conn_id, 60)
            st.settings.lifetime = 0.0  # everything is idle for longer than that
            await asyncio.sleep(0.01)
            st._sweep()
            idle_closed = await asyncio.wait_for(idle_r.read(), 2) == b""
            for _ in range(50):
                if len(st.table) < 2:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            kept_open = not kept_r.at_eof() and [c.conn_id for c in st.table] == [kept.conn_id]
            gone = st.set_connection_lifetime(9999, 60)
            kept_w.close()
            idle_w.close()
            return set_ok, idle_closed, kept_open, gone
        finally:
            st.close()

    set_ok, idle_closed, kept_open, gone = asyncio.run(run())
    assert set_ok and idle_closed and kept_open
    assert not gone
