"""usrloc: expiry timer, write modes over SQLite (restart, write-back flush, database only),
lost connections, reading a table OpenSIPS wrote."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from test_registrar_fakes import T0, Fx, invite, module, register

from pysips.script.errors import FixupError

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "sipssert"


@pytest.fixture(autouse=True)
def _driver() -> None:
    module("db_sqlite")


def rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("select username, domain, contact, expires, callid, cseq, cflags, received, "
                            "socket from location order by contact").fetchall()
    finally:
        conn.close()


def test_timer_expires_bindings() -> None:
    fx = Fx(ul={"timer_interval": 10}, reg={"min_expires": 10})
    fx.save(register(expires=30))
    fx.save(register(contact="<sip:alice@198.51.100.9>", call_id="long", expires=3600))
    dom = fx.ul.domain("location")
    fx.core.advance(25)
    assert len(dom.get("alice@example.com").contacts) == 2
    fx.core.advance(10)  # a timer run after the 30 s binding ran out
    assert [c.uri for c in dom.get("alice@example.com").contacts] == ["sip:alice@198.51.100.9"]
    fx.core.advance(3600)
    assert dom.get("alice@example.com") is None


def test_explicit_expire_without_engine() -> None:
    fx = Fx(core=False, reg={"min_expires": 10})
    ctx = fx.ctx(register(expires=30), now=T0)
    from test_registrar_fakes import fn

    fn("registrar", "save")(ctx, "location", None, None)  # no engine: nothing to reply through
    dom = fx.ul.domain("location")
    assert fx.ul.timer(T0 + 29) == 0 and dom.get("alice@example.com") is not None
    assert fx.ul.timer(T0 + 30) == 1 and dom.get("alice@example.com") is None


def test_write_through_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "opensips.db"
    url = f"sqlite://{db}"
    fx = Fx(ul={"db_mode": 1, "db_url": url})
    ctx = fx.ctx(register(expires=600))
    ctx.bflags = 1 << fx.nat_bit
    from test_registrar_fakes import fn

    assert fn("registrar", "save")(ctx, "location", None, None) == 1
    assert rows(db) == [("alice", "example.com", "sip:alice@198.51.100.7:5060", int(T0) + 600, "reg-1", 1,
                         "NAT", None, "udp:192.0.2.1:5060")]
    # a new process over the same file ("restart")
    fx2 = Fx(ul={"db_mode": 1, "db_url": url})
    ret, lctx = fx2.lookup(invite())
    assert ret == 1 and lctx.new_ruri == "sip:alice@198.51.100.7:5060"
    assert lctx.bflags == 1 << fx2.nat_bit
    # refresh and removal are written at once too
    fx2.save(register(cseq=2, expires=900))
    assert rows(db)[0][3] == int(T0) + 900 and rows(db)[0][5] == 2
    fx2.save(register(cseq=3, expires=0))
    assert rows(db) == []


def test_preset_names_select_the_mode(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/p.db"
    through = Fx(ul={"working_mode_preset": "single-instance-sql-write-through", "db_url": url})
    assert through.ul.config.mode == 1
    assert Fx(ul={"working_mode_preset": "single-instance-sql-write-back", "db_url": url}).ul.config.mode == 2
    assert Fx(ul={"working_mode_preset": "sql-only", "db_url": url}).ul.config.mode == 3
    assert Fx(ul={"working_mode_preset": "single-instance-no-db"}).ul.config.mode == 0
    with pytest.raises(FixupError, match="cluster"):
        Fx(ul={"working_mode_preset": "full-sharing-cluster"})
    with pytest.raises(FixupError):
        Fx(ul={"db_mode": 4})


def test_write_back_flushes_on_timer(tmp_path: Path) -> None:
    db = tmp_path / "wb.db"
    fx = Fx(ul={"working_mode_preset": "single-instance-sql-write-back", "db_url": f"sqlite://{db}",
                "timer_interval": 5})
    fx.save(register(expires=600))
    assert rows(db) == []  # not yet
    fx.core.advance(5)
    assert [r[2] for r in rows(db)] == ["sip:alice@198.51.100.7:5060"]
    fx.save(register(cseq=2, expires=300))
    fx.core.advance(5)
    assert rows(db)[0][5] == 2
    fx.save(register(cseq=3, expires=0))
    assert len(rows(db)) == 1
    fx.core.advance(5)
    assert rows(db) == []
    # bindings saved and removed between two flushes never reach the table
    fx.save(register(contact="<sip:alice@198.51.100.50>", call_id="tmp", expires=600))
    fx.save(register(contact="<sip:alice@198.51.100.50>", call_id="tmp", cseq=2, expires=0))
    fx.core.advance(5)
    assert rows(db) == []


def test_write_back_shutdown_flushes(tmp_path: Path) -> None:
    db = tmp_path / "sd.db"
    fx = Fx(ul={"db_mode": 2, "db_url": f"sqlite://{db}", "timer_interval": 60})
    fx.save(register(expires=600))
    fx.ul.shutdown()
    assert len(rows(db)) == 1


def test_memory_only_flag_skips_database(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    fx = Fx(ul={"db_mode": 1, "db_url": f"sqlite://{db}"})
    fx.save(register(expires=600), "memory-only")
    assert rows(db) == []
    assert fx.lookup(invite())[0] == 1


def test_db_only_mode_shares_state_between_instances(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/shared.db"
    a = Fx(ul={"db_mode": 3, "db_url": url, "timer_interval": 10}, reg={"min_expires": 10})
    b = Fx(ul={"db_mode": 3, "db_url": url})
    a.save(register(expires=20))
    assert a.ul.domain("location").records == {}  # nothing cached
    ret, ctx = b.lookup(invite())
    assert ret == 1 and ctx.new_ruri == "sip:alice@198.51.100.7:5060"
    b.save(register(contact="<sip:alice@198.51.100.8>", call_id="b", expires=600))
    _, ctx = a.lookup(invite())
    assert ctx.new_ruri is not None and len(ctx.branches) == 1
    a.core.advance(30)  # a's timer deletes expired rows
    _, ctx = b.lookup(invite())
    assert ctx.new_ruri == "sip:alice@198.51.100.8" and ctx.branches == []
    # cseq ordering works against the table too
    assert b.save(register(contact="<sip:alice@198.51.100.8>", call_id="b", cseq=5, expires=600))[0] == 1
    assert b.save(register(contact="<sip:alice@198.51.100.8>", call_id="b", cseq=2, expires=600))[0] == -2


def test_get_or_create_finds_stored_bindings_and_caches_only_in_memory_modes(tmp_path: Path) -> None:
    db_only = Fx(ul={"db_mode": 3, "db_url": f"sqlite://{tmp_path}/only.db"})
    memory = Fx()
    for fx in (db_only, memory):
        fx.save(register(expires=600))
        dom = fx.ul.domain("location")
        rec = dom.get_or_create("alice@example.com")
        assert [c.uri for c in rec.contacts] == ["sip:alice@198.51.100.7:5060"]
        fresh = dom.get_or_create("bob@example.com")
        assert fresh.aor == "bob@example.com" and fresh.contacts == []
        assert (dom.get_or_create("bob@example.com") is fresh) == (fx is memory)
    assert db_only.ul.domain("location").records == {}
    assert set(memory.ul.domain("location").records) == {"alice@example.com", "bob@example.com"}


def test_existing_opensips_db_with_opensips_rows(tmp_path: Path) -> None:
    db = tmp_path / "opensips.db"
    shutil.copy(CORPUS / "registration" / "02.db" / "opensips.db", db)
    conn = sqlite3.connect(db)
    # a row as OpenSIPS 3.x writes it (flag names in cflags, absolute expires, local datetime)
    conn.execute("insert into location (contact_id, username, domain, contact, received, path, expires, q, "
                 "callid, cseq, last_modified, flags, cflags, user_agent, socket, methods, sip_instance) "
                 "values (3422, 'alice', 'example.com', 'sip:alice@10.0.0.5:5060', "
                 "'sip:198.51.100.7:5060', NULL, ?, -1.0, 'abc', 7, '2026-01-01 10:00:00', 0, 'NAT', "
                 "'Linphone', 'udp:192.0.2.1:5060', 4294967295, NULL)", (int(T0) + 500,))
    conn.commit()
    conn.close()
    fx = Fx(ul={"working_mode_preset": "single-instance-sql-write-back", "db_url": f"sqlite://{db}"})
    ret, ctx = fx.lookup(invite())
    assert ret == 1
    assert ctx.new_ruri == "sip:alice@10.0.0.5:5060" and ctx.dst_uri == "sip:198.51.100.7:5060"
    assert ctx.bflags == 1 << fx.nat_bit
    # the re-registration updates that row in place (same contact_id)
    fx.save(register(contact="<sip:alice@10.0.0.5:5060>", call_id="abc", cseq=8, expires=600))
    fx.ul.shutdown()
    conn = sqlite3.connect(db)
    assert conn.execute("select contact_id, cseq from location").fetchall() == [(3422, 8)]


def test_connection_close_removes_its_bindings() -> None:
    fx = Fx(ul={"handle_lost_tcp": 1})
    fx.save(register(contact="<sip:alice@a1.invalid;transport=ws>", expires=600), proto="ws", conn_id=11)
    fx.save(register(contact="<sip:alice@198.51.100.7>", call_id="udp", expires=600))
    assert fx.core.hooks.connection_closed
    for hook in fx.core.hooks.connection_closed:
        hook(11)
    rec = fx.ul.domain("location").get("alice@example.com")
    assert [c.uri for c in rec.contacts] == ["sip:alice@198.51.100.7"]
    for hook in fx.core.hooks.connection_closed:
        hook(11)  # twice: nothing more


def test_connection_close_after_reregistration_on_new_connection() -> None:
    fx = Fx(ul={"handle_lost_tcp": 1})
    fx.save(register(contact="<sip:alice@a1.invalid;transport=ws>", expires=600), proto="ws", conn_id=11)
    fx.save(register(contact="<sip:alice@a1.invalid;transport=ws>", cseq=2, expires=600), proto="ws",
            conn_id=12)
    for hook in fx.core.hooks.connection_closed:
        hook(11)  # the old connection: the binding now lives on 12
    assert fx.ul.domain("location").get("alice@example.com") is not None
    for hook in fx.core.hooks.connection_closed:
        hook(12)
    assert fx.ul.domain("location").get("alice@example.com") is None


def test_connection_close_ignored_unless_asked() -> None:
    fx = Fx()
    fx.save(register(contact="<sip:alice@a1.invalid;transport=ws>", expires=600), proto="ws", conn_id=11)
    assert fx.core.hooks.connection_closed == []
    assert fx.ul.domain("location").get("alice@example.com").contacts[0].conn_id == 11


def test_contact_memory_is_small() -> None:
    fx = Fx()
    fx.save(register(expires=600))
    c = fx.ul.domain("location").get("alice@example.com").contacts[0]
    assert not hasattr(c, "__dict__")


def test_desc_time_order_puts_newest_first() -> None:
    fx = Fx(ul={"desc_time_order": 1})
    fx.save(register(contact="<sip:alice@198.51.100.1>;q=1.0", call_id="a", expires=600))
    fx.core.advance(1)
    fx.save(register(contact="<sip:alice@198.51.100.2>;q=0.1", call_id="b", expires=600))
    _, ctx = fx.lookup(invite())
    assert ctx.new_ruri == "sip:alice@198.51.100.2"
    assert [b["uri"] for b in ctx.branches] == ["sip:alice@198.51.100.1"]


def test_table_names_with_dashes_work_in_the_database(tmp_path: Path) -> None:
    db = tmp_path / "dash.db"
    fx = Fx(ul={"db_mode": 1, "db_url": f"sqlite://{db}"})
    ctx = fx.ctx(register(expires=600))
    from test_registrar_fakes import fn

    assert fn("registrar", "save")(ctx, "location-internal", None, None) == 1
    conn = sqlite3.connect(db)
    assert conn.execute("select contact from `location-internal`").fetchall() == [
        ("sip:alice@198.51.100.7:5060",)]


def test_methods_mask_cached_values_stay_right() -> None:
    mask = Fx().ul.methods_mask
    cache = mask.__globals__["_MASKS"]
    other = mask.__globals__["METHOD_OTHER"]
    allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE"
    expected = 1 | 4 | 2 | 8 | 32 | 256
    assert mask(allow) == expected
    assert cache[allow] == expected
    assert mask(allow) == expected  # from the cache
    assert mask('"REFER,NOTIFY"') == 4096 | 1024
    assert mask(" , ") is None
    assert mask(" , ") is None
    assert mask("FOO") == other
    limit = mask.__globals__["_MASKS_MAX"]
    for i in range(limit + 50):  # odd values never grow the cache past its bound
        assert mask(f"X{i}, INVITE") == other | 1
    assert len(cache) <= limit


def test_contact_ids_are_built_as_opensips_builds_them() -> None:
    from pysips_modules.usrloc.labels import core_hash, unpack

    fx = Fx(ul={"hash_size": 4})
    fx.save(register(expires=600))
    fx.save(register(contact="<sip:alice@198.51.100.9>", call_id="reg-2", expires=600))
    fx.save(register(user="bob", contact="<sip:bob@198.51.100.8>", call_id="reg-3", expires=600))
    dom = fx.ul.domain("location")
    assert dom.size == 16 and fx.ul.config.hash_size == 16
    by_uri = {c.uri: c.contact_id for c in dom.get("alice@example.com").contacts}
    a1, a2 = by_uri["sip:alice@198.51.100.7:5060"], by_uri["sip:alice@198.51.100.9"]
    (b1,) = (c.contact_id for c in dom.get("bob@example.com").contacts)
    assert 0 not in (a1, a2, b1) and len({a1, a2, b1}) == 3
    # same AOR: same hash and record label, consecutive contact labels
    (h1, r1, c1), (h2, r2, c2) = unpack(a1), unpack(a2)
    assert h1 == h2 == core_hash("alice@example.com") & 0xFFFF and r1 == r2
    assert c2 == (c1 + 1) & 0x3FFF
    assert unpack(b1)[0] == core_hash("bob@example.com") & 0xFFFF
    # a refresh keeps the id
    fx.save(register(cseq=2, expires=900))
    assert {c.contact_id for c in dom.get("alice@example.com").contacts} == {a1, a2}


def test_core_hash_matches_opensips() -> None:
    from pysips_modules.usrloc.labels import core_hash, pack, unpack

    # values computed by OpenSIPS's core_hash() compiled from hash_func.h
    assert core_hash("alice@example.com") == 2920418261
    assert core_hash("bob") == 7222211
    assert core_hash("abcdé@x") == 1213588405  # bytes above 127 count as negative chars
    assert unpack(pack(0xABCD, 0x12345678, 0x2ABC)) == (0xABCD, 0x12345678, 0x2ABC)


def test_hash_size_above_16_is_a_load_error() -> None:
    with pytest.raises(FixupError, match="hash_size"):
        Fx(ul={"hash_size": 17})


def test_write_through_stores_and_reloads_contact_ids(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'opensips.db'}"
    fx = Fx(ul={"db_mode": 1, "db_url": url})
    fx.save(register(expires=600))
    cid = fx.ul.domain("location").get("alice@example.com").contacts[0].contact_id
    conn = sqlite3.connect(tmp_path / "opensips.db")
    try:
        assert conn.execute("select contact_id from location").fetchall() == [(cid,)]
    finally:
        conn.close()
    fx2 = Fx(ul={"db_mode": 1, "db_url": url})
    rec = fx2.ul.domain("location").get("alice@example.com")
    assert rec.contacts[0].contact_id == cid
    fx2.save(register(contact="<sip:alice@198.51.100.9>", call_id="reg-2", expires=600))
    new = rec.contacts[-1].contact_id if rec.contacts[-1].contact_id != cid else rec.contacts[0].contact_id
    assert new >> 14 == cid >> 14 and new != cid  # same record label, next contact label
