"""Module lifecycle with real processes and sockets: init in dependency order, destroy in reverse
order and awaited (async or not) on SIGTERM, SIGINT and a normal stop; acc's records are in the
database after a SIGTERM in the middle of traffic."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.inprocess import running_script
from tests.integration.proxy_harness import LOCALHOST, REPO_ROOT, free_port, options_probe

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# Two modules of a test's own: `lifeb` requires the service `lifea` provides and is loaded first.
# Each records its hooks in the file named by its `journal` parameter; lifeb's destroy is a
# coroutine that takes a while, and must be over before lifea's destroy runs.
LIFE_A = '''
from pysips.script.exports import ModuleExports, ParamExport, ParamType
from pysips.script.services import Service

PING: Service[object] = Service("life_ping", "lifea")


def _init(ictx, params):
    journal = params["journal"]
    with open(journal, "a") as out:
        out.write("init lifea\\n")
    ictx.provide(PING, journal)
    return journal


def _child_init(process, journal):
    with open(journal, "a") as out:
        out.write("child_init lifea\\n")


def _destroy(journal):
    with open(journal, "a") as out:
        out.write("destroy lifea\\n")


exports = ModuleExports("lifea", params=(ParamExport("journal", ParamType.STR, ""),),
                        provides=(PING,), init=_init, child_init=_child_init, destroy=_destroy)
'''

LIFE_B = '''
import asyncio

from pysips.script.exports import ModuleExports

from pysips_lifea_key import PING


def _init(ictx, params):
    journal = ictx.require(PING)
    with open(journal, "a") as out:
        out.write("init lifeb\\n")
    return journal


async def _destroy(journal):
    await asyncio.sleep(0.3)
    with open(journal, "a") as out:
        out.write("destroy lifeb\\n")


exports = ModuleExports("lifeb", requires=(PING,), init=_init, destroy=_destroy)
'''


def _modules(tmp_path: Path) -> Path:
    """A module folder with lifea and lifeb; the service key lives in a shared, importable file
    (as a third-party package would export it) so both modules name the same key."""
    mpath = tmp_path / "mods"
    (mpath / "lifea").mkdir(parents=True)
    (mpath / "lifeb").mkdir()
    (mpath / "lifea" / "__init__.py").write_text(LIFE_A.replace(
        'PING: Service[object] = Service("life_ping", "lifea")', "from pysips_lifea_key import PING"))
    (mpath / "lifeb" / "__init__.py").write_text(LIFE_B)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "pysips_lifea_key.py").write_text(
        "from pysips.script.services import Service\n\n"
        'PING: Service[object] = Service("life_ping", "lifea")\n')
    return mpath


def _script(port: int, journal: Path) -> str:
    return textwrap.dedent(f"""
        socket=udp:127.0.0.1:{port}
        loadmodule "sl.so"
        loadmodule "lifeb.so"
        loadmodule "lifea.so"
        modparam("lifea", "journal", "{journal}")
        route {{ sl_send_reply(200, "OK"); }}
        """)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_destroy_runs_in_reverse_order_and_is_awaited_before_exit(tmp_path: Path, how: str) -> None:
    mpath = _modules(tmp_path)
    journal = tmp_path / "journal"
    port = free_port()
    cfg = tmp_path / "life.cfg"
    cfg.write_text(_script(port, journal))
    env = {"PYTHONPATH": f"{REPO_ROOT}:{tmp_path / 'keys'}", "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-m", "pysips", "-f", str(cfg), "--mpath", str(mpath)]
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 15
        while options_probe(port) is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        proc.send_signal(getattr(signal, how))
        status = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.communicate()[0]
    assert status == 0, output
    # lifea provides what lifeb requires: initialised first though loaded second; destroyed last,
    # after lifeb's (async, slow) destroy finished
    assert journal.read_text().splitlines() == [
        "init lifea", "init lifeb", "child_init lifea", "destroy lifeb", "destroy lifea"], output


def test_destroy_runs_when_the_server_stops_normally(tmp_path: Path) -> None:
    mpath = _modules(tmp_path)
    journal = tmp_path / "journal"
    sys.path.insert(0, str(tmp_path / "keys"))
    try:
        async def scenario() -> None:
            async with running_script(_script(free_port(), journal), tmp_path, str(mpath)):
                assert journal.read_text().splitlines()[:2] == ["init lifea", "init lifeb"]

        asyncio.run(scenario())
    finally:
        sys.path.remove(str(tmp_path / "keys"))
        sys.modules.pop("pysips_lifea_key", None)
    assert journal.read_text().splitlines()[-2:] == ["destroy lifeb", "destroy lifea"]


def test_a_missing_required_module_is_an_opensips_style_load_error(tmp_path: Path) -> None:
    cfg = tmp_path / "acc.cfg"
    cfg.write_text(f'socket=udp:127.0.0.1:{free_port()}\nloadmodule "acc.so"\nroute {{ exit; }}\n')
    done = subprocess.run([sys.executable, "-m", "pysips", "-f", str(cfg)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "module acc depends on module tm, but it was not loaded!" in done.stderr


# ---------------------------------------------------------------------------------------------
# acc: records written as transactions complete are in the database after a SIGTERM

ACC_TABLES = (
    "CREATE TABLE acc (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, method CHAR(16) DEFAULT '' NOT NULL,"
    " from_tag CHAR(64) DEFAULT '' NOT NULL, to_tag CHAR(64) DEFAULT '' NOT NULL,"
    " callid CHAR(64) DEFAULT '' NOT NULL, sip_code CHAR(3) DEFAULT '' NOT NULL,"
    " sip_reason CHAR(32) DEFAULT '' NOT NULL, time DATETIME NOT NULL,"
    " duration INTEGER DEFAULT 0 NOT NULL, ms_duration INTEGER DEFAULT 0 NOT NULL,"
    " setuptime INTEGER DEFAULT 0 NOT NULL, created DATETIME DEFAULT NULL);"
    "CREATE TABLE missed_calls (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,"
    " method CHAR(16) DEFAULT '' NOT NULL, from_tag CHAR(64) DEFAULT '' NOT NULL,"
    " to_tag CHAR(64) DEFAULT '' NOT NULL, callid CHAR(64) DEFAULT '' NOT NULL,"
    " sip_code CHAR(3) DEFAULT '' NOT NULL, sip_reason CHAR(32) DEFAULT '' NOT NULL,"
    " time DATETIME NOT NULL, setuptime INTEGER DEFAULT 0 NOT NULL, created DATETIME DEFAULT NULL);"
)

ACC_SCRIPT = """
socket=udp:127.0.0.1:{port}
loadmodule "db_sqlite.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "acc.so"
modparam("acc", "db_url", "sqlite://{db}")
route {{
    if ($rm == "OPTIONS") {{ sl_send_reply(200, "OK"); exit; }}
    do_accounting("db");
    t_reply(200, "Accounted");
}}
"""


def _message(port: int, local_port: int, call_id: str) -> bytes:
    return (
        f"MESSAGE sip:bob@{LOCALHOST}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{local_port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\r\n"
        f"From: <sip:alice@{LOCALHOST}>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:bob@{LOCALHOST}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_acc_records_are_in_the_database_after_sigterm_mid_traffic(tmp_path: Path) -> None:
    db = tmp_path / "acc.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.executescript(ACC_TABLES)
    port = free_port()
    cfg = tmp_path / "acc.cfg"
    cfg.write_text(ACC_SCRIPT.format(port=port, db=db))
    proc = subprocess.Popen([sys.executable, "-m", "pysips", "-f", str(cfg)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    answered: list[str] = []
    try:
        deadline = time.monotonic() + 15
        while options_probe(port) is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((LOCALHOST, 0))
            sock.settimeout(0.01)
            local_port = sock.getsockname()[1]
            # keep sending while the signal arrives: the server stops mid-traffic
            for i in range(200):
                sock.sendto(_message(port, local_port, f"acc-{i}"), (LOCALHOST, port))
                if i == 100:
                    proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(TimeoutError, ConnectionRefusedError):
                    while True:
                        data = sock.recv(65535)
                        if data.startswith(b"SIP/2.0 200 Accounted"):
                            answered.append(data.split(b"Call-ID: ")[1].split(b"\r\n")[0].decode())
        status = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.communicate()[0]
    assert status == 0, output
    with contextlib.closing(sqlite3.connect(db)) as conn:
        stored = [row[0] for row in conn.execute("SELECT callid FROM acc WHERE sip_code = '200'")]
    assert answered, output
    # every transaction answered upstream was accounted before the process ended
    assert set(answered) <= set(stored), (len(answered), len(stored), output)
