"""The in-process cache of cachedb_local: collections of keys with expiry.

Expiry is checked on read (an expired key is gone); expired keys nobody reads are swept by the
next write once `clean_period` seconds have passed since the last sweep (no timer needed). The
clock is passed in (monotonic seconds) so the structure is testable without sleeping.

Expiry is kept as an absolute time on that clock. time.monotonic is CLOCK_MONOTONIC, one clock for
the whole machine on Linux, so worker processes sharing a cache (modules/cachedb_local/sharing.py)
pass those times between them (`put`, `add_until`, `live_items`) and every copy drops a key at
the same instant.
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

    def deadline(self, expires: int) -> float | None:
        """When a key stored now for `expires` seconds (0: never) expires. Writes call it, so it
        also sweeps when the clean period is over."""
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + self._clean_period
            self.sweep()
        return now + expires if expires > 0 else None

    def store(self, key: str, value: str, expires: int) -> None:
        self._items[key] = (value, self.deadline(expires))

    def put(self, key: str, value: str, until: float | None) -> None:
        """Stores `value` until the absolute time `until` (None: never)."""
        self._items[key] = (value, until)

    def fetch(self, key: str) -> str | None:
        return self._live(key)

    def remove(self, key: str) -> None:
        self._items.pop(key, None)

    def add(self, key: str, delta: int, expires: int) -> int:
        return self.add_until(key, delta, self.deadline(expires))[0]

    def add_until(self, key: str, delta: int, until: float | None) -> tuple[int, float | None]:
        """Adds `delta` to the counter; a new counter expires at `until`. The new value and the
        counter's expiry."""
        current = self._live(key)
        try:
            number = int(current) if current is not None else 0
        except ValueError:
            raise CacheError(f"key {key!r} does not hold a counter") from None
        number += delta
        found = self._items.get(key)
        # a counter keeps its expiry once set (as cachedb_local); a new one takes `until`
        if found is not None and current is not None:
            until = found[1]
        self._items[key] = (str(number), until)
        return number, until

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

    def live_items(self) -> list[tuple[str, str, float | None]]:
        """(key, value, until) of every key not expired."""
        now = self._clock()
        return [(k, v, until) for k, (v, until) in self._items.items() if until is None or until > now]

    def sweep(self) -> int:
        """Drops expired keys; returns how many."""
        now = self._clock()
        dead = [k for k, (_, until) in self._items.items() if until is not None and until <= now]
        for key in dead:
            del self._items[key]
        return len(dead)

    def close(self) -> None:
        self._items.clear()
