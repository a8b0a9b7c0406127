"""Parts shared by the four transaction machines: timer values, deadlines, transport errors."""

from __future__ import annotations

from dataclasses import dataclass, field

from .transaction_actions import (
    NO_ACTIONS,
    TERMINATED_TRANSPORT_ERROR,
    Actions,
    TerminationReason,
    TxState,
)

NEVER = float("inf")


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 timer values in seconds (table 4). One instance is shared by many transactions.

    `timer_j` overrides 64*T1 for timer J, as OpenSIPS' wt_timer shortens the wait of
    non-INVITE server transactions; None keeps the RFC value.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0
    timer_j: float | None = None
    # 64*T1: timers B, F, H, J (unless overridden), L, M.
    timeout: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeout", 64 * self.t1)


DEFAULT_TIMERS = TimerConfig()

RELIABLE_PROTOCOLS = frozenset({"tcp", "tls", "ws", "wss", "sctp"})


def is_reliable(proto: str) -> bool:
    """Whether retransmission timers are off for `proto` ("udp", "TCP", "wss" ...)."""
    return proto.lower() in RELIABLE_PROTOCOLS


class Transaction:
    """State and deadlines common to client and server transactions.

    Deadlines are absolute times on the caller's clock (`now` arguments); NEVER when unset.
    """

    __slots__ = ("_end_at", "_interval", "_retransmit_at", "last_status", "reason", "reliable", "state",
                 "timers")

    is_invite = False
    is_client = False

    def __init__(self, state: TxState, reliable: bool, timers: TimerConfig) -> None:
        self.state = state
        self.reliable = reliable
        self.timers = timers
        self.last_status = 0
        self.reason: TerminationReason | None = None
        self._retransmit_at = NEVER
        self._end_at = NEVER
        self._interval = timers.t1

    @property
    def terminated(self) -> bool:
        return self.state is TxState.TERMINATED

    def next_timer_at(self) -> float | None:
        """When handle_timer() should next be called, or None if no timer is running."""
        at = self._retransmit_at if self._retransmit_at < self._end_at else self._end_at
        return None if at == NEVER else at

    def handle_timer(self, now: float) -> Actions:
        raise NotImplementedError

    def transport_error(self, now: float) -> Actions:
        """The transport could not send for this transaction (17.1.4, 17.2.4)."""
        if self.state is TxState.TERMINATED:
            return NO_ACTIONS
        self._terminate(TerminationReason.TRANSPORT_ERROR)
        return (TERMINATED_TRANSPORT_ERROR,)

    def _terminate(self, reason: TerminationReason) -> None:
        self.state = TxState.TERMINATED
        self.reason = reason
        self._retransmit_at = NEVER
        self._end_at = NEVER

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state.name} key={getattr(self, 'key', None)!r}>"
