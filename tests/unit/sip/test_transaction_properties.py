"""Properties of every machine under random event sequences (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pysips.sip.build import make_request, make_response
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.transaction import (
    Actions,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Terminated,
    Transaction,
    TxState,
)


def parsed(data: bytes) -> SipMessage:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    return msg


def request(method: str) -> SipMessage:
    return parsed(
        make_request(
            method,
            "sip:b@h",
            from_="<sip:a@h>;tag=f",
            to="<sip:b@h>",
            call_id="p",
            cseq=1,
            via="SIP/2.0/UDP h;branch=z9hG4bKprop",
        )
    )


INVITE = request("INVITE")
OPTIONS = request("OPTIONS")
ACK = request("ACK")
STATUSES = [100, 180, 183, 200, 202, 302, 404, 486, 487, 503, 603]
REPLIES = {
    (req.method, code): parsed(make_response(req, code, "R", to_tag="t"))
    for req in (INVITE, OPTIONS)
    for code in STATUSES
}

events = st.lists(
    st.tuples(
        st.sampled_from(["response", "request", "ack", "send", "timer", "error"]),
        st.sampled_from(STATUSES),
        st.floats(min_value=0.0, max_value=5.0),
    ),
    max_size=25,
)


def drive(tx: Transaction, script: list[tuple[str, int, float]], method: str) -> list[Actions]:
    now = 0.0
    out: list[Actions] = []
    for kind, code, step in script:
        now += step
        if kind == "timer":
            at = tx.next_timer_at()
            if at is not None:
                now = max(now, at)
            out.append(tx.handle_timer(now))
        elif kind == "error" and code == 503:  # rare
            out.append(tx.transport_error(now))
        elif kind == "response" and isinstance(tx, InviteClientTransaction | NonInviteClientTransaction):
            out.append(tx.receive_response(REPLIES[(method, code)], now))
        elif isinstance(tx, InviteServerTransaction | NonInviteServerTransaction):
            if kind == "send":
                out.append(tx.send_response(REPLIES[(method, code)].serialize(), now))
            elif kind == "request":
                out.append(tx.receive_request(INVITE if method == "INVITE" else OPTIONS, now))
            elif kind == "ack" and method == "INVITE":
                out.append(tx.receive_request(ACK, now))
        if tx.state is TxState.TERMINATED:
            assert tx.next_timer_at() is None
    # Let every timer run out.
    for _ in range(200):
        at = tx.next_timer_at()
        if at is None:
            break
        out.append(tx.handle_timer(at))
    return out


def check(tx: Transaction, history: list[Actions]) -> None:
    flat = [action for actions in history for action in actions]
    ends = [i for i, action in enumerate(flat) if isinstance(action, Terminated)]
    assert len(ends) <= 1
    if ends:
        assert ends[0] == len(flat) - 1  # nothing after Terminated
        assert tx.state is TxState.TERMINATED and tx.next_timer_at() is None
    else:
        assert tx.state is not TxState.TERMINATED


@settings(max_examples=150, deadline=None)
@given(events, st.booleans(), st.booleans())
def test_client_machines_always_terminate(
    script: list[tuple[str, int, float]], invite: bool, reliable: bool
) -> None:
    tx: InviteClientTransaction | NonInviteClientTransaction
    if invite:
        tx = InviteClientTransaction(INVITE.raw, reliable=reliable, fr_timeout=3.0, fr_inv_timeout=9.0)
    else:
        tx = NonInviteClientTransaction(OPTIONS.raw, reliable=reliable)
    history = [tx.start(0.0)]
    history += drive(tx, script, "INVITE" if invite else "OPTIONS")
    check(tx, history)
    assert tx.state is TxState.TERMINATED  # a client transaction never outlives its timers


@settings(max_examples=150, deadline=None)
@given(events, st.booleans(), st.booleans())
def test_server_machines_end_once_a_final_is_sent(
    script: list[tuple[str, int, float]], invite: bool, reliable: bool
) -> None:
    tx: InviteServerTransaction | NonInviteServerTransaction
    if invite:
        tx = InviteServerTransaction(INVITE, reliable=reliable)
        history = [tx.start(0.0, trying_after=0.2)]
    else:
        tx = NonInviteServerTransaction(OPTIONS, reliable=reliable)
        history = []
    history += drive(tx, script, "INVITE" if invite else "OPTIONS")
    check(tx, history)
    if tx.last_status >= 200:
        assert tx.state is TxState.TERMINATED
