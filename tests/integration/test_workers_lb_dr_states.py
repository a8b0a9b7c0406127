"""load_balancer and drouting destination states under worker processes (udp_workers=4,
docs/workers.md), as OpenSIPS keeps them in shared memory: pysips started as a process, the
tables in SQLite, the destinations played by RoutingPeer; each check asks every one of the four
workers what it would choose now (tests/integration/worker_choices.py).

- a destination disabled by the script in one worker (lb_disable_dst(), dr_disable() in
  failure_route) is left out by every worker, and MI (served by the main process) shows it;
- MI lb_status / dr_gw_status / dr_carrier_status change it in every worker;
- probing runs once, in the main process: one OPTIONS per interval, the silent destination is
  disabled in every worker and enabled again when it answers;
- MI lb_reload / dr_reload give every worker the new table.
"""

from __future__ import annotations

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
from tests.integration.worker_choices import SCRIPT_HEAD, WorkerServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
__all__ = ["pysips_env"]

HEAD = SCRIPT_HEAD

# X-Dst: the enabled destinations of the group, in the table's order (lb_is_destination with
# active=1 for each one the test named)
LB_SCRIPT = HEAD + """\
loadmodule "dialog.so"
loadmodule "load_balancer.so"
modparam("load_balancer", "db_url", "sqlite://@@DB@@")
modparam("load_balancer", "probing_interval", @@PING@@)
modparam("load_balancer", "probing_from", "sip:prober@127.0.0.1")

route {
    if (is_method("OPTIONS") && $rU == NULL) {
        sl_send_reply(200, "OK");
        exit;
    }
    if (is_method("MESSAGE")) {
        $var(dst) = "";
        if (lb_is_destination("127.0.0.1", @@PORT_A@@, 1, 1)) $var(dst) = $var(dst) + "A";
        if (lb_is_destination("127.0.0.1", @@PORT_B@@, 1, 1)) $var(dst) = $var(dst) + "B";
        if (lb_is_destination("127.0.0.1", @@PORT_C@@, 1, 1)) $var(dst) = $var(dst) + "C";
        append_to_reply("X-Dst: $var(dst)\\r\\n");
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
    if (!lb_start(1, "pstn")) {
        send_reply(503, "No destination");
        exit;
    }
    t_on_failure("next");
    t_relay();
}

failure_route[next] {
    if (t_check_status("503")) {
        lb_disable_dst();
        if (lb_next()) {
            t_on_failure("next");
            t_relay();
        }
    }
}
"""

# X-Dst: the gateway do_routing() picks first, and $avp(gw_id) names it
DR_SCRIPT = HEAD + """\
loadmodule "drouting.so"
modparam("drouting", "db_url", "sqlite://@@DB@@")
modparam("drouting", "probing_interval", @@PING@@)
modparam("drouting", "probing_from", "sip:prober@127.0.0.1")
modparam("drouting", "gw_id_avp", "$avp(gw_id)")

route {
    if (is_method("OPTIONS") && $rU == NULL) {
        sl_send_reply(200, "OK");
        exit;
    }
    if (is_method("MESSAGE")) {
        if (do_routing(1))
            append_to_reply("X-Dst: $avp(gw_id)\\r\\n");
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
    if (!do_routing(1)) {
        send_reply(503, "No route");
        exit;
    }
    t_on_failure("next");
    t_relay();
}

failure_route[next] {
    if (t_check_status("503")) {
        dr_disable();
        if (use_next_gw()) {
            t_on_failure("next");
            t_relay();
        }
    }
}
"""


@pytest.fixture
def peers() -> Iterator[list[RoutingPeer]]:
    made = [RoutingPeer(), RoutingPeer(invite_code=486), RoutingPeer(invite_code=486)]
    yield made
    for peer in made:
        peer.close()


def _failing_call(server: WorkerServer) -> None:
    """An INVITE whose first destination answers 503: failure_route disables it (in the worker
    of this Call-ID only) and tries the next, which answers 486."""
    caller = Endpoint("caller", Transcript())
    try:
        dialog = Dialog(call_id=f"fail-{time.monotonic_ns()}", from_uri="sip:caller@127.0.0.1",
                        to_uri="sip:4930@127.0.0.1", from_tag="c", local=caller)
        port = server.rig.ports.proxy
        invite = dialog.request("INVITE", f"sip:4930@127.0.0.1:{port}")
        caller.send(invite, (LOCALHOST, port))
        final = caller.recv_final(timeout=10)
        assert final is not None and final.status == 486, server.log()[-3000:]
        caller.send(hop_ack(Message.parse(invite.encode()), final), (LOCALHOST, port))
    finally:
        caller.close()


def _probes_once(peer: RoutingPeer, elapsed: float) -> None:
    """One OPTIONS a second (a retransmission has the same Call-ID), from the main process (its
    branch mark), not one per process."""
    probes = peer.calls("OPTIONS")
    assert 1 <= len(probes) <= elapsed + 2, (len(probes), elapsed)
    branches = {r.branch for r in peer.received if r.method == "OPTIONS"}
    assert all(b.startswith("z9hG4bKwmx") for b in branches), branches


# ---------------------------------------------------------------------------------------------
# load_balancer


def _lb_db(workdir: Path, peers: list[RoutingPeer], probe_modes: tuple[int, int]) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    db = create_sqlite(workdir / "lb.db", "load_balancer")
    with sqlite3.connect(db) as conn:
        # A has the most room: lb_start() picks it first
        conn.executemany(
            "INSERT INTO load_balancer (id, group_id, dst_uri, resources, probe_mode) VALUES (?,1,?,?,?)",
            [(1, peers[0].uri, "pstn=100", probe_modes[0]), (2, peers[1].uri, "pstn=10", probe_modes[1])])
    return db


def _lb_server(rig: Rig, peers: list[RoutingPeer], db: Path, ping: int = 0) -> WorkerServer:
    return WorkerServer(rig, LB_SCRIPT, DB=db, PING=ping, PORT_A=peers[0].port, PORT_B=peers[1].port,
                        PORT_C=peers[2].port)


def _lb_enabled(server: WorkerServer) -> dict[int, str]:
    listed = mi_datagram(server.mi_port, "lb_list")
    return {d["id"]: d["enabled"] for d in listed["Destinations"]}


def test_lb_disabled_in_one_worker_is_left_out_by_all(
        rig: Rig, pysips_env: None, peers: list[RoutingPeer]) -> None:
    db = _lb_db(rig.workdir, peers, (0, 0))
    server = _lb_server(rig, peers, db)
    try:
        server.find_workers()
        assert set(server.choices().values()) == {"AB"}
        _failing_call(server)
        assert set(server.choices().values()) == {"B"}, server.log()[-3000:]
        assert _lb_enabled(server) == {1: "no", 2: "yes"}
        assert mi_datagram(server.mi_port, "lb_status", {"destination_id": 1, "new_status": 1}) == "OK"
        assert set(server.choices().values()) == {"AB"}
        assert mi_datagram(server.mi_port, "lb_status", {"destination_id": 2, "new_status": 0}) == "OK"
        assert set(server.choices().values()) == {"A"}

        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO load_balancer (id, group_id, dst_uri, resources) VALUES (3,1,?,?)",
                         (peers[2].uri, "pstn=5"))
        assert mi_datagram(server.mi_port, "lb_reload") == "OK"
        # the reload keeps the states (B disabled by MI) and adds C, in every worker
        assert set(server.choices().values()) == {"AC"}
    finally:
        server.close()


def test_lb_probing_runs_once_in_the_main_process(
        rig: Rig, pysips_env: None, peers: list[RoutingPeer]) -> None:
    silent, other = peers[0], peers[1]
    other.answer_options = True
    db = _lb_db(rig.workdir, peers, (2, 2))  # probe_mode 2: always probed
    server = _lb_server(rig, peers, db, ping=1)
    try:
        started = time.monotonic()
        server.find_workers()
        server.wait_choices("B", timeout=10)  # no answer: disabled after fr_timeout, everywhere
        assert _lb_enabled(server) == {1: "no", 2: "yes"}
        time.sleep(3)
        for peer in (silent, other):
            _probes_once(peer, time.monotonic() - started)
        silent.answer_options = True
        server.wait_choices("AB", timeout=10)
    finally:
        server.close()


# ---------------------------------------------------------------------------------------------
# drouting


def _dr_db(workdir: Path, peers: list[RoutingPeer], probe_modes: tuple[int, int]) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    db = create_sqlite(workdir / "dr.db", "drouting")
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO dr_gateways (gwid, address, probe_mode) VALUES (?,?,?)",
                         [("a", f"127.0.0.1:{peers[0].port}", probe_modes[0]),
                          ("b", f"127.0.0.1:{peers[1].port}", probe_modes[1])])
        conn.execute("INSERT INTO dr_carriers (carrierid, gwlist) VALUES ('car', 'b')")
        conn.execute("INSERT INTO dr_rules (groupid, prefix, priority, gwlist) "
                     "VALUES ('1', '49', 0, 'a,#car')")
    return db


def _dr_states(server: WorkerServer) -> dict[str, str]:
    listed = mi_datagram(server.mi_port, "dr_gw_status")
    return {g["ID"]: g["State"] for g in listed["Gateways"]}


def test_dr_disabled_in_one_worker_is_left_out_by_all(
        rig: Rig, pysips_env: None, peers: list[RoutingPeer]) -> None:
    db = _dr_db(rig.workdir, peers, (0, 0))
    server = WorkerServer(rig, DR_SCRIPT, DB=db, PING=0)
    try:
        server.find_workers()
        assert set(server.choices().values()) == {"a"}
        _failing_call(server)
        assert set(server.choices().values()) == {"b"}, server.log()[-3000:]
        assert _dr_states(server) == {"a": "Inactive", "b": "Active"}
        assert mi_datagram(server.mi_port, "dr_gw_status", {"gw_id": "a", "status": 1}) == "OK"
        assert set(server.choices().values()) == {"a"}
        assert mi_datagram(server.mi_port, "dr_gw_status", {"gw_id": "a", "status": 0}) == "OK"
        assert mi_datagram(server.mi_port, "dr_carrier_status", {"carrier_id": "car", "status": 0}) == "OK"
        assert set(server.choices().values()) == {"none"}

        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO dr_gateways (gwid, address) VALUES ('c', ?)",
                         (f"127.0.0.1:{peers[2].port}",))
            conn.execute("UPDATE dr_rules SET gwlist = 'a,#car,c'")
        assert mi_datagram(server.mi_port, "dr_reload") == "OK"
        # the reload keeps the states (a and the carrier off by MI) and adds c, in every worker
        assert set(server.choices().values()) == {"c"}
    finally:
        server.close()


def test_dr_probing_runs_once_in_the_main_process(
        rig: Rig, pysips_env: None, peers: list[RoutingPeer]) -> None:
    silent, other = peers[0], peers[1]
    other.answer_options = True
    db = _dr_db(rig.workdir, peers, (2, 2))  # probe_mode 2: always probed
    server = WorkerServer(rig, DR_SCRIPT, DB=db, PING=1)
    try:
        started = time.monotonic()
        server.find_workers()
        server.wait_choices("b", timeout=10)
        assert _dr_states(server)["a"] == "Inactive"
        time.sleep(3)
        for peer in (silent, other):
            _probes_once(peer, time.monotonic() - started)
        silent.answer_options = True
        server.wait_choices("a", timeout=10)
        assert _dr_states(server)["a"] == "Active"
    finally:
        server.close()
