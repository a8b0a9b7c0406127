"""Destination states under worker processes (udp_workers=4, docs/workers.md): pysips started as
a process, a dispatcher set in SQLite, UDP destinations played by sipp and by RoutingPeer.

OpenSIPS keeps the sets in shared memory: a destination taken down in one process is skipped by
every process. Here every check of a state is made in each of the four workers: MESSAGEs with
Call-IDs found for each worker ask it which destination ds_select_dst() picks now
(tests/integration/worker_choices.py).

- a call failing over marks the first destination inactive in one worker (ds_mark_dst in
  failure_route): every worker skips it, sipp's calls never reach it again, MI ds_list (served by
  the main process) shows it and the main process writes the state back; MI ds_set_state brings
  it back in every worker; a worker killed and replaced starts with the current states;
- ds_probing_threshold counts the failures of every worker on one counter;
- probing runs once, in the main process: one OPTIONS per interval (not one per process), the
  silent destination goes down in every worker and comes back when it answers;
- MI ds_reload (run in the main process) gives every worker the new table.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.differential.sipua import Dialog, Endpoint, Message, Transcript, hop_ack
from tests.integration.proxy_harness import LOCALHOST, Rig, mi_datagram
from tests.integration.routing_peer import RoutingPeer
from tests.integration.script_rig import create_sqlite
from tests.integration.test_udp_engine import pysips_env
from tests.integration.test_workers import worker_pids
from tests.integration.worker_choices import SCRIPT_HEAD, WORKERS, WorkerServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
__all__ = ["pysips_env"]

SCRIPT = SCRIPT_HEAD + """\
loadmodule "dispatcher.so"
modparam("dispatcher", "db_url", "sqlite://@@DB@@")
modparam("dispatcher", "ds_ping_interval", @@PING@@)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", @@THRESHOLD@@)
modparam("dispatcher", "ds_ping_from", "sip:prober@127.0.0.1")

route {
    if (is_method("OPTIONS") && $rU == NULL) {
        sl_send_reply(200, "OK");
        exit;
    }
    if (is_method("MESSAGE")) {  # which destination this worker picks now
        if (ds_select_dst(1, 8))
            append_to_reply("X-Dst: $du\\r\\n");
        else
            append_to_reply("X-Dst: none\\r\\n");
        append_to_reply("X-Worker: $pp\\r\\n");
        sl_send_reply(200, "OK");
        exit;
    }
    if (has_totag()) {
        if (loose_route() || is_method("ACK"))
            t_relay();
        exit;
    }
    if (is_method("ACK")) {
        if (t_check_trans())
            t_relay();
        exit;
    }
    record_route();
    if (!ds_select_dst(1, 8, "f")) {
        sl_send_reply(503, "No destination");
        exit;
    }
    xlog("L_NOTICE", "worker $pp call $ci first try $du\\n");
    t_on_failure("failover");
    t_relay();
}

failure_route[failover] {
    if (t_check_status("503") || t_check_status("408")) {
        ds_mark_dst("@@MARK@@");
        if (ds_next_dst()) {
            t_on_failure("failover");
            t_relay();
        }
    }
}

event_route[E_DISPATCHER_STATUS] {
    xlog("L_NOTICE", "ds event: worker $pp $param(address) $param(status) ($param(reason))\\n");
}
"""


class Server(WorkerServer):
    """pysips on SCRIPT."""

    def __init__(self, rig: Rig, db: Path, ping: int = 0, threshold: int = 1, mark: str = "i") -> None:
        super().__init__(rig, SCRIPT, DB=db, PING=ping, THRESHOLD=threshold, MARK=mark)

    def states(self) -> dict[str, str]:
        """MI ds_list, served by the main process: URI -> state."""
        listed = mi_datagram(self.mi_port, "ds_list")
        return {d["URI"]: d["state"] for part in listed["PARTITIONS"] for s in part.get("SETS", [])
                for d in s["Destinations"]}


def _db(workdir: Path, destinations: list[str]) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    db = create_sqlite(workdir / "dispatcher.db", "dispatcher")
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO dispatcher (setid, destination, priority) VALUES (1, ?, ?)",
                         [(uri, 10 - i) for i, uri in enumerate(destinations)])
    return db


def _state_column(db: Path, uri: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT state FROM dispatcher WHERE destination = ?", (uri,)).fetchone()[0])


@pytest.fixture
def peers() -> Iterator[list[RoutingPeer]]:
    made: list[RoutingPeer] = []
    yield made
    for peer in made:
        peer.close()


def _peer(peers: list[RoutingPeer], **kwargs: object) -> RoutingPeer:
    peer = RoutingPeer(**kwargs)  # type: ignore[arg-type]
    peers.append(peer)
    return peer


def test_a_destination_marked_down_in_one_worker_is_skipped_by_all(
        rig: Rig, pysips_env: None, peers: list[RoutingPeer]) -> None:
    down = _peer(peers)  # answers INVITEs 503
    up = f"sip:127.0.0.1:{rig.ports.uas}"
    db = _db(rig.workdir, [down.uri, up])
    server = Server(rig, db)
    try:
        server.find_workers()
        assert set(server.choices().values()) == {down.uri}
        # one call: the first destination refuses it, failure_route marks it inactive (in the
        # worker of that Call-ID only) and the call goes on to the second
        uas = rig.start_uas("uas_call.xml", rig.ports.uas, calls=21)
        first = rig.run_uac("uac_call.xml", calls=1, timeout_s=20)
        assert first.ok and first.successful == 1, rig.report(first)
        assert len(down.calls("INVITE")) == 1
        assert set(server.choices().values()) == {up}, server.log()[-3000:]
        assert server.states() == {down.uri: "Inactive", up: "Active"}
        # twenty calls with Call-IDs of their own, over every worker: none tries it again
        calls = rig.run_uac("uac_call.xml", calls=20, rate=20, timeout_s=30)
        assert calls.ok and calls.successful == 20, rig.report(calls)
        assert len(down.calls("INVITE")) == 1, down.received
        pids = set(re.findall(r"worker (\d+) call", server.log()))
        assert len(pids) >= 3, f"the calls all went to {pids}"
        uas.stop()

        # a worker that starts again (killed and replaced) is given the current states first
        victim, call_id = next(iter(server.by_worker.items()))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pids = worker_pids(rig)
            if victim not in pids and len(pids) == WORKERS:
                break
            time.sleep(0.2)
        replaced, dst = server.ask(call_id)  # waits in the new worker's channel until it is ready
        assert replaced != victim and dst == up, (replaced, victim, dst, server.log()[-3000:])

        # MI ds_set_state, in the main process, brings it back in every worker
        assert mi_datagram(server.mi_port, "ds_set_state",
                           {"state": "a", "group": "1", "address": down.uri}) == "OK"
        server.find_workers()
        assert set(server.choices().values()) == {down.uri}
        assert server.states() == {down.uri: "Active", up: "Active"}
    finally:
        server.close()


def test_the_main_process_writes_back_a_state_set_in_a_worker(
        rig: Rig, pysips_env: None, peers: list[RoutingPeer]) -> None:
    down = _peer(peers)
    up = f"sip:127.0.0.1:{rig.ports.uas}"
    db = _db(rig.workdir, [down.uri, up])
    server = Server(rig, db)
    try:
        uas = rig.start_uas("uas_call.xml", rig.ports.uas, calls=1)
        first = rig.run_uac("uac_call.xml", calls=1, timeout_s=20)
        assert first.ok and first.successful == 1, rig.report(first)
        uas.stop()
        assert rig.proxy is not None
        rig.proxy.stop()  # SIGTERM: the main process flushes at shutdown
        assert _state_column(db, down.uri) == 1
        assert _state_column(db, up) == 0
    finally:
        server.close()


def _failing_call(server: Server, call_id: str) -> Message:
    """An INVITE the only destination refuses: the failure_route counts one failure."""
    caller = Endpoint("caller", Transcript())
    try:
        dialog = Dialog(call_id=call_id, from_uri="sip:caller@127.0.0.1", to_uri="sip:set1@127.0.0.1",
                        from_tag="c", local=caller)
        port = server.rig.ports.proxy
        invite = dialog.request("INVITE", f"sip:set1@127.0.0.1:{port}")
        caller.send(invite, (LOCALHOST, port))
        final = caller.recv_final(timeout=10)
        assert final is not None and final.status >= 500, server.log()[-3000:]  # a 503 goes up as 500
        caller.send(hop_ack(Message.parse(invite.encode()), final), (LOCALHOST, port))
        return final
    finally:
        caller.close()


def test_failures_of_every_worker_count_towards_the_probing_threshold(
        rig: Rig, pysips_env: None, peers: list[RoutingPeer]) -> None:
    only = _peer(peers)  # answers INVITEs 503; OPTIONS never (no probing here: interval 0)
    db = _db(rig.workdir, [only.uri])
    server = Server(rig, db, threshold=3, mark="p")
    try:
        workers = list(server.find_workers().items())
        # three failures, each in another worker: the third takes it to probing (a counter per
        # worker would stand at one in each)
        for n, (_pid, call_id) in enumerate(workers[:3], 1):
            _failing_call(server, call_id)
            expected = "Probing" if n == 3 else "Active"
            assert server.states() == {only.uri: expected}, (n, server.log()[-3000:])
        assert set(server.choices().values()) == {"none"}
    finally:
        server.close()


def test_probing_runs_once_in_the_main_process(
        rig: Rig, pysips_env: None, peers: list[RoutingPeer]) -> None:
    silent = _peer(peers)
    other = _peer(peers)
    other.answer_options = True
    db = _db(rig.workdir, [silent.uri, other.uri])
    server = Server(rig, db, ping=1)
    try:
        started = time.monotonic()
        server.find_workers()
        # no answer: after fr_timeout (2 s) the prober takes it down, for every worker
        server.wait_choices(other.uri, timeout=10)
        assert server.states()[silent.uri] == "Probing"
        time.sleep(3)
        elapsed = time.monotonic() - started
        # one OPTIONS a second to each destination (a retransmission has the same Call-ID),
        # from the main process (its branch mark), not one per process
        for peer in (silent, other):
            probes = peer.calls("OPTIONS")
            assert 1 <= len(probes) <= elapsed + 2, (len(probes), elapsed)
            branches = {r.branch for r in peer.received if r.method == "OPTIONS"}
            assert all(b.startswith("z9hG4bKwmx") for b in branches), branches
        # the event is raised where the state changed: in the main process
        assert rig.proxy is not None and rig.proxy.proc is not None
        main = rig.proxy.proc.pid
        assert f"ds event: worker {main} {silent.uri} inactive (negative probing reply)" in server.log()
        # it answers again: the main process gets the 200 and brings it back everywhere
        silent.answer_options = True
        server.wait_choices(silent.uri, timeout=10)
        assert server.states()[silent.uri] == "Active"
    finally:
        server.close()


def test_ds_reload_reaches_every_worker(rig: Rig, pysips_env: None, peers: list[RoutingPeer]) -> None:
    first = _peer(peers)
    db = _db(rig.workdir, [first.uri])
    server = Server(rig, db)
    try:
        server.find_workers()
        assert set(server.choices().values()) == {first.uri}
        added = _peer(peers)
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO dispatcher (setid, destination, priority) VALUES (1, ?, 20)",
                         (added.uri,))
        assert mi_datagram(server.mi_port, "ds_reload") == "OK"
        assert set(server.choices().values()) == {added.uri}
        assert set(server.states()) == {first.uri, added.uri}
    finally:
        server.close()
