"""Dialogs and CDR accounting, differential: the same script (below) and the same calls through
OpenSIPS 3.6.8 and pysips; the xlog lines ($DLG_* values, profile sizes at each step) and the
acc lines ("ACC: call ended: ...", "ACC: call missed: ...") must be equal once the values that
differ between any two runs are masked (tags, Call-IDs, times, ports, dialog ids).

Calls: an answered call held ~1.2 s then hung up by the caller (dialog states, profiles, the CDR
with its duration); a call refused 486 (a missed call, no CDR); a call hung up by the callee.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.differential.reference import Server, start_pair
from tests.differential.sipua import SDP, Dialog, Endpoint, Message, Transcript, build, hop_ack, reply_to

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

SCRIPT = r"""
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
modparam("tm", "fr_timeout", 2)
modparam("tm", "fr_inv_timeout", 3)
loadmodule "rr.so"
modparam("rr", "append_fromtag", 0)
loadmodule "maxfwd.so"
loadmodule "sipmsgops.so"
loadmodule "dialog.so"
modparam("dialog", "profiles_no_value", "calls")
modparam("dialog", "profiles_with_value", "caller")
modparam("dialog", "default_timeout", 120)
loadmodule "acc.so"
modparam("acc", "extra_fields", "log: src_user->src; hdr")
modparam("acc", "extra_fields", "evi: src_user->src")
modparam("acc", "leg_fields", "log: who->hangup_by")
modparam("acc", "leg_fields", "evi: who->hangup_by")

route {
    if (has_totag()) {
        if (is_method("ACK") && t_check_trans()) { t_relay(); exit; }
        if (!loose_route()) { send_reply(404, "Not here"); exit; }
        xlog("L_NOTICE", "SEQ $rm status=$DLG_status dir=$DLG_dir flags=$DLG_flags\n");
        if (is_method("BYE")) {
            $acc_leg(who) = $DLG_dir;
            get_profile_size("calls", , $var(n));
            xlog("L_NOTICE", "BYE calls=$var(n) reason=$DLG_end_reason\n");
        }
        t_relay();
        exit;
    }
    if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
    xlog("L_NOTICE", "before status=$DLG_status count=$DLG_count\n");
    do_accounting("log|evi", "cdr|missed");
    $acc_extra(src_user) = $fU;
    $acc_extra(hdr) = $hdr(X-Acc);
    xlog("L_NOTICE", "after status=$DLG_status count=$DLG_count lifetime=$DLG_lifetime\n");
    set_dlg_flag("billed");
    set_dlg_flag("vip");
    set_dlg_profile("calls");
    set_dlg_profile("caller", "$fU");
    get_profile_size("caller", "$fU", $var(n));
    if (is_in_profile("calls")) xlog("L_NOTICE", "in calls, caller size=$var(n)\n");
    record_route();
    t_on_reply("r");
    $du = "sip:127.0.0.1:@@UAS@@";
    t_relay();
}

onreply_route[r] {
    xlog("L_NOTICE", "REPLY $rs status=$DLG_status\n");
}

event_route[E_ACC_CDR] {
    xlog("L_NOTICE", "EV CDR method=$param(method) from_tag=$param(from_tag) to_tag=$param(to_tag) "
         "call_id=$param(callid) code=$param(sip_code) reason=$param(sip_reason) timestamp=$param(time) "
         "src=$param(src) hangup_by=$param(hangup_by) duration=$param(duration) "
         "ms_duration=$param(ms_duration) setuptime=$param(setuptime) created=$param(created) "
         "p1=$param(1) p8=$param(8) p9=$param(9) p12=$param(12)\n");
}

event_route[E_ACC_MISSED_EVENT] {
    xlog("L_NOTICE", "EV MISSED method=$param(method) code=$param(sip_code) reason=$param(sip_reason) "
         "src=$param(src) hangup_by=$param(hangup_by) setuptime=$param(setuptime) created=$param(created) "
         "p8=$param(8) p10=$param(10)\n");
}

event_route[E_DLG_STATE_CHANGED] {
    xlog("L_NOTICE", "EV $param(old_state)->$param(new_state) callid=$param(callid) "
         "from=$param(from_tag) to=$param(to_tag) id=$param(id) db_id=$param(db_id) n=$param(7)\n");
}
"""

# masked: times and durations (numbers after these keys), tags, Call-IDs, dialog ids
# (the duration too: a call hung up at once lasts 0 ms on OpenSIPS, a few on pysips; the held
# call's duration is compared on its own)
_VOLATILE = re.compile(
    r"\b(created|call_start_time|timestamp|duration|ms_duration|from_tag|to_tag|call_id)=[^;\s]*")
_DID = re.compile(r"\b(did|id|db_id)=[0-9a-f.]+")
_LEVEL = re.compile(r"^[A-Z]+:")  # "NOTICE:" (both servers print the level first)


def mask(line: str, run_id: str) -> str:
    line = line.replace(run_id, "RUN")
    line = _VOLATILE.sub(lambda m: f"{m.group(1)}=*", line)
    return _DID.sub(lambda m: f"{m.group(1)}=*", line)


class Call:
    """A caller and a callee talking through one server."""

    def __init__(self, server: Server, uas: Endpoint, run_id: str, n: int) -> None:
        self.server = server
        self.uas = uas
        self.uac = Endpoint("uac", Transcript())
        self.d = Dialog(call_id=f"acc{n}-{run_id}", from_uri="sip:alice@example.com",
                        to_uri=f"sip:bob@127.0.0.1:{server.port}", from_tag=f"ft{n}", local=self.uac)
        self.invite: Message | None = None
        self.uas_side: Message | None = None

    @property
    def proxy(self) -> tuple[str, int]:
        return ("127.0.0.1", self.server.port)

    def start(self) -> Message | None:
        text = self.d.request("INVITE", f"sip:bob@127.0.0.1:{self.server.port}",
                              contact=f"<sip:alice@{self.uac.hostport}>", body=SDP,
                              extra=[("X-Acc", "x1")])
        self.invite = Message.parse(text.encode())
        self.uac.send(text, self.proxy)
        got = self.uas.recv_request("INVITE")
        self.uas_side = got
        return got

    def answer(self, code: int, reason: str) -> Message | None:
        assert self.uas_side is not None and self.invite is not None
        via = self.uas_side.all("Via")[0].split()[1].split(";")[0]
        host, _, port = via.partition(":")
        to = (host, int(port))
        contact = f"<sip:bob@{self.uas.hostport}>" if code < 300 else None
        self.uas.send(reply_to(self.uas_side, 180, "Ringing", to_tag="callee"), to)
        self.uac.recv()
        self.uas.send(reply_to(self.uas_side, code, reason, to_tag="callee", contact=contact,
                               body=SDP if code < 300 else ""), to)
        final = self.uac.recv_final()
        if final is None:
            return None
        if code >= 300:
            self.uac.send(hop_ack(self.invite, final), self.proxy)
            self.uas.recv_request("ACK", timeout=1.0)
            return final
        self.d.learn(final)
        self.uac.send(self.d.request("ACK", self.d.remote_target), self.proxy)
        self.uas.recv_request("ACK")
        return final

    def caller_bye(self) -> None:
        self.d.cseq += 1
        self.uac.send(self.d.request("BYE", self.d.remote_target), self.proxy)
        bye = self.uas.recv_request("BYE")
        if bye is not None:
            via = bye.all("Via")[0].split()[1].split(";")[0]
            host, _, port = via.partition(":")
            self.uas.send(reply_to(bye, 200, "OK"), (host, int(port)))
        self.uac.recv_final()

    def callee_bye(self) -> None:
        assert self.uas_side is not None
        routes = [r.strip() for r in self.uas_side.all("Record-Route")]
        headers = [("Via", f"SIP/2.0/UDP {self.uas.hostport};branch=z9hG4bKcb{secrets.token_hex(4)}"),
                   ("Max-Forwards", "70")]
        headers += [("Route", r) for r in routes]
        headers += [("From", "<sip:bob@127.0.0.1>;tag=callee"),
                    ("To", f"<{self.d.from_uri}>;tag={self.d.from_tag}"),
                    ("Call-ID", self.d.call_id), ("CSeq", "1 BYE")]
        self.uas.send(build(f"BYE sip:alice@{self.uac.hostport} SIP/2.0", headers), self.proxy)
        bye = self.uac.recv_request("BYE")
        if bye is not None:
            via = bye.all("Via")[0].split()[1].split(";")[0]
            host, _, port = via.partition(":")
            self.uac.send(reply_to(bye, 200, "OK"), (host, int(port)))
        self.uas.recv_final()

    def close(self) -> None:
        self.uac.close()


def play(server: Server, uas: Endpoint, run_id: str, durations: list[int],
         event_lines: list[str]) -> list[str]:
    server.new_messages()
    first = Call(server, uas, run_id, 1)
    try:
        first.start()
        first.answer(200, "OK")
        time.sleep(1.2)
        first.caller_bye()
    finally:
        first.close()
    second = Call(server, uas, run_id, 2)
    try:
        second.start()
        second.answer(486, "Busy Here")
    finally:
        second.close()
    third = Call(server, uas, run_id, 3)
    try:
        third.start()
        third.answer(200, "OK")
        third.callee_bye()
    finally:
        third.close()
    time.sleep(0.5)
    wanted = ("before", "after", "in calls", "REPLY", "SEQ", "BYE calls", "ACC:")
    lines = [_LEVEL.sub("", line) for line in server.new_messages()]
    # OpenSIPS runs event routes in another process: their lines are compared among themselves
    event_lines.extend(mask(line, run_id) for line in lines if line.startswith("EV "))
    held = next((line for line in lines if line.startswith("ACC: call ended: ")), "")
    found = re.search(r";duration=(\d+);", held)
    durations.append(int(found.group(1)) if found else -1)
    return [mask(line, run_id) for line in lines if line.startswith(wanted)]


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    uas = Endpoint("uas", Transcript(), bind_host="0.0.0.0")
    workdir: Path = tmp_path_factory.mktemp("dialog-acc")
    try:
        with start_pair(SCRIPT, workdir, values={"UAS": uas.port}) as (opensips, pysips):
            run_id = secrets.token_hex(4)
            durations: list[int] = []
            events: dict[str, list[str]] = {"opensips": [], "pysips": []}
            out = {"opensips": play(opensips, uas, run_id, durations, events["opensips"]),
                   "pysips": play(pysips, uas, run_id, durations, events["pysips"])}
            out["events-opensips"] = events["opensips"]
            out["events-pysips"] = events["pysips"]
            out["durations"] = [str(d) for d in durations]
            yield out
    finally:
        uas.close()


def test_reference_shows_the_calls(transcripts: dict[str, list[str]]) -> None:
    """The scenario is not empty on OpenSIPS: the lines the comparison relies on are there."""
    reference = transcripts["opensips"]
    assert sum(line.startswith("ACC: call ended: ") for line in reference) == 2, reference
    assert sum(line.startswith("ACC: call missed: ") for line in reference) == 1, reference


def test_dialog_values_and_acc_lines_equal(transcripts: dict[str, list[str]]) -> None:
    assert transcripts["pysips"] == transcripts["opensips"]
    assert len(transcripts["opensips"]) == 24  # every step's line is there (9 + 6 + 9)


def test_state_changed_events_equal(transcripts: dict[str, list[str]]) -> None:
    """E_DLG_STATE_CHANGED through event_route: the same transitions with the same parameters."""
    reference = transcripts["events-opensips"]
    states = [line for line in reference if line.startswith("EV ") and "->" in line]
    assert len(states) == 4 + 2 + 4, reference  # 1->2->3->4->5, 1->2->5, 1->2->3->4->5
    assert transcripts["events-pysips"] == reference


def test_acc_events_equal(transcripts: dict[str, list[str]]) -> None:
    """The evi backend: E_ACC_CDR twice, E_ACC_MISSED_EVENT once, the same parameters."""
    reference = transcripts["events-opensips"]
    assert sum(line.startswith("EV CDR ") for line in reference) == 2, reference
    assert sum(line.startswith("EV MISSED ") for line in reference) == 1, reference


def test_held_call_duration_equal(transcripts: dict[str, list[str]]) -> None:
    """The call held 1.2 s: 1.2 s rounded up, on both."""
    assert transcripts["durations"] == ["2", "2"]
