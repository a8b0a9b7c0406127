"""Registration through `pysips -f`: the seed's REGISTER handling proven with real peers.

The script below is the seed's residential routing (fix_nated_register() + save("location") for
REGISTER, lookup("location", "m") for calls, record_route(), t_relay()) trimmed to UDP. A raw
Python UDP client checks what the 200 OK lists (register, refresh, expiry, unregister,
`Contact: *`); sipp registers a UAS which then receives a call from a sipp UAC through lookup();
restarts after SIGKILL prove write-through (db_mode 1) and write-back (db_mode 2) persistence.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy_harness import (
    LOCALHOST,
    Rig,
    SippProcess,
    pysips_argv,
    render_template,
    sipp_argv,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = """\
log_level=@@LOG_LEVEL@@
stderror_enabled=yes
syslog_enabled=no
udp_workers=1
auto_aliases=no
socket=udp:127.0.0.1:@@PROXY_PORT@@

loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
modparam("tm", "fr_timeout", @@FR_TIMEOUT@@)
modparam("tm", "fr_inv_timeout", @@FR_INV_TIMEOUT@@)
loadmodule "rr.so"
modparam("rr", "append_fromtag", 0)
loadmodule "maxfwd.so"
loadmodule "sipmsgops.so"
loadmodule "usrloc.so"
modparam("usrloc", "nat_bflag", "NAT")
modparam("usrloc", "db_mode", @@DB_MODE@@)
modparam("usrloc", "db_url", "@@DB_URL@@")
modparam("usrloc", "timer_interval", @@TIMER_INTERVAL@@)
loadmodule "registrar.so"
modparam("registrar", "min_expires", 1)
loadmodule "nathelper.so"
modparam("registrar|nathelper", "received_avp", "$avp(rcv)")
@@DB_MODULE@@

route{
	if (!mf_process_maxfwd_header(10)) {
		sl_send_reply(483, "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) {
			route(relay);
		} else {
			if (is_method("ACK")) {
				if (t_check_trans())
					t_relay();
				exit;
			}
			sl_send_reply(404, "Not here");
		}
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans())
			t_relay();
		exit;
	}
	t_check_trans();
	if (!is_method("REGISTER|MESSAGE"))
		record_route();
	# the seed: consider the client is behind NAT - always fix the contact
	fix_nated_contact();
	if (is_method("REGISTER")) {
		fix_nated_register();
		if (!save("location"))
			sl_reply_error();
		exit;
	}
	if ($rU == NULL) {
		sl_send_reply(484, "Address Incomplete");
		exit;
	}
	if (!lookup("location", "m")) {
		t_newtran();
		t_reply(404, "Not Found");
		exit;
	}
	route(relay);
}

route[relay] {
	if (!t_relay())
		send_reply(500, "Internal Error");
	exit;
}
"""


def start(rig: Rig, db_mode: int = 0, timer_interval: int = 60, db: Path | None = None) -> Path:
    """Renders the script (db_mode, SQLite file) and starts pysips; returns the rendered config."""
    template = rig.workdir / "registration.cfg.in"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(SCRIPT)
    url = f"sqlite://{db}" if db is not None else "sqlite:///nonexistent/unused.db"
    values = rig.ports.template_values(
        DB_MODE=db_mode, DB_URL=url, TIMER_INTERVAL=timer_interval,
        DB_MODULE='loadmodule "db_sqlite.so"' if db is not None else "",
    )
    cfg = render_template(template, values, rig.workdir / "registration.cfg")
    rig.start_proxy("pysips", pysips_argv(cfg))
    return cfg


def kill_and_restart(rig: Rig, cfg: Path, name: str) -> None:
    """SIGKILL (no shutdown hook runs, nothing is flushed), then a fresh process on the same config."""
    assert rig.proxy is not None and rig.proxy.proc is not None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(rig.proxy.proc.pid, signal.SIGKILL)
    rig.proxy.proc.wait(timeout=5)
    rig.start_proxy(name, pysips_argv(cfg))


# ---------------------------------------------------------------------------------------------
# a raw UDP user agent


class Reply:
    def __init__(self, data: bytes) -> None:
        head = data.decode("utf-8", "replace").split("\r\n\r\n", 1)[0]
        lines = head.split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip().lower(), value.strip()))
        self.text = head

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]

    def bindings(self) -> dict[str, int]:
        """Contact URI -> expires of every binding the 200 OK lists."""
        out: dict[str, int] = {}
        for value in self.values("contact") + self.values("m"):
            for part in re.findall(r"<([^>]+)>([^,]*)", value):
                uri, params = part
                found = re.search(r";expires=(\d+)", params)
                assert found is not None, f"binding without expires: {value!r}\n{self.text}"
                out[uri] = int(found.group(1))
        return out


class Ua:
    """A UDP socket on 127.0.0.1 that sends requests to the proxy and reads what comes back."""

    def __init__(self, proxy_port: int, port: int | None = None) -> None:
        self.proxy_port = proxy_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCALHOST, port or 0))
        self.port = int(self.sock.getsockname()[1])
        self.callid = f"{uuid.uuid4().hex[:12]}@{LOCALHOST}"
        self.cseq = 0

    def close(self) -> None:
        self.sock.close()

    def contact(self, user: str) -> str:
        return f"sip:{user}@{LOCALHOST}:{self.port}"

    def send(self, text: str) -> None:
        self.sock.sendto(text.replace("\n", "\r\n").encode(), (LOCALHOST, self.proxy_port))

    def recv(self, timeout: float = 2.0) -> bytes:
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65535)
        return data

    def final(self, timeout: float = 3.0, callid: str | None = None, cseq: str | None = None) -> Reply:
        """The first final reply (of `callid` / `cseq` when given; provisionals skipped).

        Stale replies are skipped: after a refused save() the seed's sl_reply_error() answers
        the same REGISTER a second time (as OpenSIPS does), without P-Registrar-Error."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.recv(max(0.05, deadline - time.monotonic()))
            if not data.startswith(b"SIP/2.0 "):
                continue  # a request relayed to this UA (an INVITE retransmission)
            reply = Reply(data)
            if (reply.status >= 200 and (callid is None or reply.values("call-id") == [callid])
                    and (cseq is None or reply.values("cseq") == [cseq])):
                return reply

    def register(self, user: str, contact: str | None, expires: int | None = None,
                 contact_params: str = "") -> Reply:
        self.cseq += 1
        lines = [
            f"REGISTER sip:{LOCALHOST}:{self.proxy_port} SIP/2.0",
            f"Via: SIP/2.0/UDP {LOCALHOST}:{self.port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
            f"From: <sip:{user}@{LOCALHOST}>;tag={uuid.uuid4().hex[:8]}",
            f"To: <sip:{user}@{LOCALHOST}>",
            f"Call-ID: {self.callid}",
            f"CSeq: {self.cseq} REGISTER",
            "Max-Forwards: 70",
        ]
        if contact is not None:
            lines.append(f"Contact: {contact if contact == '*' else f'<{contact}>'}{contact_params}")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        self.send("\n".join([*lines, "Content-Length: 0", "", ""]))
        return self.final(callid=self.callid, cseq=f"{self.cseq} REGISTER")

    def invite(self, user: str) -> str:
        """Sends an INVITE for user@127.0.0.1 (no answer awaited); returns its Call-ID."""
        callid = f"{uuid.uuid4().hex[:12]}@{LOCALHOST}"
        self.send("\n".join([
            f"INVITE sip:{user}@{LOCALHOST}:{self.proxy_port} SIP/2.0",
            f"Via: SIP/2.0/UDP {LOCALHOST}:{self.port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
            f"From: <sip:caller@{LOCALHOST}:{self.port}>;tag={uuid.uuid4().hex[:8]}",
            f"To: <sip:{user}@{LOCALHOST}>",
            f"Call-ID: {callid}",
            "CSeq: 1 INVITE",
            f"Contact: <sip:caller@{LOCALHOST}:{self.port}>",
            "Max-Forwards: 70",
            "Content-Length: 0", "", "",
        ]))
        return callid


@contextlib.contextmanager
def ua(rig: Rig, port: int | None = None) -> Iterator[Ua]:
    peer = Ua(rig.ports.proxy, port)
    try:
        yield peer
    finally:
        peer.close()


def invite_arrives(caller: Ua, callee: Ua, user: str) -> bool:
    """True when an INVITE for `user` sent by caller is relayed to callee's socket."""
    callid = caller.invite(user)
    try:
        while True:
            data = callee.recv(2.0)
            if data.startswith(b"INVITE ") and callid.encode() in data:
                return True
    except TimeoutError:
        return False


def call_status(caller: Ua, user: str) -> int:
    callid = caller.invite(user)
    return caller.final(callid=callid).status


# ---------------------------------------------------------------------------------------------
# memory-only: what the 200 OK says


def test_register_refresh_unregister_and_star(rig: Rig) -> None:
    start(rig)
    with ua(rig) as phone, ua(rig) as desk, ua(rig) as caller:
        first = phone.register("alice", phone.contact("alice"), 60)
        assert first.status == 200, rig.report()
        assert first.bindings() == {phone.contact("alice"): 60}
        assert f'received="sip:{LOCALHOST}:{phone.port}"' in first.values("contact")[0]

        # same Contact, same Call-ID, higher CSeq: refreshed in place, not duplicated
        again = phone.register("alice", phone.contact("alice"), 120)
        assert again.status == 200
        assert again.bindings() == {phone.contact("alice"): 120}

        # a second device of the same AOR
        both = desk.register("alice", desk.contact("alice"), 90)
        listed = both.bindings()
        assert set(listed) == {phone.contact("alice"), desk.contact("alice")}
        assert listed[desk.contact("alice")] == 90 and 118 <= listed[phone.contact("alice")] <= 120

        # a query (no Contact) lists without changing anything
        assert set(desk.register("alice", None).bindings()) == set(listed)

        # unregister one (Expires: 0), the other stays
        gone = phone.register("alice", phone.contact("alice"), 0)
        assert gone.status == 200 and gone.bindings() == {desk.contact("alice"): 90}
        assert invite_arrives(caller, desk, "alice")

        # Contact: * with Expires: 0 removes every binding of the AOR
        desk.register("alice", desk.contact("alice"), 90)
        phone.register("alice", phone.contact("alice"), 90)
        star = phone.register("alice", "*", 0)
        assert star.status == 200 and star.bindings() == {}
        assert phone.register("alice", None).bindings() == {}
        assert call_status(caller, "alice") == 404

        # `*` without Expires: 0 (another value, or none) is refused (RFC 3261 10.3 step 6)
        desk.register("alice", desk.contact("alice"), 90)
        for expires in (30, None):
            bad = phone.register("alice", "*", expires)
            assert bad.status == 400
            assert bad.values("p-registrar-error") == ["* used in contact and expires is not zero"], bad.text
        assert list(phone.register("alice", None).bindings()) == [desk.contact("alice")]


def test_expired_binding_is_not_found(rig: Rig) -> None:
    # timer_interval 60: lookup() itself must skip the expired binding, the timer has not run
    start(rig)
    with ua(rig) as bob, ua(rig) as caller:
        reply = bob.register("bob", bob.contact("bob"), 2)
        assert reply.bindings() == {bob.contact("bob"): 2}
        assert invite_arrives(caller, bob, "bob"), rig.report()
        time.sleep(2.3)
        assert call_status(caller, "bob") == 404
        assert bob.register("bob", None).bindings() == {}


# ---------------------------------------------------------------------------------------------
# sipp: a registered UAS is called through lookup()


def register_with_sipp(rig: Rig, user: str, port: int, expires: int = 300) -> None:
    argv = sipp_argv("reg_register.xml", port, remote=(LOCALHOST, rig.ports.proxy), service=user,
                     timeout_s=5, extra=("-key", "expires", str(expires)), trace_messages=True)
    sipp = SippProcess(role="uac reg_register.xml", argv=argv, workdir=rig.workdir / f"reg-{user}-{port}")
    sipp.start()
    result = sipp.wait(timeout=10)
    assert result.ok and result.successful == 1, rig.report(result)


def call_registered_uas(rig: Rig, user: str, uas_port: int) -> None:
    uas = rig.start_uas("uas_call.xml", uas_port)
    time.sleep(0.2)
    uac = rig.run_uac("uac_call.xml", user, timeout_s=10)
    uas_result = uas.wait(timeout=10)
    assert uac.ok and uac.successful == 1, rig.report(uac, uas_result)
    assert uas_result.ok and uas_result.successful == 1, rig.report(uac, uas_result)


def test_call_reaches_uas_registered_by_sipp(rig: Rig) -> None:
    start(rig)
    register_with_sipp(rig, "callee", rig.ports.uas)
    call_registered_uas(rig, "callee", rig.ports.uas)
    # nobody registered as "nobody": lookup() fails and the script answers 404
    with ua(rig) as caller:
        assert call_status(caller, "nobody") == 404


# ---------------------------------------------------------------------------------------------
# persistence across a SIGKILL


def test_write_through_survives_sigkill(rig: Rig, tmp_path: Path) -> None:
    db = tmp_path / "location.db"
    cfg = start(rig, db_mode=1, db=db)
    register_with_sipp(rig, "callee", rig.ports.uas)
    kill_and_restart(rig, cfg, "pysips-restarted")
    call_registered_uas(rig, "callee", rig.ports.uas)
    contact = f"sip:callee@{LOCALHOST}:{rig.ports.uas}"
    with ua(rig, rig.ports.uas) as phone:
        listed = phone.register("callee", None).bindings()
        assert list(listed) == [contact]
        assert 290 <= listed[contact] <= 300
        # a refresh of the reloaded binding (another Call-ID) updates its row, adds none
        assert phone.register("callee", contact, 100).bindings() == {contact: 100}
        assert rows(db) == [("callee", contact)]
        assert phone.register("callee", "*", 0).bindings() == {}
        assert rows(db) == []


def rows(db: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [(str(u), str(c)) for u, c in conn.execute("SELECT username, contact FROM location")]


def test_write_back_survives_sigkill_after_flush_only(rig: Rig, tmp_path: Path) -> None:
    # the first timer run comes `interval` s after usrloc starts, which precedes readiness
    interval = 4
    cfg = start(rig, db_mode=2, timer_interval=interval, db=tmp_path / "location.db")
    started = time.monotonic()
    # saved in memory, killed before the first timer run: not in the database
    with ua(rig) as early:
        assert early.register("early", early.contact("early"), 300).status == 200
    assert time.monotonic() - started < interval - 2, "too slow to beat the first flush"
    kill_and_restart(rig, cfg, "pysips-2")
    with ua(rig) as probe:
        assert probe.register("early", None).bindings() == {}

    register_with_sipp(rig, "callee", rig.ports.uas)
    time.sleep(interval + 1.0)  # one write-back run
    kill_and_restart(rig, cfg, "pysips-3")
    call_registered_uas(rig, "callee", rig.ports.uas)


# ---------------------------------------------------------------------------------------------
# SIGTERM: usrloc's destroy flushes write-back


def terminate(rig: Rig) -> int:
    """SIGTERM to the proxy, as an init system stops it; its exit status once it is gone."""
    assert rig.proxy is not None and rig.proxy.proc is not None
    rig.proxy.proc.send_signal(signal.SIGTERM)
    return rig.proxy.proc.wait(timeout=10)


def test_write_back_bindings_survive_sigterm(rig: Rig, tmp_path: Path) -> None:
    db = tmp_path / "location.db"
    # 60 s timer: no write-back run happens while the test runs; only the shutdown can write
    cfg = start(rig, db_mode=2, timer_interval=60, db=db)
    users = [f"user{i:02d}" for i in range(20)]
    with ua(rig) as phone:
        for user in users:
            assert phone.register(user, phone.contact(user), 300).status == 200
        contacts = {user: phone.contact(user) for user in users}
    assert terminate(rig) == 0, rig.proxy.log() if rig.proxy else ""
    assert sorted(rows(db)) == sorted(contacts.items())
    rig.start_proxy("pysips-after-sigterm", pysips_argv(cfg))
    with ua(rig) as probe:
        for user in users:
            assert list(probe.register(user, None).bindings()) == [contacts[user]]
