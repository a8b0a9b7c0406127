"""cachedb_local with worker processes (udp_workers=4): one cache, as OpenSIPS's shared memory.

pysips runs as a process; each request has a Call-ID of its own, so the requests are spread
over the workers, and each reply's reason names the worker ($pp) that ran the script:
- a value stored by one worker is fetched by every worker;
- 200 increments of one counter sent at once, handled by every worker, sum to exactly 200, and
  the values cache_add() returned are 1..200, each once (the main process's count, not a copy's);
- a value stored for 3 seconds is found by every worker, then by none;
- a key removed by one worker is gone in every worker.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy_harness import LOCALHOST, Rig, pysips_argv, render_template

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WORKERS = 4
READY_S = 30.0  # five processes start on a loaded two-core machine

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
loadmodule "cachedb_local.so"

route {
	xlog("L_NOTICE", "worker $pp request $rU $ci\\n");
	if ($rU == "store") {
		$var(r) = cache_store("local", "$hdr(X-Key)", "$hdr(X-Value)");
		sl_send_reply(200, "pid=$pp r=$var(r)");
		exit;
	}
	if ($rU == "store-3s") {
		$var(r) = cache_store("local", "$hdr(X-Key)", "$hdr(X-Value)", 3);
		sl_send_reply(200, "pid=$pp r=$var(r)");
		exit;
	}
	if ($rU == "fetch") {
		$var(v) = "none";
		$var(r) = cache_fetch("local", "$hdr(X-Key)", $var(v));
		sl_send_reply(200, "pid=$pp r=$var(r) v=$var(v)");
		exit;
	}
	if ($rU == "remove") {
		$var(r) = cache_remove("local", "$hdr(X-Key)");
		sl_send_reply(200, "pid=$pp r=$var(r)");
		exit;
	}
	if ($rU == "add") {
		$var(r) = cache_add("local", "$hdr(X-Key)", 1, 0, $var(n));
		sl_send_reply(200, "pid=$pp r=$var(r) v=$var(n)");
		exit;
	}
	if ($rU == "count") {
		$var(n) = "none";
		$var(r) = cache_counter_fetch("local", "$hdr(X-Key)", $var(n));
		sl_send_reply(200, "pid=$pp r=$var(r) v=$var(n)");
		exit;
	}
	sl_send_reply(200, "pid=$pp");
}
"""

REASON = re.compile(r"^SIP/2\.0 200 pid=(\d+) r=(-?\d+)(?: v=(\S+))?$")


class Client:
    """One UDP socket sending requests, each with a new Call-ID; replies matched by Call-ID."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCALHOST, 0))
        self.sock.settimeout(10)
        self.local = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def send(self, what: str, key: str, value: str = "") -> str:
        call_id = f"{what}-{uuid.uuid4().hex}"
        branch = f"z9hG4bK{uuid.uuid4().hex[:16]}"
        request = (
            f"MESSAGE sip:{what}@{LOCALHOST}:{self.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCALHOST}:{self.local};branch={branch}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:test@{LOCALHOST}>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:{what}@{LOCALHOST}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 MESSAGE\r\n"
            f"X-Key: {key}\r\nX-Value: {value}\r\nContent-Length: 0\r\n\r\n")
        self.sock.sendto(request.encode(), (LOCALHOST, self.port))
        return call_id

    def replies(self, call_ids: list[str]) -> dict[str, tuple[int, int, str | None]]:
        """call id -> (pid, result code, value) of each reply, in any order."""
        wanted = set(call_ids)
        got: dict[str, tuple[int, int, str | None]] = {}
        while wanted - got.keys():
            data = self.sock.recv(65535).decode()
            first = data.split("\r\n", 1)[0]
            call_id = re.search(r"(?mi)^Call-ID:\s*(\S+)", data)
            match = REASON.match(first)
            assert call_id is not None and match is not None, data
            if call_id.group(1) in wanted:
                got[call_id.group(1)] = (int(match.group(1)), int(match.group(2)), match.group(3))
        return got

    def ask(self, what: str, key: str, value: str = "") -> tuple[int, int, str | None]:
        call_id = self.send(what, key, value)
        return self.replies([call_id])[call_id]

    def in_every_worker(self, what: str, key: str) -> dict[int, set[tuple[int, str | None]]]:
        """Asks until every worker answered (new Call-IDs); pid -> its (result, value) answers."""
        seen: dict[int, set[tuple[int, str | None]]] = {}
        for _ in range(200):
            call_ids = [self.send(what, key) for _ in range(8)]
            for pid, code, value in self.replies(call_ids).values():
                seen.setdefault(pid, set()).add((code, value))
            if len(seen) == WORKERS:
                return seen
        raise AssertionError(f"only workers {sorted(seen)} answered")


@pytest.fixture
def client(rig: Rig) -> Iterator[Client]:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template = rig.workdir / "cache.cfg.in"
    template.write_text(SCRIPT)
    cfg = render_template(template, rig.ports.template_values(), rig.workdir / "cache.cfg")
    rig.start_proxy("pysips", pysips_argv(cfg), ready_timeout=READY_S)
    c = Client(rig.ports.proxy)
    yield c
    c.close()


def proxy_log(rig: Rig) -> str:
    assert rig.proxy is not None
    return Path(rig.proxy.log_path).read_text(errors="replace")


def test_a_value_stored_by_one_worker_is_fetched_by_every_worker(rig: Rig, client: Client) -> None:
    stored_by, code, _ = client.ask("store", "greeting", "hello")
    assert code == 1
    seen = client.in_every_worker("fetch", "greeting")
    assert stored_by in seen and len(seen) == WORKERS  # the others are other processes
    assert all(answers == {(1, "hello")} for answers in seen.values()), seen
    # the log shows the same: each worker's pid logged its own fetches
    assert len(set(re.findall(r"worker (\d+) request fetch", proxy_log(rig)))) == WORKERS


def test_increments_from_every_worker_at_once_are_all_counted(client: Client) -> None:
    call_ids = [client.send("add", "n") for _ in range(200)]
    replies = client.replies(call_ids)
    assert len({pid for pid, _, _ in replies.values()}) == WORKERS
    assert all(code == 1 for _, code, _ in replies.values())
    # what each cache_add returned is the main process's count: each value once
    assert sorted(int(value or 0) for _, _, value in replies.values()) == list(range(1, 201))
    seen = client.in_every_worker("count", "n")
    assert all(answers == {(1, "200")} for answers in seen.values()), seen


def test_an_expiring_value_expires_in_every_worker(client: Client) -> None:
    started = time.monotonic()
    assert client.ask("store-3s", "brief", "here")[1] == 1
    seen = client.in_every_worker("fetch", "brief")
    assert time.monotonic() - started < 2.5, "too slow to see the value before it expires"
    assert all(answers == {(1, "here")} for answers in seen.values()), seen
    time.sleep(max(0.0, started + 3.2 - time.monotonic()))
    seen = client.in_every_worker("fetch", "brief")
    assert all(answers == {(-2, "none")} for answers in seen.values()), seen


def test_a_key_removed_by_one_worker_is_gone_in_every_worker(client: Client) -> None:
    assert client.ask("store", "doomed", "x")[1] == 1
    assert all(a == {(1, "x")} for a in client.in_every_worker("fetch", "doomed").values())
    removed_by, code, _ = client.ask("remove", "doomed")
    assert code == 1
    seen = client.in_every_worker("fetch", "doomed")
    assert removed_by in seen
    assert all(answers == {(-2, "none")} for answers in seen.values()), seen
