"""The Redis engine of cachedb_redis, on redis-py.

Inside a message's script a command goes through redis-py's asyncio client and the script waits
on it with `pysips.core.suspend.wait()`: only that message waits. Elsewhere (start-up, timers,
tools) the blocking client is used. Each process (and each event loop) has its own connections,
so a client made before fork is never shared.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis

from pysips.cachedb import CacheError, CacheUrl

T = TypeVar("T")


def _plain(value: Any) -> str | int:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value)


class RedisCache:
    def __init__(self, url: CacheUrl, timeout_s: float = 2.0) -> None:
        self.url = url
        # "host:port/db" (an optional user:password@ in front), as redis:// URLs write it
        self._redis_url = "redis://" + url.rest
        self._timeout = timeout_s
        self._pid = os.getpid()
        self._sync: redis.Redis | None = None
        self._async: dict[int, aioredis.Redis] = {}  # by event loop

    def __str__(self) -> str:
        text = self.url.text
        if "@" in text:
            head, _, tail = text.rpartition("@")
            scheme, _, _ = head.partition("://")
            return f"{scheme}://***@{tail}"
        return text

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._sync = None
            self._async = {}

    def _run(self, sync_call: Callable[[redis.Redis], T],
             async_call: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        from pysips.core import suspend  # pysips.core imports the cache API: avoid the cycle

        self._check_fork()
        try:
            if suspend.in_script():
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    loop = None
                if loop is not None:
                    client = self._async.get(id(loop))
                    if client is None:
                        client = self._async[id(loop)] = aioredis.Redis.from_url(
                            self._redis_url, socket_timeout=self._timeout,
                            socket_connect_timeout=self._timeout)
                    return suspend.wait(async_call(client))
            if self._sync is None:
                self._sync = redis.Redis.from_url(self._redis_url, socket_timeout=self._timeout,
                                                  socket_connect_timeout=self._timeout)
            return sync_call(self._sync)
        except (redis.RedisError, OSError, TimeoutError) as exc:
            raise CacheError(f"{self}: {exc}") from exc

    def store(self, key: str, value: str, expires: int) -> None:
        ex = expires if expires > 0 else None
        self._run(lambda r: r.set(key, value, ex=ex), lambda r: r.set(key, value, ex=ex))

    def fetch(self, key: str) -> str | None:
        value = self._run(lambda r: r.get(key), lambda r: r.get(key))
        return None if value is None else str(_plain(value))

    def remove(self, key: str) -> None:
        self._run(lambda r: r.delete(key), lambda r: r.delete(key))

    def add(self, key: str, delta: int, expires: int) -> int:
        def sync_call(r: redis.Redis) -> int:
            value = int(r.incrby(key, delta))
            if expires > 0:
                r.expire(key, expires)
            return value

        async def async_call(r: aioredis.Redis) -> int:
            value = int(await r.incrby(key, delta))
            if expires > 0:
                await r.expire(key, expires)
            return value
        return self._run(sync_call, async_call)

    def counter_fetch(self, key: str) -> int | None:
        value = self.fetch(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise CacheError(f"{self}: key {key!r} does not hold a counter") from None

    def raw_query(self, query: str) -> list[str | int] | None:
        try:
            words = shlex.split(query)
        except ValueError as exc:
            raise CacheError(f"bad raw query {query!r}: {exc}") from None
        if not words:
            raise CacheError("empty raw query")
        result = self._run(lambda r: r.execute_command(*words),  # type: ignore[no-untyped-call]
                           lambda r: r.execute_command(*words))  # type: ignore[no-untyped-call]
        if result is None:
            return None
        if isinstance(result, (list, tuple)):
            return [_plain(v) for v in result]
        if isinstance(result, dict):
            return [_plain(v) for pair in result.items() for v in pair]
        return [_plain(result)]

    def close(self) -> None:
        if self._pid != os.getpid():
            return
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        self._async = {}  # their connections close with their event loop
