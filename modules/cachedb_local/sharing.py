"""cachedb_local's collections kept alike in every worker process
(pysips.core.services.SHARED_STATE), as OpenSIPS keeps them in shared memory.

Reads stay local dictionary reads. Every write goes to the main process, which applies it to its
own copy in the order writes arrive (`resolve`) and relays the result to every process, the
writer included: a store as ("set", ...), a removal as ("del", ...) and a counter's increment as
the counter's new value ("set", ...), so two workers incrementing one key at once are both
counted and every copy holds the main process's number. Expiry travels as an absolute time on
the machine-wide monotonic clock (pysips.cachedb.local), so every copy drops a key at the same
instant, whichever process applies it when.

A write made in script code waits for the main process (the script is suspended, other messages
go on): when it returns, this worker's copy has it, and so has every worker's channel before
anything the main process reads later. Outside script code nothing waits: the write is applied
here at once, and the main process's version replaces it when it comes back.
"""

from __future__ import annotations

from typing import Any

from pysips.cachedb import CacheError
from pysips.cachedb.local import LocalCache
from pysips.core.services import SharedChannel, SharedStateService

CHANNEL = "cachedb_local_cache"  # cachedb_local has no statistics: nothing to read from the owner


class SharedCollections:
    """The channel of this process's collections (name -> LocalCache)."""

    __slots__ = ("_channel", "collections")

    def __init__(self, collections: dict[str, LocalCache], shared: SharedStateService) -> None:
        self.collections = collections
        self._channel: SharedChannel = shared.share(CHANNEL, self.apply, self.snapshot,
                                                    resolve=self.resolve)

    def engine(self, name: str) -> SharedCache:
        return SharedCache(name, self.collections[name], self)

    def publish(self, change: Any) -> Any:
        return self._channel.publish(change)

    def apply(self, change: Any) -> None:
        cache = self.collections.get(change[1])
        if cache is None:
            return  # every process has the same collections (the same script): never happens
        if change[0] == "set":
            _, _, key, value, until = change
            cache.put(key, value, until)
        elif change[0] == "del":
            cache.remove(change[2])

    def resolve(self, change: Any) -> tuple[Any, Any]:
        """In the main process: the change applied here, in arrival order; (what every process
        applies, the writer's answer: True, a counter's new value, or an error's text)."""
        if change[0] != "add":
            self.apply(change)
            return change, True
        _, name, key, delta, until = change
        cache = self.collections.get(name)
        if cache is None:
            return None, f"no collection {name!r}"
        try:
            number, until = cache.add_until(key, delta, until)
        except CacheError as exc:
            return None, str(exc)
        return ("set", name, key, str(number), until), number

    def snapshot(self) -> list[Any]:
        return [("set", name, key, value, until)
                for name, cache in self.collections.items()
                for key, value, until in cache.live_items()]


class SharedCache:
    """A CacheEngine (pysips.cachedb) over one collection, writing through the channel."""

    __slots__ = ("_cache", "_name", "_sharing")

    def __init__(self, name: str, cache: LocalCache, sharing: SharedCollections) -> None:
        self._name = name
        self._cache = cache
        self._sharing = sharing

    def _write(self, change: Any) -> None:
        if self._sharing.publish(change) is None:
            # not waited for (outside script code) or no answer in time: here at once; the main
            # process's version of it replaces this when it arrives
            self._sharing.apply(change)

    def store(self, key: str, value: str, expires: int) -> None:
        self._write(("set", self._name, key, value, self._cache.deadline(expires)))

    def remove(self, key: str) -> None:
        self._write(("del", self._name, key))

    def add(self, key: str, delta: int, expires: int) -> int:
        until = self._cache.deadline(expires)
        answer = self._sharing.publish(("add", self._name, key, delta, until))
        if isinstance(answer, str):
            raise CacheError(answer)
        if isinstance(answer, int) and not isinstance(answer, bool):
            return answer  # the main process's count: every process now holds it
        # not waited for: counted here for now, replaced by the main process's count later
        return self._cache.add_until(key, delta, until)[0]

    def fetch(self, key: str) -> str | None:
        return self._cache.fetch(key)

    def counter_fetch(self, key: str) -> int | None:
        return self._cache.counter_fetch(key)

    def raw_query(self, query: str) -> list[str | int] | None:
        return self._cache.raw_query(query)

    def close(self) -> None:
        self._cache.close()
