"""Asking each worker process of a pysips server what it would choose now: the routing modules'
destination states under worker processes (tests/integration/test_workers_routing_states.py).

A MESSAGE's Call-ID decides its worker (the main process hashes it), so Call-IDs are first found
for every worker (its pid comes back in X-Worker); the same Call-IDs then ask each worker which
destination it picks (X-Dst, set by the script)."""

from __future__ import annotations

import itertools
import time
import uuid

from tests.differential.sipua import Dialog, Endpoint, Transcript
from tests.integration.proxy_harness import LOCALHOST, Rig, free_port, render_template
from tests.integration.test_udp_engine import server_argv
from tests.integration.test_workers import worker_pids

WORKERS = 4
READY_S = 30.0  # five processes start on a loaded two-core machine

# the routing-state tests' scripts start alike: four workers, tm, an SQLite table, MI over UDP
SCRIPT_HEAD = """\
log_level=3
stderror_enabled=yes
syslog_enabled=no
udp_workers=4
socket=udp:127.0.0.1:@@PROXY_PORT@@
loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
modparam("tm", "fr_timeout", 2)
modparam("tm", "fr_inv_timeout", 3)
loadmodule "rr.so"
loadmodule "sipmsgops.so"
loadmodule "db_sqlite.so"
loadmodule "mi_datagram.so"
modparam("mi_datagram", "socket_name", "udp:127.0.0.1:@@MI_PORT@@")
"""


class WorkerServer:
    """pysips on `script` (udp_workers=4, mi_datagram on @@MI_PORT@@, a MESSAGE answered 200
    with X-Worker: $pp and X-Dst: the destination the worker would choose now), and a UA that
    asks each worker for its choice."""

    def __init__(self, rig: Rig, script: str, **values: object) -> None:
        rig.workdir.mkdir(parents=True, exist_ok=True)
        self.rig = rig
        self.mi_port = free_port()
        template = rig.workdir / "states.cfg.in"
        template.write_text(script)
        values = rig.ports.template_values(MI_PORT=self.mi_port, **values)
        cfg = render_template(template, values, rig.workdir / "states.cfg")
        rig.start_proxy("pysips", server_argv(cfg), ready_timeout=READY_S)
        self.ua = Endpoint("asker", Transcript())
        self._cseq = itertools.count(1)
        self.by_worker: dict[int, str] = {}  # worker pid -> a Call-ID it handles

    def close(self) -> None:
        self.ua.close()

    def ask(self, call_id: str) -> tuple[int, str]:
        """(the pid of the worker that handled a MESSAGE with this Call-ID, the destination it
        picks)."""
        dialog = Dialog(call_id=call_id, from_uri="sip:asker@127.0.0.1", to_uri="sip:4930@127.0.0.1",
                        from_tag="asker", local=self.ua, cseq=next(self._cseq))
        self.ua.send(dialog.request("MESSAGE", f"sip:4930@127.0.0.1:{self.rig.ports.proxy}"),
                     (LOCALHOST, self.rig.ports.proxy))
        while True:
            got = self.ua.recv_final(timeout=5)
            assert got is not None, self.log()[-3000:]
            if got.header("Call-ID") == call_id:
                return int(got.header("X-Worker")), got.header("X-Dst")

    def find_workers(self) -> dict[int, str]:
        """A Call-ID for each of the workers now running."""
        pids = worker_pids(self.rig)
        assert len(pids) == WORKERS, pids
        self.by_worker = {pid: cid for pid, cid in self.by_worker.items() if pid in pids}
        for _ in range(200):
            if len(self.by_worker) == WORKERS:
                return self.by_worker
            call_id = f"ask-{uuid.uuid4().hex[:12]}"
            pid, _dst = self.ask(call_id)
            self.by_worker.setdefault(pid, call_id)
        raise AssertionError(f"MESSAGEs reached {sorted(self.by_worker)} only, workers {sorted(pids)}")

    def choices(self) -> dict[int, str]:
        """Worker pid -> the destination it picks now."""
        found = {}
        for pid, call_id in self.by_worker.items():
            handled_by, dst = self.ask(call_id)
            assert handled_by == pid
            found[pid] = dst
        return found

    def wait_choices(self, dst: str, timeout: float = 5.0) -> None:
        """Until every worker picks `dst` (a change published without waiting, by the main
        process's prober, reaches them a moment later)."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.choices()
            if set(now.values()) == {dst}:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"workers pick {now}, not all {dst}\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def log(self) -> str:
        assert self.rig.proxy is not None
        return self.rig.proxy.log_path.read_text(errors="replace")
