"""A piece of work repeated every N seconds on a process's clock (probing rounds, state
write-back), until cancelled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class _Clock(Protocol):
    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Any: ...


class Periodic:
    """Runs `work` `seconds` after it starts, then every `seconds` after each run ended."""

    def __init__(self, clock: _Clock, seconds: float, work: Callable[[], None]) -> None:
        self._clock = clock
        self._seconds = seconds
        self._work = work
        self._handle: Any = clock.call_at(clock.now() + seconds, self._tick)

    def _tick(self) -> None:
        self._work()
        self._handle = self._clock.call_at(self._clock.now() + self._seconds, self._tick)

    def cancel(self) -> None:
        self._handle.cancel()
