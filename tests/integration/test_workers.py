"""Worker processes (udp_workers=4, docs/workers.md): pysips started as a process, real peers.

- calls and CANCELs through a record-routing stateful script with sipp: every message of a Call-ID
  (INVITE, replies, ACK, BYE, CANCEL) is logged by the one worker that holds its transaction, and
  the calls are spread over several workers;
- a REGISTER handled in one worker is found by an INVITE handled in another;
- a WebSocket UA (a browser's shape) registered through the main process's connection is called
  from a UDP phone: the worker that routes the call sends over that connection;
- a worker killed with SIGKILL is replaced and calls go on;
- SIGTERM with usrloc write-back (db_mode 2) writes every binding once, from the main process;
- MI statistics (served by the main process) are the workers' sums.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from pysips.devcert import make_dev_certificate
from tests.integration.proxy_harness import (
    LOCALHOST,
    Rig,
    free_port,
    mi_datagram,
    pysips_argv,
    render_template,
    rig_in,
)
from tests.integration.test_registration import Ua, invite_arrives
from tests.integration.test_transports_calls import all_rr, check_double_rr, seed_without_rtpengine
from tests.integration.ws_ua import WsUa

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WORKERS = 4
READY_S = 30.0  # five processes start on a loaded two-core machine

# record-routing and stateful; every request and every relayed reply logged with the worker's pid
SCRIPT = """\
log_level=3
stderror_enabled=yes
syslog_enabled=no
udp_workers=4
auto_aliases=no
socket=udp:127.0.0.1:@@PROXY_PORT@@

loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
modparam("tm", "fr_timeout", @@FR_TIMEOUT@@)
modparam("tm", "fr_inv_timeout", @@FR_INV_TIMEOUT@@)
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "sipmsgops.so"
loadmodule "usrloc.so"
modparam("usrloc", "db_mode", @@DB_MODE@@)
modparam("usrloc", "db_url", "@@DB_URL@@")
loadmodule "registrar.so"
loadmodule "mi_datagram.so"
modparam("mi_datagram", "socket_name", "udp:127.0.0.1:@@MI_PORT@@")
@@DB_MODULE@@
@@EXTRA_MODULES@@

route {
	xlog("L_NOTICE", "worker $pp request $rm $ci\\n");
	if (has_totag()) {
		if (loose_route()) {
			t_relay();
			exit;
		}
		if (is_method("ACK")) {
			if (t_check_trans())
				t_relay();
			exit;
		}
		sl_send_reply(404, "Not here");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans())
			t_relay();
		exit;
	}
	t_check_trans();
	if (is_method("REGISTER")) {
		@@REGISTER_FLAGS@@
		append_to_reply("X-Worker: $pp\\r\\n");
		if (!save("location"))
			sl_reply_error();
		exit;
	}
	@@INVITE_EXTRA@@
	record_route();
	append_hf("X-Worker: $pp\\r\\n");
	if ($rU == "callee") {
		$du = "sip:127.0.0.1:@@UAS_PORT@@";
	} else if (!lookup("location")) {
		sl_send_reply(404, "Not Found");
		exit;
	}
	t_on_reply("logged");
	t_relay();
}

onreply_route[logged] {
	xlog("L_NOTICE", "worker $pp reply $rs $ci\\n");
}
"""

LOG_LINE = re.compile(r"worker (\d+) (request|reply) (\S+) (\S+)$", re.M)


# nathelper pings every binding each second; two unanswered pings remove it
PINGING = """\
loadmodule "nathelper.so"
modparam("usrloc", "nat_bflag", "NAT")
modparam("nathelper", "natping_interval", 1)
modparam("nathelper", "sipping_bflag", "SIPPING")
modparam("nathelper", "sipping_from", "sip:pinger@127.0.0.1")
modparam("nathelper", "remove_on_timeout_bflag", "PING_REMOVE")
modparam("nathelper", "ping_threshold", 1)
modparam("nathelper", "max_pings_lost", 2)
"""


def start(rig: Rig, db: Path | None = None, db_mode: int = 0, pinging: bool = False,
          dialogs: bool = False) -> int:
    """pysips on SCRIPT; returns the MI datagram port."""
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template = rig.workdir / "workers.cfg.in"
    template.write_text(SCRIPT)
    mi_port = free_port()
    values = rig.ports.template_values(
        MI_PORT=mi_port, DB_MODE=db_mode,
        DB_URL=f"sqlite://{db}" if db is not None else "sqlite:///nonexistent/unused.db",
        DB_MODULE='loadmodule "db_sqlite.so"' if db is not None else "",
        EXTRA_MODULES=(PINGING if pinging else "") + ('loadmodule "dialog.so"' if dialogs else ""),
        INVITE_EXTRA='if (is_method("INVITE")) create_dialog();' if dialogs else "",
        REGISTER_FLAGS="setbflag(NAT); setbflag(SIPPING); setbflag(PING_REMOVE);" if pinging else "")
    cfg = render_template(template, values, rig.workdir / "workers.cfg")
    rig.start_proxy("pysips", pysips_argv(cfg), ready_timeout=READY_S)
    return mi_port


def worker_pids(rig: Rig) -> set[int]:
    """The main process's children: its workers."""
    assert rig.proxy is not None and rig.proxy.proc is not None
    main = rig.proxy.proc.pid
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == main:
                found.add(int(entry.name))
    return found


def workers_by_call(log: str) -> dict[str, set[int]]:
    """Call-ID -> the pids that logged one of its messages (OPTIONS probes left out)."""
    seen: dict[str, set[int]] = collections.defaultdict(set)
    for pid, _kind, what, callid in LOG_LINE.findall(log):
        if what != "OPTIONS":
            seen[callid].add(int(pid))
    return seen


def proxy_log(rig: Rig) -> str:
    assert rig.proxy is not None
    return rig.proxy.log_path.read_text(errors="replace")


def test_calls_and_cancels_stay_with_one_worker(rig: Rig) -> None:
    start(rig)
    pids = worker_pids(rig)
    assert len(pids) == WORKERS, pids
    uas = rig.start_uas("uas_call.xml", calls=40)
    calls = rig.run_uac("uac_call.xml", "callee", calls=40, rate=20, timeout_s=30)
    assert calls.ok and calls.successful == 40, rig.report(calls)
    uas.stop()
    uas = rig.start_uas("uas_ring_cancel.xml", calls=10)
    cancels = rig.run_uac("uac_cancel.xml", "callee", calls=10, rate=10, timeout_s=30)
    assert cancels.ok and cancels.successful == 10, rig.report(cancels)
    uas.stop()

    seen = workers_by_call(proxy_log(rig))
    methods: dict[str, set[str]] = collections.defaultdict(set)
    for _pid, kind, what, callid in LOG_LINE.findall(proxy_log(rig)):
        methods[callid].add(what if kind == "request" else "reply")
    assert len(seen) == 50, sorted(seen)
    for callid, handled_by in seen.items():
        # INVITE, its replies, then ACK+BYE (calls) or CANCEL (cancels): all in one worker
        assert len(handled_by) == 1, (callid, handled_by, methods[callid])
        assert methods[callid] >= {"INVITE", "reply"} and methods[callid] & {"BYE", "CANCEL"}, methods[callid]
    used = set().union(*seen.values())
    assert used <= pids and len(used) >= 2, (used, pids)


def test_register_in_one_worker_found_by_invite_in_another(rig: Rig) -> None:
    start(rig)
    phones = [Ua(rig.ports.proxy) for _ in range(8)]
    caller = Ua(rig.ports.proxy)
    try:
        registered_by: dict[str, int] = {}
        for i, phone in enumerate(phones):
            reply = phone.register(f"user{i}", phone.contact(f"user{i}"), 600)
            assert reply.status == 200, reply.text
            registered_by[f"user{i}"] = int(reply.values("x-worker")[0])
        assert len(set(registered_by.values())) >= 2, registered_by
        crossed = 0
        for i, phone in enumerate(phones):
            user = f"user{i}"
            callid = caller.invite(user)
            while True:
                data = phone.recv(3.0)
                if data.startswith(b"INVITE ") and callid.encode() in data:
                    break
            routed_by = int(re.search(rb"X-Worker: (\d+)", data).group(1))  # type: ignore[union-attr]
            crossed += routed_by != registered_by[user]
        # eight Call-IDs hashed over four workers: most INVITEs land in another worker than
        # their REGISTER did, and every one of them found the binding
        assert crossed >= 1, registered_by
    finally:
        for peer in [*phones, caller]:
            peer.close()


def test_killed_worker_is_replaced_and_calls_go_on(rig: Rig) -> None:
    start(rig)
    before = worker_pids(rig)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = worker_pids(rig)
        if len(now) == WORKERS and victim not in now:
            break
        time.sleep(0.1)
    now = worker_pids(rig)
    assert victim not in now and len(now) == WORKERS, (before, now)
    log = proxy_log(rig)
    assert f"(pid {victim}) died (killed by signal 9): starting a new one" in log, log[-2000:]
    assert rig.proxy is not None and rig.proxy.alive()
    # every worker serves again, the new one included: calls hashed to all of them succeed
    time.sleep(1.0)
    uas = rig.start_uas("uas_call.xml", calls=30)
    calls = rig.run_uac("uac_call.xml", "callee", calls=30, rate=15, timeout_s=30)
    uas.stop()
    assert calls.ok and calls.successful == 30, rig.report(calls)
    replacement = now - before
    assert any(replacement & pids for pids in workers_by_call(proxy_log(rig)).values()), replacement


def test_sigterm_flushes_write_back_once(rig: Rig, tmp_path: Path) -> None:
    db = tmp_path / "location.db"
    start(rig, db, db_mode=2)
    phones = [Ua(rig.ports.proxy) for _ in range(6)]
    try:
        workers = set()
        for i, phone in enumerate(phones):
            reply = phone.register(f"wb{i}", phone.contact(f"wb{i}"), 600)
            assert reply.status == 200, reply.text
            workers.add(int(reply.values("x-worker")[0]))
        assert len(workers) >= 2, workers
    finally:
        for phone in phones:
            phone.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM location").fetchone()[0] == 0  # write-back: not yet
    assert rig.proxy is not None and rig.proxy.proc is not None
    rig.proxy.proc.send_signal(signal.SIGTERM)
    assert rig.proxy.proc.wait(timeout=20) == 0, proxy_log(rig)[-3000:]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT username, contact FROM location ORDER BY username").fetchall()
    assert [r[0] for r in rows] == [f"wb{i}" for i in range(6)], rows
    assert not worker_pids(rig)


def test_mi_statistics_are_summed(rig: Rig) -> None:
    mi_port = start(rig)
    uas = rig.start_uas("uas_call.xml", calls=20)
    calls = rig.run_uac("uac_call.xml", "callee", calls=20, rate=20, timeout_s=30)
    uas.stop()
    assert calls.ok and calls.successful == 20, rig.report(calls)
    # no waiting for the workers' periodic reports: a statistics command asks them first (a
    # check right after a call, as the SIPssert tests make, must see the call)
    stats = mi_datagram(mi_port, "get_statistics", {"statistics": ["rcv_requests", "UAS_transactions"]})
    seen = workers_by_call(proxy_log(rig))
    assert len(set().union(*seen.values())) >= 2
    # INVITE, ACK, BYE per call, plus the OPTIONS readiness probes
    assert stats["core:rcv_requests"] >= 60, stats
    assert stats["tm:UAS_transactions"] >= 40, stats  # INVITE and BYE of each call


def test_udp_phone_calls_websocket_ua(tmp_path: Path) -> None:
    cert, key = make_dev_certificate(tmp_path / "certs")
    with rig_in(tmp_path / "rig") as rig:
        ws, wss, tls = free_port(), free_port(), free_port()
        cfg = tmp_path / "residential-ws.cfg"
        cfg.write_text(seed_without_rtpengine(rig.ports.proxy, ws, wss, tls, cert, key))
        rig.start_proxy("pysips", [*pysips_argv(cfg), "--workers", str(WORKERS)], ready_timeout=READY_S)
        assert len(worker_pids(rig)) == WORKERS
        domain = f"{LOCALHOST}:{rig.ports.proxy}"

        async def run() -> None:
            ua = await WsUa.connect(f"ws://{LOCALHOST}:{ws}/", "bob", domain)
            reg = await ua.register()
            assert reg.status == 200, reg.first_line
            # several calls: their Call-IDs hash to several workers, each reaches the browser
            for _ in range(4):
                ua.received.clear()
                result = await asyncio.to_thread(rig.run_uac, "ws_uac_hangup.xml", "bob", timeout_s=10)
                assert result.ok and result.successful == 1, rig.report(result)
                invite = await ua.wait_request("INVITE")
                check_double_rr(all_rr(invite), (ws, "ws"), (rig.ports.proxy, None))
                await ua.wait_request("BYE", invite.get("call-id"))
            await ua.close()

        asyncio.run(run())


def test_unchanged_with_one_worker(rig: Rig) -> None:
    """udp_workers=1 keeps the single process (no children), as before workers existed."""
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template = rig.workdir / "one.cfg.in"
    template.write_text(SCRIPT.replace("udp_workers=4", "udp_workers=1"))
    values = rig.ports.template_values(MI_PORT=free_port(), DB_MODE=0, DB_URL="sqlite:///nonexistent/x.db",
                                       DB_MODULE="", EXTRA_MODULES="", REGISTER_FLAGS="", INVITE_EXTRA="")
    rig.start_proxy("pysips", pysips_argv(render_template(template, values, rig.workdir / "one.cfg")))
    assert worker_pids(rig) == set()
    with_caller = Ua(rig.ports.proxy)
    phone = Ua(rig.ports.proxy)
    try:
        assert phone.register("solo", phone.contact("solo"), 60).status == 200
        assert invite_arrives(with_caller, phone, "solo")
    finally:
        with_caller.close()
        phone.close()


def answer_pings(phone: Ua, seconds: float) -> int:
    """Answers every OPTIONS that reaches `phone` for `seconds` with a 200; returns how many."""
    answered = 0
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            data = phone.recv(left)
        except TimeoutError:
            break
        if not data.startswith(b"OPTIONS "):
            continue
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        keep = [line for line in head[1:]
                if line.split(b":", 1)[0].strip().lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
        reply = b"\r\n".join([b"SIP/2.0 200 OK", *keep, b"Content-Length: 0", b"", b""])
        phone.sock.sendto(reply, (LOCALHOST, rig_port(data)))
        answered += 1
    return answered


def rig_port(options: bytes) -> int:
    """Where a ping's answer goes: the top Via's port (the proxy's socket)."""
    found = re.search(rb"Via: SIP/2.0/UDP [^:;]+:(\d+)", options)
    assert found is not None, options[:300]
    return int(found.group(1))


def test_pings_sent_once_and_their_replies_found(rig: Rig) -> None:
    """nathelper pings from one process (the owner of the tables), not from each worker; the
    answers, whatever worker their Call-ID hashes to, reach the pinger (the Via branch's mark):
    an answering phone keeps its binding, a silent one loses it."""
    start(rig, pinging=True)
    talker, silent, caller = Ua(rig.ports.proxy), Ua(rig.ports.proxy), Ua(rig.ports.proxy)
    try:
        assert talker.register("talker", talker.contact("talker"), 600).status == 200
        assert silent.register("silent", silent.contact("silent"), 600).status == 200
        pings = answer_pings(talker, 5.0)
        # one ping a second, from one process: about five (four workers and the main process
        # pinging would make twenty-five)
        assert 3 <= pings <= 7, pings
        assert invite_arrives(caller, talker, "talker"), proxy_log(rig)[-3000:]
        callid = caller.invite("silent")
        assert caller.final(callid=callid).status == 404, proxy_log(rig)[-3000:]
    finally:
        for peer in (talker, silent, caller):
            peer.close()


def test_mi_lists_the_dialogs_of_every_worker(rig: Rig) -> None:
    """dlg_list, asked of the main process, merges the dialogs each worker holds."""
    mi_port = start(rig, dialogs=True)
    uas = rig.start_uas("uas_call.xml", calls=8)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # eight calls held four seconds each
        running = pool.submit(rig.run_uac, "uac_call.xml", "callee", calls=8, rate=20, duration_ms=4000,
                              timeout_s=30)
        time.sleep(2.5)
        during = mi_datagram(mi_port, "dlg_list")
        result = running.result(timeout=60)
    uas.stop()
    assert result.ok and result.successful == 8, rig.report(result)
    dialogs = during["Dialogs"]
    assert len(dialogs) == 8, during
    assert {d["state"] for d in dialogs} == {4}, dialogs
    callids = {d["callid"] for d in dialogs}
    seen = workers_by_call(proxy_log(rig))
    assert len(set().union(*(seen[c] for c in callids))) >= 2, seen
    after = mi_datagram(mi_port, "dlg_list")["Dialogs"]
    assert all(d["state"] == 5 for d in after), after


def test_message_without_call_id_answered_400_by_a_worker(rig: Rig) -> None:
    """No Call-ID to hash: the message goes to a worker by its source address, which answers 400
    as the single process does; keepalives (CRLF) are dropped on the way."""
    start(rig)
    peer = Ua(rig.ports.proxy)
    try:
        peer.sock.sendto(b"\r\n\r\n", (LOCALHOST, rig.ports.proxy))
        peer.send("\n".join([
            f"OPTIONS sip:{LOCALHOST}:{rig.ports.proxy} SIP/2.0",
            f"Via: SIP/2.0/UDP {LOCALHOST}:{peer.port};branch=z9hG4bKnocallid;rport",
            f"From: <sip:a@{LOCALHOST}>;tag=1", f"To: <sip:b@{LOCALHOST}>", "CSeq: 1 OPTIONS",
            "Max-Forwards: 70", "Content-Length: 0", "", ""]))
        answer = peer.recv(5.0)
        assert answer.startswith(b"SIP/2.0 400 "), answer[:200]
    finally:
        peer.close()
