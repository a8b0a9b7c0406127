"""dialog's PRACK (RFC 3262) over the fakes of test_dialog.py: which replies are reliable, early
legs per To tag, dlg_send_sequential("PRACK") with its RAck, auto-prack once per RSeq and its
failure into a 502, the state changing only when the reply goes upstream, the ACK's CSeq."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from modules.dialog.model import CONFIRMED, EARLY, UNCONFIRMED
from modules.dialog.prack import rack_header, reliable_of
from pysips.core.services import UacReply
from pysips.script.context import MsgContext, RouteType
from pysips.sip.message import SipMessage, parse_message
from tests.unit.modules import test_dialog
from tests.unit.modules.test_dialog import RCV, Tx, fn, new_call, request

env = test_dialog.env  # the fixture: the module over fakes of tm, rr and the clock


def provisional(code: int, did: str, tag: str, rseq: int | None, require: str = "100rel") -> SipMessage:
    extra = f"Require: {require}\r\nRSeq: {rseq}\r\n" if rseq is not None else ""
    return parse_message(
        (f"SIP/2.0 {code} Progress\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5040;branch=z9hG4bK1\r\n"
         "Record-Route: <sip:down.example.com;lr>\r\n"
         f"Record-Route: <sip:127.0.0.1:5060;lr;did={did}>\r\n"
         "Record-Route: <sip:up.example.com;lr>\r\n"
         f"From: <sip:alice@example.com>;tag=alice1\r\nTo: <sip:bob@example.com>;tag={tag}\r\n"
         f"Call-ID: call-1\r\nCSeq: 1 INVITE\r\n{extra}"
         f"Contact: <sip:{tag}@127.0.0.1:5080>\r\nContent-Length: 0\r\n\r\n").encode())


def arrive(e: Any, reply: SipMessage) -> None:
    e.tm.fire("reply_in", Tx("t1"), None, reply)


def relay(e: Any, reply: SipMessage) -> None:
    e.tm.fire("reply_in", Tx("t1"), None, reply)
    e.tm.fire("reply_out", Tx("t1"), reply.status, reply.reason, reply)


def test_reliable_needs_require_100rel_and_a_valid_rseq() -> None:
    assert reliable_of(provisional(183, "a.1", "t", 5)) == (5, 1, "INVITE")
    assert reliable_of(provisional(180, "a.1", "t", 5, require="timer, 100REL")) == (5, 1, "INVITE")
    assert reliable_of(provisional(183, "a.1", "t", None)) is None
    assert reliable_of(provisional(183, "a.1", "t", 5, require="timer")) is None
    assert reliable_of(provisional(183, "a.1", "t", 0)) is None
    assert rack_header((5, 1, "INVITE")) == "RAck: 5 1 INVITE"


def test_state_changes_when_the_reply_goes_upstream(env: Any) -> None:
    _, dlg = new_call(env)
    arrive(env, provisional(183, dlg.did, "bob1", 1))
    assert dlg.state == UNCONFIRMED  # the onreply_route still sees 1, as in OpenSIPS
    assert set(dlg.early_legs) == {"bob1"} and dlg.early_legs["bob1"].reliable == (1, 1, "INVITE")
    env.tm.fire("reply_out", Tx("t1"), 183, "Progress", None)
    assert dlg.state == EARLY


def test_manual_prack_goes_to_the_early_dialog_of_the_reply(env: Any) -> None:
    _, dlg = new_call(env)
    relay(env, provisional(180, dlg.did, "desk", 1))
    second = provisional(180, dlg.did, "mobile", 2)
    arrive(env, second)
    ctx = MsgContext(env.process, second, RCV, RouteType.ONREPLY)
    ctx.transaction = Tx("t1")
    assert fn("dlg_send_sequential")(ctx, "PRACK", False) == 1
    sent, _ = env.tm.sent[-1]
    assert sent.method == "PRACK" and sent.to_tag == "mobile" and sent.ruri == "sip:mobile@127.0.0.1:5080"
    assert sent.route_set == ("<sip:down.example.com;lr>",) and sent.cseq == 2
    assert "RAck: 2 1 INVITE" in sent.headers
    # a RAck of the script's own is kept as it is
    assert fn("dlg_send_sequential")(ctx, "PRACK", False, None, None, "RAck: 9 1 INVITE") == 1
    assert [h for h in env.tm.sent[-1][0].headers if h.startswith("RAck")] == ["RAck: 9 1 INVITE"]


def test_prack_without_a_reliable_provisional_fails(env: Any) -> None:
    ctx, dlg = new_call(env)
    relay(env, provisional(180, dlg.did, "bob1", None))
    assert fn("dlg_send_sequential")(ctx, "PRACK", False) == -1
    assert fn("dlg_send_sequential")(ctx, "UPDATE", True) == -1  # the caller needs a confirmed dialog
    assert fn("dlg_send_sequential")(ctx, "UPDATE", False) == 1
    assert env.tm.sent[-1][0].to_tag == "bob1"


def test_auto_prack_once_per_rseq_and_502_on_failure(env: Any) -> None:
    env.dialogs.config = replace(env.dialogs.config, auto_prack_hangup_on_failure=True,
                                 auto_prack_fr_timeout=2)
    replied: list[tuple[Any, int, str]] = []
    env.tm.reply_transaction = lambda t, code, reason: replied.append((t, code, reason)) or 1
    _, dlg = new_call(env, "auto-prack")
    relay(env, provisional(183, dlg.did, "bob1", 1))
    relay(env, provisional(183, dlg.did, "bob1", 1))  # a retransmission: no second PRACK
    pracks = [(r, cb) for r, cb in env.tm.sent if r.method == "PRACK"]
    assert len(pracks) == 1
    prack, answered = pracks[0]
    assert "RAck: 1 1 INVITE" in prack.headers and prack.fr_timeout == 2 and prack.cseq == 2
    relay(env, provisional(183, dlg.did, "bob1", 2))
    assert len([r for r, _ in env.tm.sent if r.method == "PRACK"]) == 2
    assert answered is not None
    answered(UacReply(200, "OK", None, "call-1"))
    assert replied == []
    answered(UacReply(408, "Request Timeout", None, "call-1", local=True))
    assert [(code, reason) for _, code, reason in replied] == [(502, "Bad Gateway")]


def test_ack_keeps_the_invite_cseq_after_our_prack(env: Any) -> None:
    _, dlg = new_call(env, "auto-prack")
    relay(env, provisional(183, dlg.did, "bob1", 1))  # PRACK with CSeq 2 in the caller's space
    ok = provisional(200, dlg.did, "bob1", None)
    relay(env, ok)
    ack = MsgContext(env.process, request("ACK", 1), RCV)
    env.dialogs.sequential(ack, dlg, 1)
    assert ack.msg.header("CSeq") is not None and dlg.state == CONFIRMED
    assert ack.msg.serialize().count(b"CSeq: 1 ACK") == 1
    update = MsgContext(env.process, request("UPDATE", 2), RCV)
    env.dialogs.sequential(update, dlg, 1)
    assert b"CSeq: 3 UPDATE" in update.msg.serialize()


def test_only_the_early_dialogs_tags_match_before_the_answer(env: Any) -> None:
    """An ACK for an earlier 407 (its UA gave it a new branch) carries that reply's To tag: it is
    not a request of the new INVITE's early dialog (SIPssert dialog/06 would see it relayed)."""
    _, dlg = new_call(env)
    stray = MsgContext(env.process, request("ACK", 1), RCV)  # To tag bob1: no early dialog yet
    assert env.dialogs.match(stray) == -1
    relay(env, provisional(180, dlg.did, "ringing1", None))
    assert env.dialogs.match(MsgContext(env.process, request("ACK", 1), RCV)) == -1
    assert dlg.direction_of("alice1", "ringing1") == 1 and dlg.direction_of("ringing1", "alice1") == 2
