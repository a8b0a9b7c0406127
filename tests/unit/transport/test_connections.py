"""The connection table: ids, addresses, aliases, closing events, WebSocket tombstones."""

from __future__ import annotations

from pysips.transport.connections import Connection, ConnectionTable


class FakeConn(Connection):
    __slots__ = ("sent",)

    def __init__(self, proto: str, ip: str, port: int, outbound: bool = False) -> None:
        super().__init__(proto, None, outbound)
        self.remote_ip, self.remote_port = ip, port
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> bool:
        self.sent.append(data)
        return True

    def close(self, reason: str = "") -> None:
        pass


def test_ids_are_unique_and_found_by_id_and_address() -> None:
    table = ConnectionTable()
    a, b = FakeConn("tcp", "10.0.0.1", 5060), FakeConn("ws", "10.0.0.1", 5060)
    ida, idb = table.add(a), table.add(b)
    assert ida != idb and len(table) == 2
    assert table.by_id(ida) is a
    assert table.by_addr("tcp", "10.0.0.1", 5060) is a
    assert table.by_addr("ws", "10.0.0.1", 5060) is b  # the protocol is part of the key
    assert table.find("tcp", "10.0.0.9", 1, conn_id=ida) is a  # the id wins over the address


def test_ipv6_spellings_match() -> None:
    table = ConnectionTable()
    c = FakeConn("tcp", "2001:db8::1", 5060)
    table.add(c)
    assert table.by_addr("tcp", "[2001:0db8:0:0::1]", 5060) is c


def test_alias_and_close_notifies_and_forgets() -> None:
    table = ConnectionTable()
    closed: list[int] = []
    table.on_closed.append(closed.append)
    c = FakeConn("tls", "192.0.2.1", 40000)
    cid = table.add(c)
    table.add_alias(c, "192.0.2.1", 5061)  # RFC 5923: the peer's listening port
    assert table.by_addr("tls", "192.0.2.1", 5061) is c
    assert table.remove(c, now=0.0)
    assert closed == [cid]
    assert table.by_id(cid) is None and table.by_addr("tls", "192.0.2.1", 5061) is None
    assert not table.remove(c, now=0.0)  # twice is harmless and silent
    assert closed == [cid]


def test_newer_connection_to_same_address_wins_and_older_close_keeps_it() -> None:
    table = ConnectionTable()
    old, new = FakeConn("tcp", "10.0.0.2", 5060), FakeConn("tcp", "10.0.0.2", 5060)
    table.add(old)
    table.add(new)
    assert table.by_addr("tcp", "10.0.0.2", 5060) is new
    table.remove(old, now=0.0)
    assert table.by_addr("tcp", "10.0.0.2", 5060) is new


def test_closed_inbound_websocket_peer_is_remembered_as_browser() -> None:
    table = ConnectionTable()
    ws = FakeConn("ws", "10.0.0.3", 51111)
    out = FakeConn("ws", "10.0.0.4", 8080, outbound=True)
    table.add(ws)
    table.add(out)
    table.remove(ws, now=100.0)
    table.remove(out, now=100.0)
    assert table.was_browser("ws", "10.0.0.3", 51111, now=200.0)
    assert not table.was_browser("ws", "10.0.0.4", 8080, now=200.0)  # a server we dialled
    assert not table.was_browser("ws", "10.0.0.3", 51111, now=100.0 + 3601.0)  # forgotten later


def test_failing_subscriber_does_not_break_the_others() -> None:
    table = ConnectionTable()
    seen: list[int] = []

    def broken(conn_id: int) -> None:
        raise RuntimeError("module bug")

    table.on_closed.extend([broken, seen.append])
    c = FakeConn("tcp", "10.0.0.5", 1)
    cid = table.add(c)
    table.remove(c, now=0.0)
    assert seen == [cid]
