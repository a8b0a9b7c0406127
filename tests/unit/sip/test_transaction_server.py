"""Server transactions (RFC 3261 17.2): every transition and timer, time passed in."""

from __future__ import annotations

from pysips.sip.build import make_request, make_response
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.transaction import (
    Actions,
    InviteServerTransaction,
    NonInviteServerTransaction,
    PassRequest,
    SendMessage,
    Terminated,
    TerminationReason,
    TimerConfig,
    Transaction,
    TxState,
    is_reliable,
)

BRANCH = "z9hG4bKserver1"


def parsed(data: bytes) -> SipMessage:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage), msg
    return msg


def incoming(method: str = "INVITE", branch: str = BRANCH, to_tag: str | None = None) -> SipMessage:
    to = "<sip:bob@uas.example>" + (f";tag={to_tag}" if to_tag else "")
    return parsed(
        make_request(
            method,
            "sip:bob@uas.example",
            from_="<sip:alice@uac.example>;tag=ft1",
            to=to,
            call_id="call-2@uac",
            cseq=3,
            via=f"SIP/2.0/UDP uac.example:5060;branch={branch};rport",
            extra_headers=("Timestamp: 54",) if method == "INVITE" else (),
        )
    )


def state(tx: Transaction) -> TxState:
    """Read through a call so mypy does not keep the narrowing of an earlier assert."""
    return tx.state


def response(req: SipMessage, status: int, to_tag: str | None = "srv") -> bytes:
    return make_response(req, status, "Reason", to_tag=to_tag)


def run_timers(
    tx: InviteServerTransaction | NonInviteServerTransaction, until: float
) -> list[tuple[float, Actions]]:
    fired = []
    while (at := tx.next_timer_at()) is not None and at <= until:
        fired.append((at, tx.handle_timer(at)))
    return fired


# --- INVITE server --------------------------------------------------------------------------------


def test_invite_start_sends_100_trying_at_once_and_resends_it_on_retransmission() -> None:
    req = incoming()
    tx = InviteServerTransaction(req)
    assert tx.state is TxState.PROCEEDING
    actions = tx.start(0.0)
    [send] = actions
    assert isinstance(send, SendMessage) and not send.retransmission
    trying = parsed(send.data)
    assert trying.status == 100 and trying.reason == "Trying"
    assert [v.branch for v in trying.vias] == [BRANCH]
    assert trying.to.tag is None and trying.from_.tag == "ft1"
    assert trying.call_id == "call-2@uac" and trying.cseq.number == 3 and trying.cseq.method == "INVITE"
    assert trying.header("Timestamp") == "54"
    assert tx.receive_request(incoming(), 0.3) == (SendMessage(send.data, True),)


def test_delayed_100_trying_is_skipped_when_tu_answers_first() -> None:
    req = incoming()
    tx = InviteServerTransaction(req)
    assert tx.start(0.0, trying_after=0.2) == ()
    assert tx.next_timer_at() == 0.2
    ringing = response(req, 180)
    assert tx.send_response(ringing, 0.1) == (SendMessage(ringing, False),)
    assert tx.next_timer_at() is None
    assert tx.handle_timer(0.2) == ()


def test_delayed_100_trying_is_sent_when_tu_is_slow() -> None:
    tx = InviteServerTransaction(incoming())
    tx.start(0.0, trying_after=0.2)
    [send] = tx.handle_timer(0.2)
    assert isinstance(send, SendMessage) and parsed(send.data).status == 100
    assert tx.last_status == 100


def test_no_100_trying_policy_absorbs_retransmission_silently() -> None:
    tx = InviteServerTransaction(incoming())
    assert tx.start(0.0, trying_after=None) == ()
    assert tx.next_timer_at() is None
    assert tx.receive_request(incoming(), 0.5) == ()


def test_provisional_then_retransmission_resends_last_provisional() -> None:
    req = incoming()
    tx = InviteServerTransaction(req)
    tx.start(0.0)
    ringing = response(req, 180)
    tx.send_response(ringing, 0.1)
    assert tx.receive_request(req, 0.5) == (SendMessage(ringing, True),)


def test_non2xx_final_timer_g_doubles_to_t2_and_timer_h_times_out() -> None:
    req = incoming()
    tx = InviteServerTransaction(req)
    busy = response(req, 486)
    assert tx.send_response(busy, 0.0) == (SendMessage(busy, False),)
    assert tx.state is TxState.COMPLETED
    fired = run_timers(tx, 100.0)
    times = [at for at, acts in fired if acts == (SendMessage(busy, True),)]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert fired[-1] == (32.0, (Terminated(TerminationReason.TIMEOUT),))
    assert tx.reason is TerminationReason.TIMEOUT


def test_non2xx_final_retransmission_then_ack_confirms_and_timer_i_ends() -> None:
    req = incoming()
    tx = InviteServerTransaction(req)
    tx.start(0.0)
    busy = response(req, 486)
    tx.send_response(busy, 1.0)
    assert tx.receive_request(req, 1.2) == (SendMessage(busy, True),)
    ack = incoming("ACK", to_tag="srv")
    assert tx.receive_request(ack, 1.3) == ()
    assert tx.state is TxState.CONFIRMED
    assert tx.next_timer_at() == 6.3  # timer I = T4; timer G is off
    assert tx.receive_request(ack, 2.0) == ()  # ACK retransmissions absorbed
    assert tx.receive_request(req, 2.1) == ()  # so are INVITE retransmissions
    assert tx.handle_timer(6.3) == (Terminated(TerminationReason.NORMAL),)


def test_reliable_non2xx_has_no_timer_g_and_zero_timer_i() -> None:
    req = incoming()
    tx = InviteServerTransaction(req, reliable=is_reliable("ws"))
    tx.send_response(response(req, 603), 0.0)
    assert tx.next_timer_at() == 32.0  # timer H only
    assert tx.receive_request(incoming("ACK", to_tag="srv"), 0.1) == (Terminated(TerminationReason.NORMAL),)


def test_2xx_accepted_absorbs_invite_passes_tu_retransmissions_and_ack() -> None:
    req = incoming()
    tx = InviteServerTransaction(req)
    tx.start(0.0)
    ok = response(req, 200)
    assert tx.send_response(ok, 1.0) == (SendMessage(ok, False),)
    assert tx.state is TxState.ACCEPTED
    assert tx.next_timer_at() == 33.0  # timer L
    assert tx.receive_request(req, 1.5) == ()
    assert tx.send_response(ok, 1.5) == (SendMessage(ok, True),)  # the TU's own 2xx retransmission
    assert tx.send_response(response(req, 486), 1.6) == ()  # no non-2xx after a 2xx
    ack = incoming("ACK", to_tag="srv")
    assert tx.receive_request(ack, 2.0) == (PassRequest(ack),)
    assert tx.handle_timer(33.0) == (Terminated(TerminationReason.NORMAL),)


def test_send_response_refuses_bad_bytes_and_second_final() -> None:
    req = incoming()
    tx = InviteServerTransaction(req)
    assert tx.send_response(b"garbage", 0.0) == ()
    assert tx.send_response(b"SIP/2.0 999 Nope\r\n\r\n", 0.0) == ()
    assert tx.state is TxState.PROCEEDING and tx.last_response is None
    tx.send_response(response(req, 486), 0.1)
    assert tx.send_response(response(req, 500), 0.2) == ()
    assert tx.send_response(response(req, 180), 0.2) == ()
    assert tx.last_status == 486


def test_send_response_accepts_a_message_object() -> None:
    req = incoming()
    tx = InviteServerTransaction(req)
    ringing = parsed(response(req, 180))
    assert tx.send_response(ringing, 0.0) == (SendMessage(ringing.serialize(), False),)
    assert tx.last_status == 180


def test_invite_server_transport_error() -> None:
    tx = InviteServerTransaction(incoming())
    assert tx.transport_error(0.0) == (Terminated(TerminationReason.TRANSPORT_ERROR),)
    assert tx.receive_request(incoming(), 0.1) == ()
    assert tx.handle_timer(100.0) == ()


# --- non-INVITE server ----------------------------------------------------------------------------


def test_non_invite_trying_absorbs_retransmissions() -> None:
    req = incoming("OPTIONS")
    tx = NonInviteServerTransaction(req)
    assert tx.state is TxState.TRYING
    assert tx.receive_request(req, 0.5) == ()
    assert tx.next_timer_at() is None


def test_non_invite_proceeding_and_completed_resend_last_response() -> None:
    req = incoming("BYE")
    tx = NonInviteServerTransaction(req)
    trying = response(req, 100, to_tag=None)
    assert tx.send_response(trying, 0.0) == (SendMessage(trying, False),)
    assert tx.state is TxState.PROCEEDING
    assert tx.receive_request(req, 0.5) == (SendMessage(trying, True),)
    ok = response(req, 200)
    assert tx.send_response(ok, 1.0) == (SendMessage(ok, False),)
    assert state(tx) is TxState.COMPLETED
    assert tx.receive_request(req, 2.0) == (SendMessage(ok, True),)
    assert tx.send_response(response(req, 500), 2.0) == ()
    assert tx.next_timer_at() == 33.0  # timer J = 64*T1
    assert tx.handle_timer(32.0) == ()
    assert tx.handle_timer(33.0) == (Terminated(TerminationReason.NORMAL),)
    assert tx.receive_request(req, 34.0) == ()


def test_non_invite_reliable_final_terminates_at_once() -> None:
    req = incoming("REGISTER")
    tx = NonInviteServerTransaction(req, reliable=True)
    ok = response(req, 200)
    assert tx.send_response(ok, 0.0) == (SendMessage(ok, False), Terminated(TerminationReason.NORMAL))


def test_timer_j_override_like_wt_timer() -> None:
    req = incoming("OPTIONS")
    tx = NonInviteServerTransaction(req, timers=TimerConfig(timer_j=5.0))
    tx.send_response(response(req, 200), 1.0)
    assert tx.next_timer_at() == 6.0
