"""The in-process cache of cachedb_local: collections of keys with expiry.

Expiry is checked on read (an expired key is gone); expired keys nobody reads are swept by the
next write once `clean_period` seconds have passed since the last sweep (no timer needed). The
clock is passed in (monotonic seconds) so the structure is testable without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pysips.cachedb import CacheError


class LocalCache:
    """One collection. Values are strings; counters are strings of digits, as in OpenSIPS."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, clean_period: float = 60.0) -> None:
        self._items: dict[str, tuple[str, float | None]] = {}
        self._clock = clock
        self._clean_period = clean_period
        self._next_sweep = clock() + clean_period

    def _live(self, key: str) -> str | None:
        found = self._items.get(key)
        if found is None:
            return None
        value, until = found
        if until is not None and until <= self._clock():
            del self._items[key]
            return None
        return value

    def _until(self, expires: int) -> float | None:
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + self._clean_period
            self.sweep()
        return now + expires if expires > 0 else None

    def store(self, key: str, value: str, expires: int) -> None:
        self._items[key] = (value, self._until(expires))

    def fetch(self, key: str) -> str | None:
        return self._live(key)

    def remove(self, key: str) -> None:
        self._items.pop(key, None)

    def add(self, key: str, delta: int, expires: int) -> int:
        current = self._live(key)
        try:
            number = int(current) if current is not None else 0
        except ValueError:
            raise CacheError(f"key {key!r} does not hold a counter") from None
        number += delta
        found = self._items.get(key)
        # a counter keeps its expiry once set (as cachedb_local); a new one takes `expires`
        until = found[1] if found is not None and current is not None else self._until(expires)
        self._items[key] = (str(number), until)
        return number

    def counter_fetch(self, key: str) -> int | None:
        value = self._live(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise CacheError(f"key {key!r} does not hold a counter") from None

    def raw_query(self, query: str) -> list[str | int] | None:
        raise CacheError("cachedb_local has no raw queries")

    def sweep(self) -> int:
        """Drops expired keys; returns how many."""
        now = self._clock()
        dead = [k for k, (_, until) in self._items.items() if until is not None and until <= now]
        for key in dead:
            del self._items[key]
        return len(dead)

    def close(self) -> None:
        self._items.clear()
