"""Choosing the reply that goes upstream when every branch has a final answer (RFC 3261 16.7).

The order is OpenSIPS tm's: 6xx first, then 3xx, then the 4xx a caller can act on (401, 407, 415,
420, 484), other 4xx, 5xx, and last 408 and 503. A 487 wins outright once the caller cancelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

REASONS = {
    100: "Trying",
    408: "Request Timeout",
    477: "Send failed (477/TM)",
    478: "Unresolvable destination (478/TM)",
    487: "Request Terminated",
    500: "Server Internal Error",
}

_ACTIONABLE_4XX = {401: 500, 407: 501, 415: 502, 420: 503, 484: 504}


class HasCode(Protocol):
    @property
    def last_code(self) -> int: ...


def branch_priority(code: int, cancelled: bool) -> int:
    """Smaller is better."""
    klass = code // 100
    if klass in (1, 2):
        return code
    if klass == 6:
        return code - 300
    if klass == 3:
        return code + 100
    if klass == 5:
        return 801 if code == 503 else code + 200
    if klass == 4:
        if code in _ACTIONABLE_4XX:
            return _ACTIONABLE_4XX[code]
        if code == 408:
            return 800
        if code == 487 and cancelled:
            return 0
        return code + 200
    return code + 200


def pick(branches: Sequence[HasCode], cancelled: bool) -> int:
    """Index (into `branches`) of the best final reply; -1 when `branches` is empty."""
    best = -1
    best_prio = 10_000
    for index, branch in enumerate(branches):
        prio = branch_priority(branch.last_code, cancelled)
        if prio < best_prio:
            best, best_prio = index, prio
    return best
