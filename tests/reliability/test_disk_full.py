"""The disk fills under the SQLite write-through file (usrloc db_mode 1, acc_db_request): the
process survives, logs each failed write and answers every caller. A file-size limit on the
pysips process (RLIMIT_FSIZE; Python ignores SIGXFSZ, so writes fail with EFBIG) stands in for
a full disk.

With the seed's `if (!save("location")) sl_reply_error();` a REGISTER whose binding cannot be
written is answered 500 by save() and 500 again by sl_reply_error(), as in OpenSIPS (its save()
replies on error too). acc_db_request() failing does not stop the script: the MESSAGE is still
answered 200 and the lost record is logged.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import sqlite3
from pathlib import Path

import pytest

from tests.integration.proxy_harness import free_port
from tests.reliability.clients import LOCAL
from tests.reliability.test_crash_safety import ACC_TABLE, CFG, message, start

pytestmark = pytest.mark.integration

FILE_LIMIT = 300_000  # bytes: a few hundred bindings and records fit


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def answer(s: socket.socket, call_id: str) -> bytes:
    """The first reply for `call_id` (earlier duplicates of other requests are skipped)."""
    while True:
        data = s.recv(65535)
        if f"Call-ID: {call_id}\r\n".encode() in data:
            return data


def test_full_disk_is_logged_survived_and_answered(tmp_path: Path) -> None:
    db = tmp_path / "opensips.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute(ACC_TABLE)
    port = free_port()
    cfg = tmp_path / "full.cfg"
    cfg.write_text(CFG.format(port=port, db=db))
    log = tmp_path / "pysips.log"
    proc = start(cfg, log, port, preexec_fn=_limit_files)
    try:
        statuses: dict[str, list[int]] = {"REGISTER": [], "MESSAGE": []}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((LOCAL, 0))
            s.settimeout(5)
            me = s.getsockname()[1]
            i = 0
            while i < 6000 and 500 not in statuses["REGISTER"][-5:]:
                for method in ("REGISTER", "MESSAGE"):
                    call_id = f"full{i}"
                    s.sendto(message(method, f"user{i}", port, me, call_id), (LOCAL, port))
                    statuses[method].append(int(answer(s, call_id)[8:11]))
                    i += 1
            # full from here on: more of both, each still answered
            for _ in range(20):
                for method in ("REGISTER", "MESSAGE"):
                    call_id = f"full{i}"
                    s.sendto(message(method, f"user{i}", port, me, call_id), (LOCAL, port))
                    statuses[method].append(int(answer(s, call_id)[8:11]))
                    i += 1
            # bindings written before the disk filled are still found
            s.sendto(message("OPTIONS", "user0", port, me, "lookup0"), (LOCAL, port))
            found = answer(s, "lookup0")
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    text = log.read_text(errors="replace")
    registers = statuses["REGISTER"]
    assert registers[0] == 200 and registers[-20:] == [500] * 20, registers[-30:]
    assert set(statuses["MESSAGE"]) == {200}
    assert "into location failed" in text and "failed to insert into acc" in text
    assert found.startswith(b"SIP/2.0 200 "), found[:60]
