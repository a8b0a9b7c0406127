"""Client transactions (RFC 3261 17.1): every transition and timer, time passed in."""

from __future__ import annotations

from pysips.sip.build import make_request, make_response
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.transaction import (
    Actions,
    FinalResponseTimeout,
    InviteClientTransaction,
    NonInviteClientTransaction,
    PassResponse,
    SendMessage,
    Terminated,
    TerminationReason,
    TimerConfig,
    Transaction,
    TxState,
    is_reliable,
)

BRANCH = "z9hG4bKclient1"


def request(method: str = "INVITE", routes: tuple[str, ...] = ()) -> bytes:
    return make_request(
        method,
        "sip:bob@uas.example",
        from_="<sip:alice@uac.example>;tag=ft1",
        to="<sip:bob@uas.example>",
        call_id="call-1@uac",
        cseq=7,
        via=f"SIP/2.0/UDP proxy.example:5060;branch={BRANCH}",
        routes=routes,
    )


def parsed(data: bytes) -> SipMessage:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage), msg
    return msg


def reply(req: bytes, status: int, to_tag: str | None = "tt9") -> SipMessage:
    return parsed(make_response(parsed(req), status, "Reason", to_tag=to_tag))


def state(tx: Transaction) -> TxState:
    """Read through a call so mypy does not keep the narrowing of an earlier assert."""
    return tx.state


def sends(actions: Actions) -> list[SendMessage]:
    return [a for a in actions if isinstance(a, SendMessage)]


def passed(actions: Actions) -> list[PassResponse]:
    return [a for a in actions if isinstance(a, PassResponse)]


def run_timers(
    tx: InviteClientTransaction | NonInviteClientTransaction, until: float
) -> list[tuple[float, Actions]]:
    """Fire timers at their exact deadlines up to `until`; (time, actions) of each firing."""
    fired = []
    while (at := tx.next_timer_at()) is not None and at <= until:
        fired.append((at, tx.handle_timer(at)))
    return fired


# --- INVITE client -------------------------------------------------------------------------------


def test_invite_start_sends_request_and_arms_timer_a() -> None:
    req = request()
    tx = InviteClientTransaction(req)
    assert tx.state is TxState.CALLING
    actions = tx.start(10.0)
    assert actions == (SendMessage(req, False),)
    assert tx.next_timer_at() == 10.5


def test_invite_udp_retransmits_doubling_then_timer_b_times_out() -> None:
    req = request()
    tx = InviteClientTransaction(req)
    tx.start(0.0)
    fired = run_timers(tx, 100.0)
    retransmit_times = [at for at, acts in fired if acts == (SendMessage(req, True),)]
    # Intervals T1, 2T1, 4T1 ... (no cap for INVITE): 0.5, 1.5, 3.5, 7.5, 15.5, 31.5.
    assert retransmit_times == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert fired[-1] == (32.0, (Terminated(TerminationReason.TIMEOUT),))
    assert tx.state is TxState.TERMINATED
    assert tx.reason is TerminationReason.TIMEOUT
    assert tx.next_timer_at() is None


def test_invite_provisional_stops_retransmissions_and_timer_b() -> None:
    req = request()
    tx = InviteClientTransaction(req)
    tx.start(0.0)
    assert tx.handle_timer(0.5) == (SendMessage(req, True),)
    ringing = reply(req, 180)
    actions = tx.receive_response(ringing, 0.7)
    assert actions == (PassResponse(ringing, False),)
    assert tx.state is TxState.PROCEEDING
    assert tx.next_timer_at() is None
    assert tx.handle_timer(1.5) == ()
    # Further provisionals still go up.
    progress = reply(req, 183)
    assert tx.receive_response(progress, 2.0) == (PassResponse(progress, False),)


def test_invite_non2xx_sends_ack_then_absorbs_retransmission_until_timer_d() -> None:
    req = request(routes=("<sip:p1.example;lr>", "<sip:p2.example;lr>"))
    tx = InviteClientTransaction(req)
    tx.start(0.0)
    tx.receive_response(reply(req, 100, to_tag=None), 0.1)
    busy = reply(req, 486)
    actions = tx.receive_response(busy, 1.0)
    assert tx.state is TxState.COMPLETED
    assert passed(actions) == [PassResponse(busy, False)]
    [ack_send] = sends(actions)
    assert ack_send.retransmission is False
    ack = parsed(ack_send.data)
    assert ack.method == "ACK" and ack.ruri == "sip:bob@uas.example"
    assert [v.branch for v in ack.vias] == [BRANCH]
    assert ack.cseq.number == 7 and ack.cseq.method == "ACK"
    assert ack.to.tag == "tt9" and ack.from_.tag == "ft1" and ack.call_id == "call-1@uac"
    assert ack.headers("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert ack.content_length == 0
    assert tx.ack == ack_send.data
    assert tx.next_timer_at() == 33.0  # timer D: 32 s on UDP
    # A retransmitted final: ACK again, nothing for the TU.
    assert tx.receive_response(busy, 2.0) == (SendMessage(ack_send.data, True),)
    assert tx.receive_response(reply(req, 180), 2.5) == ()
    assert tx.handle_timer(32.9) == ()
    assert tx.handle_timer(33.0) == (Terminated(TerminationReason.NORMAL),)
    assert tx.receive_response(busy, 34.0) == ()


def test_invite_non2xx_in_calling_goes_to_completed() -> None:
    req = request()
    tx = InviteClientTransaction(req)
    tx.start(0.0)
    actions = tx.receive_response(reply(req, 503), 0.2)
    assert tx.state is TxState.COMPLETED
    assert len(sends(actions)) == 1
    assert tx.handle_timer(0.5) == ()  # timer A is off


def test_invite_2xx_accepted_passes_retransmissions_until_timer_m() -> None:
    req = request()
    tx = InviteClientTransaction(req)
    tx.start(0.0)
    ok = reply(req, 200)
    assert tx.receive_response(ok, 1.0) == (PassResponse(ok, False),)
    assert tx.state is TxState.ACCEPTED
    assert tx.next_timer_at() == 33.0  # timer M = 64*T1
    assert tx.receive_response(ok, 1.5) == (PassResponse(ok, True),)
    assert tx.receive_response(reply(req, 486), 1.6) == ()
    assert tx.handle_timer(33.0) == (Terminated(TerminationReason.NORMAL),)
    assert tx.receive_response(ok, 34.0) == ()


def test_invite_reliable_has_no_timer_a_and_zero_timer_d() -> None:
    req = request()
    tx = InviteClientTransaction(req, reliable=is_reliable("TCP"))
    tx.start(0.0)
    assert tx.next_timer_at() == 32.0  # only timer B
    actions = tx.receive_response(reply(req, 404), 1.0)
    assert len(sends(actions)) == 1
    assert actions[-1] == Terminated(TerminationReason.NORMAL)
    assert tx.state is TxState.TERMINATED


def test_invite_transport_error_terminates() -> None:
    tx = InviteClientTransaction(request())
    tx.start(0.0)
    assert tx.transport_error(0.1) == (Terminated(TerminationReason.TRANSPORT_ERROR),)
    assert tx.state is TxState.TERMINATED and tx.next_timer_at() is None
    assert tx.transport_error(0.2) == ()


def test_custom_timer_values() -> None:
    req = request()
    tx = InviteClientTransaction(req, timers=TimerConfig(t1=0.1, t2=1.0, t4=2.0))
    tx.start(0.0)
    fired = run_timers(tx, 10.0)
    assert [round(at, 6) for at, _ in fired] == [0.1, 0.3, 0.7, 1.5, 3.1, 6.3, 6.4]
    assert fired[-1][1] == (Terminated(TerminationReason.TIMEOUT),)


# --- final response timers (OpenSIPS tm fr_timeout / fr_inv_timeout) ----------------------------


def test_fr_timeout_without_provisional_replaces_timer_b() -> None:
    req = request()
    tx = InviteClientTransaction(req, fr_timeout=3.0, fr_inv_timeout=60.0)
    tx.start(0.0)
    fired = run_timers(tx, 3.0)
    assert fired[-1] == (3.0, (FinalResponseTimeout("fr", False),))
    assert tx.fr_expired and tx.state is TxState.CALLING
    # Retransmissions stopped; the transaction now waits 64*T1 for a late answer.
    assert tx.next_timer_at() == 35.0
    late = reply(req, 180)
    assert tx.receive_response(late, 4.0) == (PassResponse(late, False),)
    assert state(tx) is TxState.PROCEEDING and tx.next_timer_at() == 35.0  # no fr_inv after expiry
    assert tx.handle_timer(35.0) == (Terminated(TerminationReason.TIMEOUT),)


def test_fr_inv_timeout_restarts_on_each_provisional() -> None:
    req = request()
    tx = InviteClientTransaction(req, fr_timeout=30.0, fr_inv_timeout=60.0)
    tx.start(0.0)
    tx.receive_response(reply(req, 180), 1.0)
    assert tx.next_timer_at() == 61.0
    tx.receive_response(reply(req, 180), 10.0)
    assert tx.next_timer_at() == 70.0
    assert tx.handle_timer(70.0) == (FinalResponseTimeout("fr_inv", True),)
    # The TU cancels; the 487 completes the transaction normally.
    actions = tx.receive_response(reply(req, 487), 71.0)
    assert tx.state is TxState.COMPLETED and len(sends(actions)) == 1


def test_fr_inv_timeout_without_restart_moves_only_on_progress() -> None:
    req = request()
    tx = InviteClientTransaction(req, fr_timeout=30.0, fr_inv_timeout=60.0, restart_fr_on_each_reply=False)
    tx.start(0.0)
    tx.receive_response(reply(req, 100, to_tag=None), 1.0)  # first provisional: arms fr_inv
    assert tx.next_timer_at() == 61.0
    tx.receive_response(reply(req, 100, to_tag=None), 2.0)  # same status: no restart
    assert tx.next_timer_at() == 61.0
    tx.receive_response(reply(req, 180), 5.0)  # progress to 18x: restart
    assert tx.next_timer_at() == 65.0
    tx.receive_response(reply(req, 180), 20.0)  # repeated 180: no restart
    assert tx.next_timer_at() == 65.0
    tx.receive_response(reply(req, 183), 30.0)  # higher 18x: restart
    assert tx.next_timer_at() == 90.0


def test_fr_inv_timeout_without_fr_timeout_keeps_timer_b_until_provisional() -> None:
    req = request()
    tx = InviteClientTransaction(req, reliable=True, fr_inv_timeout=60.0)
    tx.start(0.0)
    assert tx.next_timer_at() == 32.0
    tx.receive_response(reply(req, 180), 1.0)
    assert tx.next_timer_at() == 61.0


def test_final_response_clears_fr_timer() -> None:
    req = request()
    tx = InviteClientTransaction(req, reliable=True, fr_timeout=5.0)
    tx.start(0.0)
    tx.receive_response(reply(req, 200), 1.0)
    assert tx.next_timer_at() == 33.0  # only timer M left


# --- non-INVITE client ----------------------------------------------------------------------------


def test_non_invite_timer_e_caps_at_t2_and_timer_f_times_out() -> None:
    req = request("OPTIONS")
    tx = NonInviteClientTransaction(req)
    assert tx.state is TxState.TRYING
    assert tx.start(0.0) == (SendMessage(req, False),)
    fired = run_timers(tx, 100.0)
    times = [at for at, acts in fired if acts == (SendMessage(req, True),)]
    # Intervals 0.5, 1, 2, 4, 4, ... (capped at T2 = 4 s).
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert fired[-1] == (32.0, (Terminated(TerminationReason.TIMEOUT),))


def test_non_invite_provisional_moves_to_proceeding_and_retransmits_at_t2() -> None:
    req = request("BYE")
    tx = NonInviteClientTransaction(req)
    tx.start(0.0)
    trying = reply(req, 100, to_tag=None)
    assert tx.receive_response(trying, 0.2) == (PassResponse(trying, False),)
    assert tx.state is TxState.PROCEEDING
    assert tx.next_timer_at() == 0.5  # the pending E deadline stays
    fired = run_timers(tx, 9.0)
    assert [at for at, _ in fired] == [0.5, 4.5, 8.5]
    assert all(acts == (SendMessage(req, True),) for _, acts in fired)


def test_non_invite_final_completes_absorbs_and_timer_k_terminates() -> None:
    req = request("BYE")
    tx = NonInviteClientTransaction(req)
    tx.start(0.0)
    ok = reply(req, 200)
    assert tx.receive_response(ok, 1.0) == (PassResponse(ok, False),)
    assert tx.state is TxState.COMPLETED
    assert tx.next_timer_at() == 6.0  # timer K = T4
    assert tx.receive_response(ok, 2.0) == ()
    assert tx.handle_timer(6.0) == (Terminated(TerminationReason.NORMAL),)


def test_non_invite_reliable_no_retransmission_and_zero_timer_k() -> None:
    req = request("REGISTER")
    tx = NonInviteClientTransaction(req, reliable=True)
    tx.start(0.0)
    assert tx.next_timer_at() == 32.0
    ok = reply(req, 200)
    assert tx.receive_response(ok, 1.0) == (PassResponse(ok, False), Terminated(TerminationReason.NORMAL))


def test_non_invite_fr_timeout_completes_then_times_out() -> None:
    req = request("MESSAGE")
    tx = NonInviteClientTransaction(req, fr_timeout=2.0)
    tx.start(0.0)
    fired = run_timers(tx, 2.0)
    assert [at for at, _ in fired] == [0.5, 1.5, 2.0]
    assert fired[-1][1] == (FinalResponseTimeout("fr", False),)
    assert tx.state is TxState.COMPLETED
    assert tx.receive_response(reply(req, 200), 3.0) == ()  # late answer absorbed
    assert tx.handle_timer(7.0) == (Terminated(TerminationReason.TIMEOUT),)


def test_non_invite_fr_timeout_reliable_terminates_at_once() -> None:
    tx = NonInviteClientTransaction(request("MESSAGE"), reliable=True, fr_timeout=2.0)
    tx.start(0.0)
    assert tx.handle_timer(2.0) == (FinalResponseTimeout("fr", False), Terminated(TerminationReason.TIMEOUT))


def test_arm_starts_the_timers_of_a_request_the_tu_sent_itself() -> None:
    """arm() is start() without the SendMessage: the same deadlines, the same retransmissions."""
    for make in (InviteClientTransaction, NonInviteClientTransaction):
        started, armed = make(request(), fr_timeout=30.0), make(request(), fr_timeout=30.0)
        assert started.start(0.0) == (SendMessage(started.request),)
        assert armed.arm(0.0) is None
        assert armed.next_timer_at() == started.next_timer_at() == 0.5
        assert armed.handle_timer(0.5) == started.handle_timer(0.5) == (SendMessage(armed.request, True),)
