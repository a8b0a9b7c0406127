"""tm's timers: the deadlines of its transactions, and the wait of finished INVITE transactions.

Like pysips.sip.transaction's TimerQueue (a heap with lazy invalidation), except that the heap
holds transaction ids, not transactions: a transaction tm forgets is freed at once, not when its
stale heap entries surface (up to 64*T1 later). Under load that difference is most of the memory
the process holds, and the cyclic collector walks all of it.

The wait (OpenSIPS's wt_timer): an INVITE transaction that sent a 2xx upstream is kept wt_timer
seconds to relay 2xx retransmissions, then dropped, as OpenSIPS's put_on_wait does; RFC 6026's
64*T1 Accepted states would keep every answered call's transaction for 32 s. Later 2xx
retransmissions go up statelessly by their Via, as in OpenSIPS.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from typing import Generic, TypeVar

from pysips.sip.transaction import Actions, Transaction

T = TypeVar("T")


class TxTimers:
    """Each transaction has at most one live heap entry, its earliest queued deadline (`_due`):
    a later deadline is not pushed, the entry re-queues itself when it surfaces early."""

    __slots__ = ("_counter", "_due", "_heap", "_live")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int]] = []  # (deadline, tie-break, id of the tx)
        self._live: dict[int, Transaction] = {}
        self._due: dict[int, float] = {}  # id of the tx -> deadline of its live heap entry
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def _push(self, at: float, key: int) -> None:
        self._due[key] = at
        heapq.heappush(self._heap, (at, next(self._counter), key))

    def schedule(self, tx: Transaction) -> float | None:
        """Call after every event given to `tx`, so its current deadline is covered. The deadline
        queued now, or None when an entry already queued covers it (the timer that serves the
        heap need not move)."""
        at = tx.next_timer_at()
        if at is None:
            return None
        key = id(tx)
        queued = self._due.get(key)
        if queued is None or at < queued:
            self._live[key] = tx  # (a queued entry means it is there already)
            self._push(at, key)
            return at
        return None

    def forget(self, tx: Transaction) -> None:
        key = id(tx)
        self._live.pop(key, None)
        self._due.pop(key, None)

    def _surface(self, at: float, key: int) -> Transaction | None:
        """The popped entry's transaction when the entry was its live one, else None."""
        if self._due.get(key) != at:
            return None  # superseded by an earlier entry, or the transaction was forgotten
        del self._due[key]
        return self._live.get(key)

    def next_deadline(self) -> float | None:
        """The earliest live deadline; stale entries on top are dropped on the way."""
        heap = self._heap
        while heap:
            at, _, key = heap[0]
            if self._due.get(key) == at:
                tx = self._live.get(key)
                current = tx.next_timer_at() if tx is not None else None
                if current is not None and current <= at:
                    return at
            heapq.heappop(heap)
            tx = self._surface(at, key)
            if tx is None:
                continue
            current = tx.next_timer_at()
            if current is None:
                del self._live[key]
            else:  # the deadline moved later: queue the new one
                self._push(current, key)
        return None

    def expire(self, now: float) -> list[tuple[Transaction, Actions]]:
        """Run handle_timer on each transaction due at `now`; their actions, in deadline order."""
        heap = self._heap
        fired: list[tuple[Transaction, Actions]] = []
        while heap and heap[0][0] <= now:
            at, _, key = heapq.heappop(heap)
            tx = self._surface(at, key)
            if tx is None:
                continue
            current = tx.next_timer_at()
            if current is None:
                del self._live[key]
                continue
            if current > now:
                self._push(current, key)  # stale: the transaction moved on
                continue
            actions = tx.handle_timer(now)
            after = tx.next_timer_at()
            if actions:
                fired.append((tx, actions))
            if after is None:
                self._live.pop(key, None)
            elif actions or after > now:
                # nothing fired although due: re-queueing the same deadline would spin
                self._push(after, key)
        return fired


class WaitQueue(Generic[T]):
    """Items to drop after one fixed delay: deadlines come in order, so a deque is enough."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[tuple[float, T]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, at: float, item: T) -> None:
        self._items.append((at, item))

    def next_deadline(self) -> float | None:
        return self._items[0][0] if self._items else None

    def expire(self, now: float) -> list[T]:
        items = self._items
        due: list[T] = []
        while items and items[0][0] <= now:
            due.append(items.popleft()[1])
        return due
