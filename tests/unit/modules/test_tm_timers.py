"""tm's timer queue: one live heap entry per transaction, forgotten transactions freed at once."""

from __future__ import annotations

import gc
from typing import Any

from test_tm_fake import tm_exports

tm_exports()  # loads the bundled tm package
from pysips_modules.tm.timers import TxTimers, WaitQueue  # noqa: E402


class FakeTx:
    """A transaction whose deadline the test moves; handle_timer fires once per deadline."""

    def __init__(self, at: float | None) -> None:
        self.at = at
        self.fired: list[float] = []

    def next_timer_at(self) -> float | None:
        return self.at

    def handle_timer(self, now: float) -> tuple[str, ...]:
        self.fired.append(now)
        self.at = None
        return ("fired",)


def queue() -> Any:
    return TxTimers()


def test_deadlines_fire_in_order_and_moves_are_followed() -> None:
    timers = queue()
    a, b, c = FakeTx(3.0), FakeTx(1.0), FakeTx(2.0)
    for tx in (a, b, c):
        timers.schedule(tx)
    c.at = 5.0  # moved later: its old entry surfaces first and re-queues itself
    timers.schedule(c)
    a.at = 0.5  # moved earlier: a new entry
    timers.schedule(a)
    assert timers.next_deadline() == 0.5
    assert [tx for tx, _ in timers.expire(2.5)] == [a, b]
    assert timers.next_deadline() == 5.0
    assert [tx for tx, _ in timers.expire(10.0)] == [c]
    assert timers.next_deadline() is None and len(timers) == 0


def test_later_deadlines_do_not_grow_the_heap() -> None:
    timers = queue()
    tx = FakeTx(1.0)
    timers.schedule(tx)
    for step in range(100):
        tx.at = 2.0 + step
        timers.schedule(tx)
    assert len(timers._heap) == 1
    assert timers.next_deadline() == 101.0


def test_a_forgotten_transaction_is_freed_at_once() -> None:
    timers = queue()
    tx = FakeTx(30.0)
    timers.schedule(tx)
    timers.forget(tx)
    assert not [o for o in gc.get_referrers(tx) if o is timers._live]
    assert timers.expire(100.0) == [] and timers.next_deadline() is None


def test_wait_queue_hands_back_due_items_in_order() -> None:
    wait: WaitQueue[str] = WaitQueue()
    wait.add(5.0, "a")
    wait.add(6.0, "b")
    assert wait.next_deadline() == 5.0
    assert wait.expire(5.5) == ["a"]
    assert wait.expire(7.0) == ["b"] and wait.next_deadline() is None
