"""One timer queue for many transactions: a heap of deadlines with lazy invalidation.

A transaction's deadline changes with every event; instead of removing the old heap entry, the
caller pushes the new one (`schedule`) and stale entries are skipped when they surface: an
entry is live only if the transaction still reports a deadline at or before now.
"""

from __future__ import annotations

import heapq
import itertools

from .transaction_actions import Actions
from .transaction_base import Transaction


class TimerQueue:
    __slots__ = ("_counter", "_heap")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Transaction]] = []
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, tx: Transaction) -> None:
        """Call after every event given to `tx`, so its current deadline is in the queue."""
        at = tx.next_timer_at()
        if at is not None:
            heapq.heappush(self._heap, (at, next(self._counter), tx))

    def next_deadline(self) -> float | None:
        """The earliest live deadline; stale entries on top are dropped on the way."""
        heap = self._heap
        while heap:
            at, _, tx = heap[0]
            current = tx.next_timer_at()
            if current is not None and current <= at:
                return at
            heapq.heappop(heap)
            if current is not None and current > at:
                # The deadline moved later; make sure the new one is queued.
                heapq.heappush(heap, (current, next(self._counter), tx))
        return None

    def expire(self, now: float) -> list[tuple[Transaction, Actions]]:
        """Run handle_timer on each transaction due at `now`; their actions, in deadline order."""
        heap = self._heap
        fired: list[tuple[Transaction, Actions]] = []
        while heap and heap[0][0] <= now:
            _, _, tx = heapq.heappop(heap)
            current = tx.next_timer_at()
            if current is None or current > now:
                continue  # stale: the transaction moved on (its new deadline is queued)
            actions = tx.handle_timer(now)
            if actions:
                fired.append((tx, actions))
                self.schedule(tx)
            else:
                # Nothing fired although due: re-queueing would spin on the same deadline.
                after = tx.next_timer_at()
                if after is not None and after > now:
                    self.schedule(tx)
        return fired
