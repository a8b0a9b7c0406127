"""`pysips db migrate URL` on SQLite, MariaDB and PostgreSQL: a database with OpenSIPS 2.x's
`subscriber` (version 7: email_address, ha1b, rpid) and an older `location` (version 1011, DATETIME
expiry) is brought to 3.6's tables; rows keep their values, dates become epoch seconds, the old
rows stay in <table>_v<version>, tables already current are left alone, missing ones created, and
a second run has nothing to do."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pysips.db import admin
from pysips.db.api import Database
from tests.integration.dbservers import Server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def old_tables(db: Database, scheme: str) -> None:
    key = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "mysql": "INT AUTO_INCREMENT PRIMARY KEY"}.get(
        scheme, "SERIAL PRIMARY KEY")
    stamp = "TIMESTAMP" if scheme.startswith("postgres") else "DATETIME"
    for table in ("subscriber", "location", "acc", "version", "subscriber_v7", "location_v1011"):
        db.drop_table(table)
    db.execute("CREATE TABLE version (table_name VARCHAR(32) NOT NULL,"
               " table_version INTEGER DEFAULT 0 NOT NULL)")
    db.execute(f"CREATE TABLE subscriber (id {key}, username VARCHAR(64) DEFAULT '' NOT NULL,"
               " domain VARCHAR(64) DEFAULT '' NOT NULL, password VARCHAR(25) DEFAULT '' NOT NULL,"
               " email_address VARCHAR(64) DEFAULT '' NOT NULL, ha1 VARCHAR(64) DEFAULT '' NOT NULL,"
               " ha1b VARCHAR(64) DEFAULT '' NOT NULL, rpid VARCHAR(64) DEFAULT NULL)")
    db.execute(f"CREATE TABLE location (contact_id {key}, username VARCHAR(64) DEFAULT '' NOT NULL,"
               " domain VARCHAR(64) DEFAULT NULL, contact VARCHAR(255) DEFAULT '' NOT NULL,"
               f" expires {stamp} NOT NULL, q FLOAT DEFAULT 1.0 NOT NULL,"
               " callid VARCHAR(255) DEFAULT 'x' NOT NULL, cseq INTEGER DEFAULT 13 NOT NULL,"
               f" last_modified {stamp} NOT NULL, user_agent VARCHAR(255) DEFAULT '' NOT NULL)")
    db.insert("version", {"table_name": "subscriber", "table_version": 7})
    db.insert("version", {"table_name": "location", "table_version": 1011})
    db.insert("subscriber", {"username": "o'neil", "domain": "d.test", "password": "pw",
                             "email_address": "o@d.test", "ha1": "abc", "ha1b": "def", "rpid": None})
    db.insert("subscriber", {"username": "bob", "domain": "d.test", "password": "pw2",
                             "email_address": "", "ha1": "", "ha1b": "", "rpid": "r"})
    db.insert("location", {"username": "bob", "contact": "sip:bob@10.0.0.1", "expires": "2030-01-02 03:04:05",
                           "last_modified": "2024-03-05 10:20:30", "user_agent": "ua"})


def check_migrated(url: str, db: Database) -> None:
    done = subprocess.run([sys.executable, "-m", "pysips", "db", "migrate", url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "subscriber 7->8 (2 rows, saved as subscriber_v7)" in done.stdout, done.stdout
    assert "location 1011->1013 (1 rows, saved as location_v1011)" in done.stdout, done.stdout
    assert "created" in done.stdout and "usr_preferences" in done.stdout, done.stdout
    assert db.table_version("subscriber") == 8 and db.table_version("location") == 1013
    assert db.columns_of("subscriber") == ["id", "username", "domain", "password", "ha1", "ha1_sha256",
                                           "ha1_sha512t256"]
    rows = sorted(db.query("subscriber",  # type: ignore[type-var]
                           ("id", "username", "password", "ha1", "ha1_sha256")))
    assert rows == [(1, "o'neil", "pw", "abc", ""), (2, "bob", "pw2", "", "")]
    # the dropped columns are still in the saved copy
    assert sorted(db.query("subscriber_v7", ("email_address",))) == [("",), ("o@d.test",)]  # type: ignore[type-var]
    expires = int(time.mktime(time.strptime("2030-01-02 03:04:05", "%Y-%m-%d %H:%M:%S")))
    location = db.query("location", ("username", "contact", "expires", "user_agent", "flags"))
    assert location == [("bob", "sip:bob@10.0.0.1", expires, "ua", 0)]
    # ids go on after the copied ones
    assert db.insert("subscriber", {"username": "new", "domain": "d.test"}) == 3
    again = subprocess.run([sys.executable, "-m", "pysips", "db", "migrate", url],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "migrated" not in again.stdout and "created" not in again.stdout, again.stdout


def test_migrate_sqlite(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/old.db"
    db = admin.open_url(url)
    old_tables(db, "sqlite")
    check_migrated(url, db)


def test_migrate_server(sql_server: Server) -> None:
    db = admin.open_url(sql_server.url)
    try:
        old_tables(db, sql_server.scheme)
        check_migrated(sql_server.url, db)
    finally:
        for table in ("subscriber_v7", "location_v1011"):
            db.drop_table(table)
        db.close()
