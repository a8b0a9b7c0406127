"""PRACK (RFC 3262) and UPDATE (RFC 3311) scenarios for cfg/prack.cfg, in the style of
behaviour_scenarios.py: Python UAs play one exchange and never assert; what they received is
compared between OpenSIPS 3.6 and pysips, and `expect` names first lines the reference must show.
"""

from __future__ import annotations

import re
import time

from tests.differential.behaviour_scenarios import Net, Scenario, _via_addr, answer, scenario_registry
from tests.differential.sipua import SDP, Dialog, Message, build, reply_to

SCENARIOS: list[Scenario] = []
scenario = scenario_registry(SCENARIOS)


def _reliable_183(n: Net, invite: Message, rseq: int = 1) -> None:
    """The callee's reliable 183, Record-Route echoed (the early dialog's route set)."""
    extra = [("Require", "100rel"), ("RSeq", str(rseq)), ("Contact", f"<sip:callee@{n.uas1.hostport}>")]
    n.uas1.send(reply_to(invite, 183, "Session Progress", to_tag="early", extra=extra),
                _via_addr(invite))


def _start(n: Net) -> tuple[Dialog, Message | None, Message | None]:
    """INVITE with Supported: 100rel; the callee's reliable 183 reaches the caller."""
    d = n.dialog("callee")
    n.send(d.request("INVITE", f"sip:callee@{n.proxy_hostport}", contact=f"<sip:caller@{n.uac.hostport}>",
                     extra=[("Supported", "100rel")], body=SDP))
    invite = n.uas1.recv_request("INVITE")
    if invite is None:
        return d, None, None
    _reliable_183(n, invite)
    progress = None
    for _ in range(3):
        got = n.uac.recv()
        if got is None:
            break
        if not got.is_request and got.status == 183:
            progress = got
            break
    if progress is not None:
        d.learn(progress)  # the early dialog: tag, target, route set (RFC 3261 12.1.2)
    return d, invite, progress


def _prack(d: Dialog, progress: Message) -> str:
    rseq = progress.header("RSeq") or "1"
    d.cseq += 1
    return d.request("PRACK", d.remote_target, extra=[("RAck", f"{rseq} 1 INVITE")])


def _answer_request(n: Net, req: Message | None) -> None:
    if req is not None:
        answer(n.uas1, req, 200, "OK", tag="early")


def _confirm(n: Net, d: Dialog, invite: Message) -> None:
    """The callee's 200 to the INVITE (same tag as the early dialog), the caller's ACK."""
    n.uas1.send(reply_to(invite, 200, "OK", to_tag="early", body=SDP,
                         contact=f"<sip:callee@{n.uas1.hostport}>"), _via_addr(invite))
    ok = n.uac.recv_final()
    if ok is None or ok.status != 200:
        return
    d.learn(ok)
    n.send(d.request("ACK", d.remote_target, cseq=1))
    n.uas1.recv_request("ACK")


def _caller_bye(n: Net, d: Dialog) -> None:
    d.cseq += 1
    n.send(d.request("BYE", d.remote_target))
    bye = n.uas1.recv_request("BYE")
    if bye is not None:
        answer(n.uas1, bye, 200, "OK", tag="early")
    n.uac.recv()


@scenario("uas1 INVITE sip:callee@", "uac SIP/2.0 183", "uas1 PRACK sip:callee@", "uac SIP/2.0 200",
          "uas1 UPDATE sip:callee@", "uas1 ACK", "uas1 BYE")
def prack_and_updates_through_the_dialog(n: Net) -> None:
    """PRACK and an UPDATE in the early dialog, an UPDATE once confirmed, BYE: each routed by the
    did of the early dialog's Route, the dialog's state in X-Dlg."""
    d, invite, progress = _start(n)
    if invite is None or progress is None:
        return
    n.send(_prack(d, progress))
    _answer_request(n, n.uas1.recv_request("PRACK"))
    n.uac.recv()
    d.cseq += 1
    n.send(d.request("UPDATE", d.remote_target, contact=f"<sip:caller@{n.uac.hostport}>"))
    _answer_request(n, n.uas1.recv_request("UPDATE"))
    n.uac.recv()
    _confirm(n, d, invite)
    d.cseq += 1
    n.send(d.request("UPDATE", d.remote_target, contact=f"<sip:caller@{n.uac.hostport}>"))
    _answer_request(n, n.uas1.recv_request("UPDATE"))
    n.uac.recv()
    _caller_bye(n, d)


@scenario("uas1 PRACK sip:callee@", "uac SIP/2.0 200")
def prack_retransmission_absorbed(n: Net) -> None:
    """The caller sends its PRACK twice before the callee answers: the callee gets one, the
    caller one 200."""
    d, invite, progress = _start(n)
    if invite is None or progress is None:
        return
    prack = _prack(d, progress)
    n.send(prack)
    n.send(prack)
    got = n.uas1.recv_request("PRACK")
    time.sleep(0.1)
    _answer_request(n, got)
    n.uac.recv()
    _confirm(n, d, invite)
    _caller_bye(n, d)


@scenario("uac UPDATE sip:caller@", "uas1 SIP/2.0 200")
def callee_update_in_early_and_confirmed_dialog(n: Net) -> None:
    """The callee UPDATEs the caller in the early dialog and again once confirmed (upstream)."""
    d, invite, progress = _start(n)
    if invite is None or progress is None:
        return
    n.send(_prack(d, progress))
    _answer_request(n, n.uas1.recv_request("PRACK"))
    n.uac.recv()
    routes = [rr for value in invite.all("Record-Route") for rr in re.split(r",\s*(?=<)", value)]
    for cseq in (10, 11):
        update = build(f"UPDATE sip:caller@{n.uac.hostport} SIP/2.0", [
            ("Via", f"SIP/2.0/UDP {n.uas1.hostport};branch=z9hG4bKupd{cseq}{n.run_id}"),
            ("Max-Forwards", "70"),
            *[("Route", r) for r in routes],
            ("From", invite.header("To") + ";tag=early"),
            ("To", invite.header("From")),
            ("Call-ID", invite.header("Call-ID")),
            ("CSeq", f"{cseq} UPDATE"),
            ("Contact", f"<sip:callee@{n.uas1.hostport}>"),
        ])
        n.uas1.send(update, n.proxy)
        req = n.uac.recv_request("UPDATE")
        if req is not None:
            n.uac.send(reply_to(req, 200, "OK"), _via_addr(req))
        n.uas1.recv()
        if cseq == 10:
            _confirm(n, d, invite)
    _caller_bye(n, d)
