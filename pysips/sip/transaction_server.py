"""Server transactions: INVITE (17.2.1, with RFC 6026 Accepted) and non-INVITE (17.2.2).

The TU hands responses in as bytes or as a message with `status` and `serialize()`. A response
the state does not allow (a second final, a provisional after a final) is refused: the call
returns no actions and the transaction is unchanged.
"""

from __future__ import annotations

from .transaction_actions import (
    NO_ACTIONS,
    TERMINATED_NORMAL,
    TERMINATED_TIMEOUT,
    Actions,
    PassRequest,
    SendMessage,
    TerminationReason,
    TxState,
)
from .transaction_base import DEFAULT_TIMERS, NEVER, TimerConfig, Transaction
from .transaction_build import build_trying, status_of
from .transaction_types import MessageLike, OutgoingResponse

_TRYING = TxState.TRYING
_PROCEEDING = TxState.PROCEEDING
_COMPLETED = TxState.COMPLETED
_CONFIRMED = TxState.CONFIRMED
_ACCEPTED = TxState.ACCEPTED
_TERMINATED = TxState.TERMINATED


def response_bytes(response: bytes | OutgoingResponse, status: int | None = None) -> tuple[bytes, int]:
    """Serialized response and its status (0 when the bytes carry no valid status line);
    `status`, when given, is that of the bytes, already read by the caller."""
    if isinstance(response, bytes):
        return response, status_of(response) if status is None else status
    status = response.status
    return response.serialize(), status if 100 <= status <= 699 else 0


class ServerTransaction(Transaction):
    """The request that created the transaction and the last response sent for it."""

    __slots__ = ("key", "last_response", "request")

    def __init__(self, state: TxState, request: MessageLike, reliable: bool, timers: TimerConfig) -> None:
        super().__init__(state, reliable, timers)
        self.request = request
        self.key: tuple[str | int | None, ...] | None = None  # set by the table
        self.last_response: bytes | None = None

    def receive_request(self, request: MessageLike, now: float) -> Actions:
        """A request matched to this transaction: a retransmission, or the ACK of an INVITE."""
        raise NotImplementedError

    def send_response(
        self, response: bytes | OutgoingResponse, now: float, status: int | None = None
    ) -> Actions:
        """The TU's response; returns no actions when the state does not allow it. `status` is
        status_of(response) when the TU has read it already (bytes only)."""
        raise NotImplementedError

    def _resend(self) -> Actions:
        if self.last_response is None:
            return NO_ACTIONS
        return (SendMessage(self.last_response, True),)


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 17.2.1: Proceeding, Completed, Confirmed, Accepted (RFC 6026), Terminated.

    100 Trying is the TU's policy, passed to start(): send it at once, after a delay unless the
    TU has sent a provisional by then (the RFC's 200 ms rule), or never.
    """

    __slots__ = ()

    is_invite = True

    def __init__(
        self, request: MessageLike, *, reliable: bool = False, timers: TimerConfig = DEFAULT_TIMERS
    ) -> None:
        super().__init__(_PROCEEDING, request, reliable, timers)

    def start(self, now: float, trying_after: float | None = 0.0) -> Actions:
        """Apply the 100 Trying policy: 0 sends it now, > 0 arms a timer, None never sends it."""
        if trying_after is None or self.state is not _PROCEEDING or self.last_response is not None:
            return NO_ACTIONS
        if trying_after <= 0:
            return self._send_trying()
        self._retransmit_at = now + trying_after
        return NO_ACTIONS

    def _send_trying(self) -> Actions:
        data = build_trying(self.request)
        self.last_response = data
        self.last_status = 100
        return (SendMessage(data),)

    def handle_timer(self, now: float) -> Actions:
        state = self.state
        if state is _TERMINATED:
            return NO_ACTIONS
        if self._end_at <= now:
            if state is _COMPLETED:  # timer H: no ACK came
                self._terminate(TerminationReason.TIMEOUT)
                return (TERMINATED_TIMEOUT,)
            self._terminate(TerminationReason.NORMAL)  # timer I in Confirmed, L in Accepted
            return (TERMINATED_NORMAL,)
        if self._retransmit_at <= now:
            if state is _PROCEEDING:  # the delayed 100 Trying
                self._retransmit_at = NEVER
                return self._send_trying() if self.last_response is None else NO_ACTIONS
            if state is _COMPLETED:  # timer G
                doubled = self._interval * 2
                self._interval = doubled if doubled < self.timers.t2 else self.timers.t2
                self._retransmit_at = now + self._interval
                return self._resend()
        return NO_ACTIONS

    def receive_request(self, request: MessageLike, now: float) -> Actions:
        """A request matched to this transaction: an INVITE retransmission or the ACK."""
        state = self.state
        if request.method == "ACK":
            if state is _COMPLETED:
                self.state = _CONFIRMED
                self._retransmit_at = NEVER
                if self.reliable:  # timer I is zero
                    self._terminate(TerminationReason.NORMAL)
                    return (TERMINATED_NORMAL,)
                self._end_at = now + self.timers.t4  # timer I
                return NO_ACTIONS
            if state is _ACCEPTED:
                return (PassRequest(request),)
            return NO_ACTIONS
        if state is _PROCEEDING or state is _COMPLETED:
            return self._resend()
        return NO_ACTIONS

    def send_response(
        self, response: bytes | OutgoingResponse, now: float, status: int | None = None
    ) -> Actions:
        data, status = response_bytes(response, status)
        state = self.state
        if status == 0:
            return NO_ACTIONS
        if state is _ACCEPTED:
            # The TU (a UAS core or a proxy relaying) retransmits 2xx itself; pass them through.
            if status < 200 or status >= 300:
                return NO_ACTIONS
            retransmission = data == self.last_response
            self.last_response = data
            return (SendMessage(data, retransmission),)
        if state is not _PROCEEDING:
            return NO_ACTIONS
        self.last_response = data
        self.last_status = status
        self._retransmit_at = NEVER  # also drops a pending delayed 100 Trying
        if status < 200:
            return (SendMessage(data),)
        if status < 300:
            self.state = _ACCEPTED
            self._end_at = now + self.timers.timeout  # timer L
            return (SendMessage(data),)
        self.state = _COMPLETED
        if not self.reliable:
            self._interval = self.timers.t1
            self._retransmit_at = now + self.timers.t1  # timer G
        self._end_at = now + self.timers.timeout  # timer H
        return (SendMessage(data),)


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 17.2.2: Trying, Proceeding, Completed, Terminated (timer J)."""

    __slots__ = ()

    def __init__(
        self, request: MessageLike, *, reliable: bool = False, timers: TimerConfig = DEFAULT_TIMERS
    ) -> None:
        super().__init__(_TRYING, request, reliable, timers)

    def handle_timer(self, now: float) -> Actions:
        if self.state is _COMPLETED and self._end_at <= now:  # timer J
            self._terminate(TerminationReason.NORMAL)
            return (TERMINATED_NORMAL,)
        return NO_ACTIONS

    def receive_request(self, request: MessageLike, now: float) -> Actions:
        """A retransmission of the request: absorbed in Trying, answered again afterwards."""
        state = self.state
        if state is _PROCEEDING or state is _COMPLETED:
            return self._resend()
        return NO_ACTIONS

    def send_response(
        self, response: bytes | OutgoingResponse, now: float, status: int | None = None
    ) -> Actions:
        state = self.state
        if state is not _TRYING and state is not _PROCEEDING:
            return NO_ACTIONS
        data, status = response_bytes(response, status)
        if status == 0:
            return NO_ACTIONS
        self.last_response = data
        self.last_status = status
        if status < 200:
            self.state = _PROCEEDING
            return (SendMessage(data),)
        self.state = _COMPLETED
        if self.reliable:  # timer J is zero
            self._terminate(TerminationReason.NORMAL)
            return (SendMessage(data), TERMINATED_NORMAL)
        timer_j = self.timers.timer_j
        self._end_at = now + (self.timers.timeout if timer_j is None else timer_j)
        return (SendMessage(data),)
