"""cachedb_local's store: values, counters and expiry on an injected clock."""

from __future__ import annotations

import pytest

from pysips.cachedb import CacheError, parse_cachedb_url
from pysips.cachedb.local import LocalCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_values_expire_when_their_time_is_up() -> None:
    clock = Clock()
    cache = LocalCache(clock)
    cache.store("a", "1", 10)
    cache.store("b", "2", 0)
    clock.now += 9.9
    assert cache.fetch("a") == "1"
    clock.now += 0.1
    assert cache.fetch("a") is None
    assert cache.fetch("b") == "2"
    cache.remove("b")
    assert cache.fetch("b") is None


def test_counters_start_at_zero_and_keep_their_expiry() -> None:
    clock = Clock()
    cache = LocalCache(clock)
    assert cache.add("n", 5, 10) == 5
    clock.now += 8
    assert cache.add("n", -2, 10) == 3  # not extended to now + 10
    assert cache.counter_fetch("n") == 3
    clock.now += 2
    assert cache.counter_fetch("n") is None
    cache.store("s", "text", 0)
    with pytest.raises(CacheError):
        cache.add("s", 1, 0)


def test_writes_sweep_expired_keys_nobody_reads() -> None:
    clock = Clock()
    cache = LocalCache(clock, clean_period=60)
    for i in range(5):
        cache.store(f"k{i}", "v", 1)
    clock.now += 61
    cache.store("fresh", "v", 0)
    assert cache.sweep() == 0  # the write swept the five


def test_cachedb_urls_name_their_storage() -> None:
    assert parse_cachedb_url("redis:group1://127.0.0.1:6379/").storage_id == "redis:group1"
    assert parse_cachedb_url("local://").storage_id == "local"
    url = parse_cachedb_url("local:g2:///collection2")
    assert (url.storage_id, url.rest) == ("local:g2", "/collection2")
    with pytest.raises(ValueError):
        parse_cachedb_url("no-scheme")


def test_a_cachedb_module_takes_only_urls_of_its_scheme() -> None:
    import pytest

    from pysips.cachedb import url_check
    from pysips.script.errors import FixupError

    check = url_check("cachedb_local", "local")
    assert check("local://") == "local://"
    with pytest.raises(FixupError, match="cachedb_local: 'redis://h:6379' is not a local:// URL"):
        check("redis://h:6379")
