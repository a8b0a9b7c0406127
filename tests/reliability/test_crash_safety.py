"""SIGKILL in the middle of a REGISTER and MESSAGE flood, usrloc in write-through (db_mode 1) and
acc writing each MESSAGE to the database, both on SQLite: every binding answered 200 and every
MESSAGE answered 200 (accounted before the reply) is in the database after the kill, and the
restarted server finds each of those bindings with lookup()."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.proxy_harness import free_port
from tests.reliability.clients import LOCAL

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ACC_TABLE = """CREATE TABLE acc (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, method CHAR(16) DEFAULT '' NOT NULL,
    from_tag CHAR(64) DEFAULT '' NOT NULL, to_tag CHAR(64) DEFAULT '' NOT NULL,
    callid CHAR(64) DEFAULT '' NOT NULL, sip_code CHAR(3) DEFAULT '' NOT NULL,
    sip_reason CHAR(32) DEFAULT '' NOT NULL, time DATETIME NOT NULL,
    duration INTEGER DEFAULT 0 NOT NULL, ms_duration INTEGER DEFAULT 0 NOT NULL,
    setuptime INTEGER DEFAULT 0 NOT NULL, created DATETIME DEFAULT NULL)"""

CFG = """\
log_level=2
log_stderror=yes
listen=udp:127.0.0.1:{port}
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "signaling.so"
loadmodule "sipmsgops.so"
loadmodule "db_sqlite.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "acc.so"
loadmodule "proto_udp.so"
# WAL, fsync at checkpoints: a killed process loses nothing committed (only a power cut could);
# SQLite's default (a journal and an fsync per commit) carries some 30 writes/s on a busy disk
modparam("db_sqlite", "exec_pragma", "journal_mode=wal")
modparam("db_sqlite", "exec_pragma", "synchronous=normal")
modparam("usrloc", "db_mode", 1)
modparam("usrloc", "db_url", "sqlite://{db}")
modparam("acc", "db_url", "sqlite://{db}")
route {{
    if (is_method("REGISTER")) {{
        if (!save("location")) sl_reply_error();
        exit;
    }}
    if (is_method("MESSAGE")) {{
        acc_db_request("delivered", "acc");
        sl_send_reply(200, "Accounted");
        exit;
    }}
    if (is_method("OPTIONS")) {{
        if (lookup("location")) sl_send_reply(200, "Found");
        else sl_send_reply(404, "Not Found");
        exit;
    }}
}}
"""


def start(cfg: Path, log: Path, port: int,
          preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[bytes]:
    """pysips on `cfg`, appending to `log`, once its UDP `port` is bound (`preexec_fn` runs in the
    child before pysips starts: a resource limit, say)."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pysips", "-f", str(cfg)], cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=preexec_fn, start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        if f":{port:04X} " in Path("/proc/net/udp").read_text():
            return proc
        time.sleep(0.1)
    raise AssertionError(log.read_text()[-3000:])


def message(method: str, user: str, port: int, me: int, call_id: str) -> bytes:
    aor = f"sip:{user}@{LOCAL}"
    ruri = f"sip:{LOCAL}:{port}" if method == "REGISTER" else f"sip:{user}@{LOCAL}:{port}"
    tag = uuid.uuid4().hex[:8]
    return (f"{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {LOCAL}:{me};branch=z9hG4bK{tag}\r\n"
            f"From: <{aor}>;tag={tag}\r\nTo: <{aor}>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
            f"Contact: <sip:{user}@{LOCAL}:{me}>\r\nExpires: 3600\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def answered_200(data: bytes) -> str | None:
    if not data.startswith(b"SIP/2.0 200 "):
        return None
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"call-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return None


def test_sigkill_during_a_register_and_message_flood_loses_nothing_answered(tmp_path: Path) -> None:
    db = tmp_path / "opensips.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute(ACC_TABLE)
    port = free_port()
    cfg = tmp_path / "crash.cfg"
    cfg.write_text(CFG.format(port=port, db=db))
    log = tmp_path / "pysips.log"
    proc = start(cfg, log, port)
    sent: dict[str, str] = {}  # Call-ID -> user (REGISTER) or "acc" (MESSAGE)
    ok: set[str] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCAL, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        me = s.getsockname()[1]
        s.setblocking(False)
        count = [0]

        def send_next() -> None:
            """The next request of the flood: REGISTERs and MESSAGEs in turn."""
            i = count[0]
            count[0] += 1
            call_id = f"c{i}-{uuid.uuid4().hex[:6]}"
            method = "REGISTER" if i % 2 == 0 else "MESSAGE"
            sent[call_id] = f"user{i}" if method == "REGISTER" else "acc"
            s.sendto(message(method, f"user{i}", port, me, call_id), (LOCAL, port))

        started = time.monotonic()
        killed_at = started + 2.0
        while time.monotonic() < killed_at:
            for _ in range(20):  # a burst of 20, then read what came back
                send_next()
            time.sleep(0.005)
            while True:
                try:
                    cid = answered_200(s.recv(65535))
                except BlockingIOError:
                    break
                if cid:
                    ok.add(cid)
        for _ in range(200):  # a last burst the server cannot have answered when the kill lands
            send_next()
        os.killpg(proc.pid, signal.SIGKILL)  # mid-flood: requests are still arriving
        proc.wait(5)
        time.sleep(0.2)
        while True:  # replies the server sent before it died count as answered
            try:
                cid = answered_200(s.recv(65535))
            except BlockingIOError:
                break
            if cid:
                ok.add(cid)
    registered = {sent[c] for c in ok if sent[c] != "acc"}
    accounted = {c for c in ok if sent[c] == "acc"}
    assert len(registered) > 50 and len(accounted) > 50, (len(ok), log.read_text()[-2000:])
    assert len(ok) < len(sent), "the kill came after the flood: nothing was in flight"
    with sqlite3.connect(db) as conn:
        in_db = {row[0] for row in conn.execute("SELECT username FROM location")}
        acc_rows = {row[0] for row in conn.execute("SELECT callid FROM acc")}
    assert registered - in_db == set(), f"{len(registered - in_db)} bindings answered 200 but lost"
    assert accounted - acc_rows == set(), f"{len(accounted - acc_rows)} accounted MESSAGEs lost"
    # the restarted server loads the bindings: lookup() finds each of them
    proc = start(cfg, log, port)
    try:
        found: dict[str, bool] = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((LOCAL, 0))
            s.settimeout(3)
            me = s.getsockname()[1]
            for user in sorted(registered)[:300]:
                s.sendto(message("OPTIONS", user, port, me, uuid.uuid4().hex), (LOCAL, port))
                found[user] = s.recv(65535).startswith(b"SIP/2.0 200 ")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    assert all(found.values()), [u for u, f in found.items() if not f][:10]
    print(f"{len(sent)} sent, {len(registered)} bindings and {len(accounted)} MESSAGEs answered 200 "
          f"before SIGKILL; all in the database; {len(found)} found by lookup() after restart")


# ---------------------------------------------------------------------------------------------
# dialogs in db_mode 1 (realtime): a SIGKILL mid-call loses no confirmed dialog


def test_sigkill_mid_call_keeps_the_dialog_in_db_mode_1(tmp_path: Path) -> None:
    """A confirmed call through dialog-test.cfg with dialog db_mode 1; pysips is SIGKILLed (no
    destroy, no flush) and started again: the dialog row written when the call was confirmed is
    loaded, and the caller's BYE is matched by its did and relayed to the callee."""
    import threading

    from tests.integration.proxy_harness import CFG_DIR, mi_datagram, rig_in

    cfg = CFG_DIR / "dialog-test.cfg"
    with rig_in(tmp_path) as rig:
        mi_port = free_port()
        values = dict(MI_PORT=mi_port, DLG_TIMEOUT=60, DLG_FLAGS="", PING_INTERVAL=30, DB_MODE=1,
                      DB_PATH=rig.workdir / "dialog.db")
        rig.start_pysips(cfg, **values)
        uas = rig.start_uas("uas_call.xml")
        results: list[object] = []
        caller = threading.Thread(target=lambda: results.append(
            rig.run_uac("uac_call.xml", duration_ms=5000, timeout_s=30)))
        caller.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                listed = mi_datagram(mi_port, "dlg_list")["Dialogs"]
                if listed and listed[0]["state"] == 4:
                    break
                time.sleep(0.2)
            assert listed and listed[0]["state"] == 4, rig.report()
            assert rig.proxy is not None and rig.proxy.proc is not None
            os.killpg(rig.proxy.proc.pid, signal.SIGKILL)
            rig.proxy.proc.wait(5)
            with sqlite3.connect(rig.workdir / "dialog.db") as conn:
                rows = conn.execute("SELECT state, callid FROM dialog").fetchall()
            assert rows == [(4, listed[0]["callid"])], rows
            rig.start_pysips(cfg, **values)
            restored = mi_datagram(mi_port, "dlg_list")["Dialogs"]
            assert [d["callid"] for d in restored] == [rows[0][1]]
        finally:
            caller.join(40)
        result = results[0] if results else None
        assert result is not None and getattr(result, "ok", False), rig.report()
        assert uas.wait(timeout=10).ok, rig.report()
        assert "BYE matched by did" in rig.proxy.log(), rig.report()
        time.sleep(0.5)
        with sqlite3.connect(rig.workdir / "dialog.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM dialog").fetchone()[0] == 0
