"""sqlops on SQLite: DATETIME columns come back as OpenSIPS's db layer turns them, a time_t (the
text read as local time), in AVPs and in variables; text columns stay text."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pysips.script.context import MsgContext
from tests.unit.modules.route_runs import run_main_route


def _run(db: Path, body: str) -> MsgContext:
    head = ('listen=udp:127.0.0.1:5060\nloadmodule "db_sqlite.so"\nloadmodule "sqlops.so"\n'
            f'modparam("sqlops", "db_url", "sqlite://{db}")\n')
    return run_main_route(head, body)


def test_datetime_columns_are_seconds_since_the_epoch(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE t (id INTEGER, stamp DATETIME, day DATE, label CHAR(32));"
            "INSERT INTO t VALUES (1, '2024-03-05 10:20:30', '2024-03-05', '2024-03-05 10:20:30');"
        )
    # result variables separated by ';', ',' or spaces, as OpenSIPS parses the list
    ctx = _run(db, 'sql_query("SELECT stamp, day, label FROM t", "$avp(s), $avp(d) ;$avp(l)");'
                   'sql_query_one("SELECT stamp FROM t", "$var(s)");'
                   'sql_select_one(\'["stamp"]\', "t", , , "$var(sel)");')
    stamp = int(time.mktime(time.strptime("2024-03-05 10:20:30", "%Y-%m-%d %H:%M:%S")))
    day = int(time.mktime(time.strptime("2024-03-05", "%Y-%m-%d")))
    assert ctx.avps["s"] == [stamp] and ctx.avps["d"] == [day]
    assert ctx.avps["l"] == ["2024-03-05 10:20:30"]
    assert ctx.process.vars["s"] == stamp and ctx.process.vars["sel"] == stamp
