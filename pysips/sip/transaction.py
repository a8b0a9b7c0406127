"""RFC 3261 section 17 transactions, sans-I/O: the public names of the transaction layer.

Time is the caller's (`now` arguments, seconds as float, any monotonic origin). Every event
method returns the actions to perform; `next_timer_at()` says when to call `handle_timer()`.
See docs/transactions.md.
"""

from __future__ import annotations

from .transaction_actions import (
    NO_ACTIONS,
    Action,
    Actions,
    FinalResponseTimeout,
    PassRequest,
    PassResponse,
    SendMessage,
    Terminated,
    TerminationReason,
    TxState,
)
from .transaction_base import DEFAULT_TIMERS, RELIABLE_PROTOCOLS, TimerConfig, Transaction, is_reliable
from .transaction_build import build_ack_for_non2xx, build_trying, status_of
from .transaction_client import ClientTransaction, InviteClientTransaction, NonInviteClientTransaction
from .transaction_server import InviteServerTransaction, NonInviteServerTransaction, ServerTransaction
from .transaction_table import (
    MAGIC_COOKIE,
    ClientKey,
    ServerKey,
    TransactionTable,
    request_key,
    response_key,
)
from .transaction_timers import TimerQueue

__all__ = [
    "DEFAULT_TIMERS",
    "MAGIC_COOKIE",
    "NO_ACTIONS",
    "RELIABLE_PROTOCOLS",
    "Action",
    "Actions",
    "ClientKey",
    "ClientTransaction",
    "FinalResponseTimeout",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "PassRequest",
    "PassResponse",
    "SendMessage",
    "ServerKey",
    "ServerTransaction",
    "Terminated",
    "TerminationReason",
    "TimerConfig",
    "TimerQueue",
    "Transaction",
    "TransactionTable",
    "TxState",
    "build_ack_for_non2xx",
    "build_trying",
    "is_reliable",
    "request_key",
    "response_key",
    "status_of",
]
