"""What a transaction asks its caller to do, and the states it moves through.

A transaction never performs I/O. Each event method returns a tuple of actions; the caller (an
asyncio shell, the tm module, a test) carries them out in order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias


class TxState(enum.IntEnum):
    """States of RFC 3261 section 17 plus Accepted from RFC 6026 (2xx absorbed on both sides)."""

    CALLING = 1
    TRYING = 2
    PROCEEDING = 3
    COMPLETED = 4
    CONFIRMED = 5
    ACCEPTED = 6
    TERMINATED = 7


class TerminationReason(enum.StrEnum):
    NORMAL = "normal"
    TIMEOUT = "timeout"
    TRANSPORT_ERROR = "transport_error"


@dataclass(slots=True)
class SendMessage:
    """Write `data` to the transport towards this transaction's peer."""

    data: bytes
    retransmission: bool = False


@dataclass(slots=True)
class PassResponse:
    """Client side: a response for the TU. `retransmission` marks a 2xx seen again in Accepted."""

    response: Any
    retransmission: bool = False


@dataclass(slots=True)
class PassRequest:
    """Server side: a request the transaction hands up (an ACK for a 2xx reaching Accepted)."""

    request: Any


@dataclass(frozen=True, slots=True)
class FinalResponseTimeout:
    """A proxy's fr_timeout / fr_inv_timeout expired before any final response.

    The TU answers upstream with a 408 and, when `provisional_received` is true on an INVITE,
    cancels the branch. The transaction stays alive to absorb what still comes back.
    """

    timer: Literal["fr", "fr_inv"]
    provisional_received: bool


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction is over: remove it from the table."""

    reason: TerminationReason


Action: TypeAlias = SendMessage | PassResponse | PassRequest | FinalResponseTimeout | Terminated
Actions: TypeAlias = tuple[Action, ...]

NO_ACTIONS: Actions = ()
TERMINATED_NORMAL = Terminated(TerminationReason.NORMAL)
TERMINATED_TIMEOUT = Terminated(TerminationReason.TIMEOUT)
TERMINATED_TRANSPORT_ERROR = Terminated(TerminationReason.TRANSPORT_ERROR)
