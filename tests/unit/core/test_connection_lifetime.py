"""Engine.set_connection_lifetime: the registrar's tcp_persistent_flag keeps a stream connection
open as long as its registration, through the engine."""

from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace

from pysips.core.api import Socket
from pysips.core.engine import Engine, ManualClock
from pysips.script.context import MsgContext, ProcessState
from pysips.sip.receive import ReceiveInfo
from pysips.transport.connections import Connection
from pysips.transport.stream_listeners import streams_of

TCP = Socket("tcp", "127.0.0.1", 5060)


class MemConn(Connection):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("tcp", TCP, False)
        self.remote_ip, self.remote_port = "10.0.0.7", 40000

    def write(self, data: bytes) -> bool:
        return True

    def close(self, reason: str = "") -> None:
        pass


def _engine_with_a_connection(loop: asyncio.AbstractEventLoop) -> tuple[Engine, Connection, int]:
    engine = Engine(ProcessState(), [TCP], ManualClock())
    streams = streams_of(engine, loop)
    conn = MemConn()
    return engine, conn, streams.table.add(conn)


def test_engine_extends_a_connections_lifetime() -> None:
    loop = asyncio.new_event_loop()
    try:
        engine, conn, cid = _engine_with_a_connection(loop)
        assert conn.keep_until == 0.0
        assert engine.set_connection_lifetime(cid, 3600) is True
        assert conn.keep_until >= loop.time() + 3599
        assert engine.set_connection_lifetime(cid + 1000, 60) is False
    finally:
        loop.close()


def test_without_stream_transports_nothing_is_kept() -> None:
    engine = Engine(ProcessState(), [Socket("udp", "127.0.0.1", 5060)], ManualClock())
    assert engine.set_connection_lifetime(1, 60) is False


def test_registrar_tcp_persistent_flag_reaches_the_connection() -> None:
    from pysips.script.loader import ModuleFinder

    assert ModuleFinder().find("registrar") is not None
    save = next(m for n, m in sys.modules.items() if n.endswith("registrar.save"))
    loop = asyncio.new_event_loop()
    try:
        engine, conn, cid = _engine_with_a_connection(loop)
        rcv = ReceiveInfo("tcp", TCP.ip, TCP.port, conn.remote_ip, conn.remote_port, cid)
        ctx = MsgContext(engine.process, None, rcv)
        now = 1000.0
        rec = SimpleNamespace(contacts=[SimpleNamespace(conn_id=cid, expires=int(now) + 600)])
        save._keep_connection(ctx, rec, now)
        assert conn.keep_until >= loop.time() + 609
    finally:
        loop.close()
