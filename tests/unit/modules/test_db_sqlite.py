"""pysips.db: URLs as OpenSIPS writes them, and the SQLite driver over OpenSIPS's schema."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from test_registrar_fakes import module

from pysips.db import LOCATION, SUBSCRIBER, DbError, DbUrlError, connect, parse_db_url

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "sipssert"


@pytest.fixture(autouse=True)
def _driver() -> None:
    module("db_sqlite")  # importing the module registers the driver


def test_parse_urls() -> None:
    u = parse_db_url("sqlite:///var/lib/opensips/opensips.db")
    assert (u.scheme, u.database, u.host) == ("sqlite", "/var/lib/opensips/opensips.db", None)
    m = parse_db_url("mysql://opensips:opensipsrw@localhost/opensips")
    assert (m.scheme, m.user, m.password, m.host, m.port, m.database) == (
        "mysql", "opensips", "opensipsrw", "localhost", None, "opensips")
    assert str(m) == "mysql://opensips:***@localhost/opensips"
    p = parse_db_url("postgres://u@[::1]:5433/db")
    assert (p.host, p.port, p.user, p.password) == ("::1", 5433, "u", None)
    for bad in ("opensips.db", "mysql://host", "mysql://h:99999/db", "sqlite://", "://x/y"):
        with pytest.raises(DbUrlError):
            parse_db_url(bad)


def test_unknown_driver_names_the_module() -> None:
    # a scheme no loaded module serves (db_mysql registers mysql:// once any test loads it)
    with pytest.raises(DbError, match="db_oracle"):
        connect("oracle://opensips:pw@localhost/opensips")


def test_crud_and_conditions(tmp_path: Path) -> None:
    db = connect(f"sqlite://{tmp_path}/t.db")
    db.ensure_table(SUBSCRIBER)
    assert db.table_version("subscriber") == 8
    rid = db.insert("subscriber", {"username": "alice", "domain": "example.com", "password": "x"})
    db.insert("subscriber", {"username": "bob", "domain": "example.com", "password": "y"})
    assert rid == 1
    assert db.query("subscriber", ("username",), {"domain": "example.com"}, order_by="username") == [
        ("alice",), ("bob",)]
    assert db.update("subscriber", {"username": "bob"}, {"password": "z"}) == 1
    assert db.query("subscriber", ("password",), [("id", ">", 1)]) == [("z",)]
    with db.transaction():
        db.delete("subscriber", {"username": "alice"})
    assert db.query("subscriber", ("username",)) == [("bob",)]
    with pytest.raises(RuntimeError), db.transaction():
        db.delete("subscriber")
        raise RuntimeError("roll back")
    assert db.query("subscriber", ("username",)) == [("bob",)]
    with pytest.raises(DbError):
        db.query("subscriber", ("nope",))
    with pytest.raises(DbError):
        db.query("subscriber; drop table x", ("id",))
    db.close()


def test_created_location_table_matches_opensips(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    db = connect(f"sqlite://{path}")
    db.ensure_table(LOCATION)
    db.ensure_table(LOCATION)  # idempotent
    db.close()
    conn = sqlite3.connect(path)
    version = conn.execute("select table_version from version where table_name='location'").fetchall()
    assert version == [(1013,)]
    cols = [r[1] for r in conn.execute("pragma table_info(location)")]
    assert cols == list(LOCATION.column_names)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DbError, match="does not exist"):
        connect(f"sqlite://{tmp_path}/no/such/dir/x.db")


def test_reads_an_opensips_generated_database(tmp_path: Path) -> None:
    src = CORPUS / "registration" / "02.db" / "opensips.db"
    dst = tmp_path / "opensips.db"
    shutil.copy(src, dst)
    db = connect(f"sqlite://{dst}")
    assert db.table_version("location") == LOCATION.version
    assert db.columns_of("location") == list(LOCATION.column_names)
    db.ensure_table(LOCATION)  # already there: untouched
    assert db.query("location", ("contact_id",)) == []
    auth = tmp_path / "auth.db"
    shutil.copy(CORPUS / "auth" / "01.password-db-www" / "opensips.db", auth)
    adb = connect(f"sqlite://{auth}")
    assert adb.table_version("subscriber") == 8
    assert len(adb.query("subscriber", ("username", "password"))) >= 1


def test_processes_starting_together_create_the_same_tables(tmp_path: Path) -> None:
    """Worker processes check and create their tables at the same moment (a CI run lost a server
    to "database is locked" there): each ensure_table takes the write lock first and waits its
    turn, so none fails. Threads with connections of their own stand for the processes; with
    two deferred transactions that read then write, SQLite refuses one at once."""
    import threading

    url = f"sqlite://{tmp_path / 'workers.db'}"
    for round_no in range(10):
        table = f"location_{round_no}"
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def worker(table: str = table, start: threading.Barrier = start,
                   errors: list[BaseException] = errors) -> None:
            db = connect(url)
            try:
                start.wait()
                db.ensure_table(LOCATION, table)
            except BaseException as exc:  # every failure is the finding
                errors.append(exc)
            finally:
                db.close()

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(10)
        assert errors == [], f"round {round_no}: {errors[0]!r}"
