"""Matching (RFC 3261 17.1.3, 17.2.3, RFC 2543 fallback), the table and the timer queue."""

from __future__ import annotations

from pysips.sip.build import make_request, make_response
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.transaction import (
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    SendMessage,
    Terminated,
    TerminationReason,
    TimerQueue,
    TransactionTable,
    request_key,
    response_key,
)


def parsed(data: bytes) -> SipMessage:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage), msg
    return msg


def req(
    method: str = "INVITE",
    branch: str | None = "z9hG4bKm1",
    host: str = "uac.example",
    port: int = 5060,
    to_tag: str | None = None,
    cseq: int = 1,
    ruri: str = "sip:bob@uas.example",
) -> SipMessage:
    via = f"SIP/2.0/UDP {host}:{port}" + (f";branch={branch}" if branch else "")
    to = "<sip:bob@uas.example>" + (f";tag={to_tag}" if to_tag else "")
    return parsed(
        make_request(
            method, ruri, from_="<sip:alice@uac.example>;tag=ft", to=to, call_id="cid-9", cseq=cseq, via=via
        )
    )


def resp(request: SipMessage, status: int, to_tag: str | None = "tt") -> SipMessage:
    return parsed(make_response(request, status, "X", to_tag=to_tag))


# --- client matching ------------------------------------------------------------------------------


def test_response_matches_by_branch_and_cseq_method() -> None:
    table = TransactionTable()
    invite = req()
    cancel = req("CANCEL")
    ict = InviteClientTransaction(invite.raw)
    cct = NonInviteClientTransaction(cancel.raw)
    assert table.add_client("z9hG4bKm1", "INVITE", ict) == ("z9hG4bKm1", "INVITE")
    table.add_client("z9hG4bKm1", "CANCEL", cct)
    assert table.client_count == 2
    assert table.match_response(resp(invite, 487)) is ict
    assert table.match_response(resp(cancel, 200)) is cct
    assert table.match_response(resp(req(branch="z9hG4bKother"), 200)) is None
    assert response_key(resp(invite, 180)) == ("z9hG4bKm1", "INVITE")
    table.remove(ict)
    assert table.match_response(resp(invite, 487)) is None
    assert table.match_response(resp(cancel, 200)) is cct


# --- server matching, RFC 3261 --------------------------------------------------------------------


def test_retransmission_and_ack_match_the_invite_transaction() -> None:
    table = TransactionTable()
    invite = req()
    key = request_key(invite)
    assert key == ("z9hG4bKm1", "uac.example", 5060, "INVITE")
    assert table.match_request(invite, key) is None
    ist = InviteServerTransaction(invite)
    table.add_server(key, ist)
    assert table.match_request(req()) is ist
    assert table.match_request(req("ACK", to_tag="tt")) is ist
    # The ACK of a 2xx is a new transaction (its own branch): no match.
    assert table.match_request(req("ACK", branch="z9hG4bKnew", to_tag="tt")) is None
    # Same branch from another sent-by, or another method: different transactions.
    assert table.match_request(req(host="evil.example")) is None
    assert table.match_request(req(port=5070)) is None
    assert table.match_request(req("OPTIONS")) is None
    # Host case does not matter.
    assert table.match_request(req(host="UAC.Example")) is ist


def test_cancel_finds_its_invite_but_is_its_own_transaction() -> None:
    table = TransactionTable()
    invite = req()
    ist = InviteServerTransaction(invite)
    table.add_server(request_key(invite) or (), ist)
    cancel = req("CANCEL")
    assert table.match_request(cancel) is None
    assert table.find_cancel_target(cancel) is ist
    nist = NonInviteServerTransaction(cancel)
    table.add_server(request_key(cancel) or (), nist)
    assert table.match_request(cancel) is nist
    assert table.find_cancel_target(cancel) is ist
    assert table.find_cancel_target(req("CANCEL", branch="z9hG4bKzzz")) is None
    assert table.server_count == 2 and len(table) == 2


def test_cancel_target_must_be_an_invite_transaction() -> None:
    table = TransactionTable()
    options = req("OPTIONS")
    table.add_server(request_key(options, "INVITE") or (), NonInviteServerTransaction(options))
    assert table.find_cancel_target(req("CANCEL")) is None


# --- server matching, RFC 2543 (no magic cookie) --------------------------------------------------


def test_rfc2543_request_without_cookie_matches_on_dialog_fields() -> None:
    table = TransactionTable()
    invite = req(branch=None)
    key = request_key(invite)
    assert key is not None and len(key) == 8
    ist = InviteServerTransaction(invite)
    table.add_server(key, ist)
    assert table.match_request(req(branch=None)) is ist
    assert table.match_request(req(branch=None, cseq=2)) is None
    assert table.match_request(req(branch=None, ruri="sip:carol@uas.example")) is None
    assert table.match_request(req(branch=None, to_tag="zz")) is None  # the INVITE had no To tag
    assert table.match_request(req(branch="oldstyle1")) is None  # a different top Via


def test_rfc2543_ack_matches_only_with_the_to_tag_of_the_sent_response() -> None:
    table = TransactionTable()
    invite = req(branch=None)
    ist = InviteServerTransaction(invite)
    table.add_server(request_key(invite) or (), ist)
    assert table.match_request(req("ACK", branch=None, to_tag="s1")) is None  # nothing sent yet
    ist.send_response(make_response(invite, 486, "Busy", to_tag="s1"), 0.0)
    assert table.match_request(req("ACK", branch=None, to_tag="s1")) is ist
    assert table.match_request(req("ACK", branch=None, to_tag="s2")) is None


def test_rfc2543_cancel_target() -> None:
    table = TransactionTable()
    invite = req(branch=None)
    ist = InviteServerTransaction(invite)
    table.add_server(request_key(invite) or (), ist)
    assert table.find_cancel_target(req("CANCEL", branch=None)) is ist
    assert table.find_cancel_target(req("CANCEL", branch=None, to_tag="x")) is None


def test_remove_keeps_a_newer_transaction_under_the_same_key() -> None:
    table = TransactionTable()
    invite = req()
    key = request_key(invite) or ()
    old, new = InviteServerTransaction(invite), InviteServerTransaction(invite)
    table.add_server(key, old)
    table.add_server(key, new)
    table.remove(old)
    assert table.match_request(invite) is new
    table.remove(new)
    assert len(table) == 0


# --- timer queue ----------------------------------------------------------------------------------


def test_timer_queue_fires_in_deadline_order_and_skips_stale_entries() -> None:
    queue = TimerQueue()
    a = NonInviteClientTransaction(req("OPTIONS", branch="z9hG4bKa").raw)
    b = NonInviteClientTransaction(req("OPTIONS", branch="z9hG4bKb").raw, reliable=True)
    a.start(0.0)
    b.start(0.2)
    queue.schedule(a)
    queue.schedule(b)
    assert queue.next_deadline() == 0.5
    fired = queue.expire(0.5)
    assert [tx for tx, _ in fired] == [a]
    assert fired[0][1] == (SendMessage(a.request, True),)
    assert queue.next_deadline() == 1.5
    # `a` completes: its queued deadline at 1.5 goes stale and is skipped.
    a.receive_response(resp(req("OPTIONS", branch="z9hG4bKa"), 200), 1.0)
    queue.schedule(a)
    assert queue.next_deadline() == 6.0  # timer K of `a`
    assert queue.expire(5.0) == []
    assert queue.expire(6.0) == [(a, (Terminated(TerminationReason.NORMAL),))]
    assert queue.next_deadline() == 32.2  # timer F of `b`
    assert queue.expire(40.0) == [(b, (Terminated(TerminationReason.TIMEOUT),))]
    assert queue.next_deadline() is None


def test_timer_queue_late_wakeup_fires_once_and_expired_timeout_wins() -> None:
    queue = TimerQueue()
    tx = InviteClientTransaction(req().raw)
    tx.start(0.0)
    queue.schedule(tx)
    # Woken at 1.0 instead of 0.5: one retransmission, the next interval counted from now.
    assert queue.expire(1.0) == [(tx, (SendMessage(tx.request, True),))]
    assert queue.next_deadline() == 2.0
    # Woken only at 40 s: timer B is past, so no retransmission, just the timeout.
    assert queue.expire(40.0) == [(tx, (Terminated(TerminationReason.TIMEOUT),))]
    assert queue.next_deadline() is None and len(queue) == 0
