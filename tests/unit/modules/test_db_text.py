"""db_text: OpenSIPS's flat-file format read and written (escapes, NULLs, auto ids, time columns),
`pysips db create text:///dir`, and modules (avpops, sqlops) working over a db_text folder."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pysips.db import admin
from pysips.db.api import DbError
from pysips.db.dbtext import parse_table
from pysips.script.context import MsgContext
from tests.unit.modules.route_runs import run_main_route

# A table as OpenSIPS's docs describe the format: typed columns, ':' separated rows, escapes
SAMPLE = (
    "id(int,auto) name(str) flag(double) desc(str,null)\n"
    "1:nick:0.34:a\\tgood\\: friend\n"
    "2:cole:-3.75:colleague\n"
    "3:bob:2.50:\n"
)


def test_reads_opensips_format(tmp_path: Path) -> None:
    (tmp_path / "people").write_text(SAMPLE)
    db = admin.open_url(f"text://{tmp_path}")
    rows = db.query("people", ("id", "name", "flag", "desc"), order_by="id")
    assert rows == [(1, "nick", 0.34, "a\tgood: friend"), (2, "cole", -3.75, "colleague"),
                    (3, "bob", 2.5, None)]
    assert db.query("people", ("name",), [("flag", ">", 0.0), ("desc", "!=", None)]) == [("nick",)]


def test_writes_escapes_nulls_and_auto_ids_as_opensips(tmp_path: Path) -> None:
    (tmp_path / "people").write_text(SAMPLE)
    db = admin.open_url(f"text://{tmp_path}")
    new_id = db.insert("people", {"name": "o'neil: a\\b\nc\0", "flag": 1, "desc": None})
    assert new_id == 4
    assert db.update("people", {"name": "cole"}, {"desc": "x:y"}) == 1
    assert db.delete("people", {"name": "bob"}) == 1
    text = (tmp_path / "people").read_text()
    assert text == (
        "id(int,auto) name(str) flag(double) desc(str,null)\n"
        "1:nick:0.34:a\\tgood\\: friend\n"
        "2:cole:-3.75:x\\:y\n"
        "4:o'neil\\: a\\\\b\\nc\\0:1.00:\n"
    )
    # what was written reads back the same, in a new connection too
    again = admin.open_url(f"text://{tmp_path}")
    assert again.query("people", ("name",), {"id": 4}) == [("o'neil: a\\b\nc\0",)]


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "people").write_text(SAMPLE)
    db = admin.open_url(f"text://{tmp_path}")
    assert len(db.query("people", ("id",))) == 3
    time.sleep(0.01)
    (tmp_path / "people").write_text(SAMPLE + "9:zed:0.00:\n")
    assert db.query("people", ("name",), {"id": 9}) == [("zed",)]


def test_bad_files_and_raw_sql_are_errors(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("id(int) name(str)\n1\n")
    db = admin.open_url(f"text://{tmp_path}")
    with pytest.raises(DbError, match="1 fields for 2 columns"):
        db.query("bad", ("id",))
    with pytest.raises(DbError, match="no raw SQL"):
        db.execute("SELECT 1")
    with pytest.raises(DbError, match="no table"):
        db.query("missing", ("id",))
    with pytest.raises(DbError):
        parse_table("id(x)\n")


def test_pysips_db_create_writes_opensips_headers(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pysips", "db", "create", f"text://{tmp_path}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    header = (tmp_path / "usr_preferences").read_text().split("\n")[0]
    assert header == ("id(int,auto) uuid(string) username(string) domain(string) attribute(string)"
                      " type(int) value(string) last_modified(int)")
    location = (tmp_path / "location").read_text()
    assert location.startswith("contact_id(long,auto) username(string) domain(string,null)")
    db = admin.open_url(f"text://{tmp_path}")
    assert db.table_version("location") == 1013 and db.table_version("usr_preferences") == 3
    # a DATETIME column holds seconds since the epoch, as OpenSIPS's db_text keeps it
    db.insert("acc", {"method": "MESSAGE", "time": "2024-03-05 10:20:30", "callid": "c"})
    stamp = int(time.mktime(time.strptime("2024-03-05 10:20:30", "%Y-%m-%d %H:%M:%S")))
    assert db.query("acc", ("time",)) == [(stamp,)]


def _run(folder: Path, body: str) -> MsgContext:
    head = ('listen=udp:127.0.0.1:5060\nloadmodule "db_text.so"\n'
            'loadmodule "avpops.so"\nloadmodule "sqlops.so"\n'
            f'modparam("avpops", "db_url", "text://{folder}")\nmodparam("sqlops", "db_url", "text://{folder}")\n')
    return run_main_route(head, body)


def test_avpops_and_sqlops_over_db_text(tmp_path: Path) -> None:
    db = admin.open_url(f"text://{tmp_path}")
    admin.create(db, [])
    _run(tmp_path, '$avp(fwd) = "sip:vm@x.org;a=b"; avp_db_store("u-1", "$avp(fwd)");'
                   'sql_insert("uri", \'[{"username":"bob"},{"domain":"d"},{"uri_user":"b:1"}]\');')
    ctx = _run(tmp_path, '$var(r) = avp_db_load("u-1", "$avp(fwd)");'
                         'sql_select_one(\'["uri_user"]\', "uri", \'[{"username":"bob"}]\', , "$var(u)");'
                         '$var(raw) = sql_query("SELECT 1");')
    assert ctx.avps["fwd"] == ["sip:vm@x.org;a=b"]
    assert ctx.process.vars["r"] == 1 and ctx.process.vars["u"] == "b:1" and ctx.process.vars["raw"] == -1
    assert "u-1:::fwd:0:sip\\:vm@x.org;a=b:" in (tmp_path / "usr_preferences").read_text()
