"""Client transactions: INVITE (17.1.1, with RFC 6026 Accepted) and non-INVITE (17.1.2).

A proxy's final-response timers (OpenSIPS tm fr_timeout / fr_inv_timeout) ride on the same
objects. When `fr_timeout` is set it takes the place of timer B / F as the limit for "no final
response", as in OpenSIPS, which has no separate B or F: on expiry the transaction emits
FinalResponseTimeout, stops retransmitting and keeps absorbing late responses for a while.
"""

from __future__ import annotations

from typing import Literal

from .transaction_actions import (
    NO_ACTIONS,
    TERMINATED_NORMAL,
    TERMINATED_TIMEOUT,
    Actions,
    FinalResponseTimeout,
    PassResponse,
    SendMessage,
    TerminationReason,
    TxState,
)
from .transaction_base import DEFAULT_TIMERS, NEVER, TimerConfig, Transaction
from .transaction_build import build_ack_for_non2xx
from .transaction_types import MessageLike

_CALLING = TxState.CALLING
_TRYING = TxState.TRYING
_PROCEEDING = TxState.PROCEEDING
_COMPLETED = TxState.COMPLETED
_ACCEPTED = TxState.ACCEPTED
_TERMINATED = TxState.TERMINATED


class ClientTransaction(Transaction):
    """What both client machines share: the request bytes and the final-response timer."""

    __slots__ = ("_fr_at", "_fr_kind", "fr_expired", "fr_timeout", "key", "provisional_received", "request")

    is_client = True

    def __init__(
        self,
        state: TxState,
        request: bytes,
        reliable: bool,
        timers: TimerConfig,
        fr_timeout: float | None,
    ) -> None:
        super().__init__(state, reliable, timers)
        self.request = request
        self.key: tuple[str, str] | None = None  # set by the table
        self.fr_timeout = fr_timeout
        self.fr_expired = False
        self.provisional_received = False
        self._fr_at = NEVER
        self._fr_kind: Literal["fr", "fr_inv"] = "fr"

    def next_timer_at(self) -> float | None:
        at = min(self._retransmit_at, self._end_at, self._fr_at)
        return None if at == NEVER else at

    def start(self, now: float) -> Actions:
        """Send the request for the first time and arm the timers."""
        self.arm(now)
        return (SendMessage(self.request),)

    def arm(self, now: float) -> None:
        """start() for a TU that has sent the request itself: only the timers."""
        if not self.reliable:
            self._interval = self.timers.t1
            self._retransmit_at = now + self.timers.t1
        if self.fr_timeout is None:
            self._end_at = now + self.timers.timeout  # timer B / F
        else:
            self._fr_at = now + self.fr_timeout

    def receive_response(self, response: MessageLike, now: float) -> Actions:
        """A response matched to this transaction (by the table, on branch and CSeq method)."""
        raise NotImplementedError

    def _expire_fr(self) -> FinalResponseTimeout:
        self._fr_at = NEVER
        self._retransmit_at = NEVER
        self.fr_expired = True
        return FinalResponseTimeout(self._fr_kind, self.provisional_received)

    def _terminate(self, reason: TerminationReason) -> None:
        super()._terminate(reason)
        self._fr_at = NEVER


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 17.1.1: Calling, Proceeding, Completed, Accepted (RFC 6026), Terminated.

    `request` is the INVITE exactly as sent. `fr_inv_timeout` replaces the final-response timer
    when a provisional arrives; with `restart_fr_on_each_reply` every provisional re-arms it,
    otherwise only one that raises the status (first 100, first 18x ...), as OpenSIPS does.
    After the final-response timer expires the TU cancels the branch (now or on the first
    provisional, see `fr_expired`); the transaction then waits up to 64*T1 for a final response.
    """

    __slots__ = ("_ack", "fr_inv_timeout", "restart_fr_on_each_reply")

    is_invite = True

    def __init__(
        self,
        request: bytes,
        *,
        reliable: bool = False,
        timers: TimerConfig = DEFAULT_TIMERS,
        fr_timeout: float | None = None,
        fr_inv_timeout: float | None = None,
        restart_fr_on_each_reply: bool = True,
    ) -> None:
        super().__init__(_CALLING, request, reliable, timers, fr_timeout)
        self.fr_inv_timeout = fr_inv_timeout
        self.restart_fr_on_each_reply = restart_fr_on_each_reply
        self._ack: bytes | None = None

    @property
    def ack(self) -> bytes | None:
        """The ACK sent for a non-2xx final response, once there is one."""
        return self._ack

    def handle_timer(self, now: float) -> Actions:
        state = self.state
        if state is _TERMINATED:
            return NO_ACTIONS
        if self._end_at <= now:
            if state is _CALLING or state is _PROCEEDING:  # timer B, or the wait after fr expiry
                self._terminate(TerminationReason.TIMEOUT)
                return (TERMINATED_TIMEOUT,)
            self._terminate(TerminationReason.NORMAL)  # timer D in Completed, M in Accepted
            return (TERMINATED_NORMAL,)
        if self._fr_at <= now:
            expired = self._expire_fr()
            self._end_at = now + self.timers.timeout
            return (expired,)
        if self._retransmit_at <= now and state is _CALLING:  # timer A
            self._interval *= 2
            self._retransmit_at = now + self._interval
            return (SendMessage(self.request, True),)
        return NO_ACTIONS

    def receive_response(self, response: MessageLike, now: float) -> Actions:
        state = self.state
        status = response.status
        if state is _CALLING or state is _PROCEEDING:
            if status < 200:
                return self._provisional(response, status, now)
            self._retransmit_at = NEVER
            self._fr_at = NEVER
            self.last_status = status
            if status < 300:
                self.state = _ACCEPTED
                self._end_at = now + self.timers.timeout  # timer M
                return (PassResponse(response),)
            self.state = _COMPLETED
            self._ack = build_ack_for_non2xx(self.request, response.header("To") or "")
            sent: Actions = (SendMessage(self._ack),) if self._ack is not None else NO_ACTIONS
            if self.reliable:  # timer D is zero
                self._terminate(TerminationReason.NORMAL)
                return (*sent, PassResponse(response), TERMINATED_NORMAL)
            self._end_at = now + self.timers.timer_d
            return (*sent, PassResponse(response))
        if state is _COMPLETED:
            if status >= 300 and self._ack is not None:
                return (SendMessage(self._ack, True),)
            return NO_ACTIONS
        if state is _ACCEPTED and 200 <= status < 300:
            return (PassResponse(response, True),)
        return NO_ACTIONS

    def _provisional(self, response: MessageLike, status: int, now: float) -> Actions:
        self.state = _PROCEEDING
        self._retransmit_at = NEVER
        previous = self.last_status
        self.last_status = status
        self.provisional_received = True
        if not self.fr_expired:
            self._end_at = NEVER  # timer B only runs in Calling
            if self.fr_inv_timeout is not None and (
                self.restart_fr_on_each_reply
                or (status > previous and (status >= 180 or previous == 0))
            ):
                self._fr_at = now + self.fr_inv_timeout
                self._fr_kind = "fr_inv"
        return (PassResponse(response),)


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 17.1.2: Trying, Proceeding, Completed, Terminated (timers E, F, K).

    After fr_timeout expires the transaction goes to Completed and absorbs late responses for
    timer K, then terminates with reason TIMEOUT.
    """

    __slots__ = ()

    def __init__(
        self,
        request: bytes,
        *,
        reliable: bool = False,
        timers: TimerConfig = DEFAULT_TIMERS,
        fr_timeout: float | None = None,
    ) -> None:
        super().__init__(_TRYING, request, reliable, timers, fr_timeout)

    def handle_timer(self, now: float) -> Actions:
        state = self.state
        if state is _TERMINATED:
            return NO_ACTIONS
        if self._end_at <= now:
            if state is _COMPLETED and not self.fr_expired:  # timer K
                self._terminate(TerminationReason.NORMAL)
                return (TERMINATED_NORMAL,)
            self._terminate(TerminationReason.TIMEOUT)  # timer F, or K after fr expiry
            return (TERMINATED_TIMEOUT,)
        if self._fr_at <= now:
            expired = self._expire_fr()
            self.state = _COMPLETED
            if self.reliable:
                self._terminate(TerminationReason.TIMEOUT)
                return (expired, TERMINATED_TIMEOUT)
            self._end_at = now + self.timers.t4
            return (expired,)
        if self._retransmit_at <= now and (state is _TRYING or state is _PROCEEDING):  # timer E
            t2 = self.timers.t2
            if state is _PROCEEDING:
                self._interval = t2
            else:
                doubled = self._interval * 2
                self._interval = doubled if doubled < t2 else t2
            self._retransmit_at = now + self._interval
            return (SendMessage(self.request, True),)
        return NO_ACTIONS

    def receive_response(self, response: MessageLike, now: float) -> Actions:
        state = self.state
        if state is not _TRYING and state is not _PROCEEDING:
            return NO_ACTIONS
        status = response.status
        self.last_status = status
        if status < 200:
            self.state = _PROCEEDING
            self.provisional_received = True
            return (PassResponse(response),)
        self.state = _COMPLETED
        self._retransmit_at = NEVER
        self._fr_at = NEVER
        if self.reliable:  # timer K is zero
            self._terminate(TerminationReason.NORMAL)
            return (PassResponse(response), TERMINATED_NORMAL)
        self._end_at = now + self.timers.t4
        return (PassResponse(response),)
