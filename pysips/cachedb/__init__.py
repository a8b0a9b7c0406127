"""Key-value caches behind the core cache_* functions (OpenSIPS's cachedb interface).

A cachedb module (cachedb_local, cachedb_redis) parses its `cachedb_url` parameters and registers
one `CacheEngine` per URL under the script's storage id: the scheme, and the group when the URL
has one (`redis:group1://host:6379/` -> "redis:group1"). `cache_store("redis:group1", ...)` then
reaches it. Registration is per process, from the module's init.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pysips.script.errors import FixupError


class CacheError(Exception):
    """A cache operation failed (the message says which and why)."""


class CacheEngine(Protocol):
    def store(self, key: str, value: str, expires: int) -> None:
        """expires: seconds, 0 for never."""
        ...

    def fetch(self, key: str) -> str | None: ...

    def remove(self, key: str) -> None: ...

    def add(self, key: str, delta: int, expires: int) -> int:
        """Adds `delta` to the counter (created at 0) and returns the new value."""
        ...

    def counter_fetch(self, key: str) -> int | None: ...

    def raw_query(self, query: str) -> list[str | int] | None:
        """The engine's own command language; the result's values (None: no result)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CacheUrl:
    scheme: str
    group: str | None
    rest: str  # what follows "://"
    text: str

    @property
    def storage_id(self) -> str:
        return f"{self.scheme}:{self.group}" if self.group else self.scheme


def parse_cachedb_url(text: str) -> CacheUrl:
    """`scheme[:group]://rest`; ValueError when it is not one."""
    head, sep, rest = text.strip().partition("://")
    scheme, _, group = head.partition(":")
    if not sep or not scheme.isalnum():
        raise ValueError(f"bad cachedb URL {text!r}: expected scheme[:group]://...")
    return CacheUrl(scheme.lower(), group or None, rest, text.strip())


_engines: dict[str, CacheEngine] = {}


def url_check(module: str, scheme: str) -> Callable[[Any], Any]:
    """The `check` of a cachedb module's `cachedb_url` parameter: a URL of its own scheme."""

    def check(value: Any) -> Any:
        try:
            url = parse_cachedb_url(str(value))
        except ValueError as exc:
            raise FixupError(str(exc)) from None
        if url.scheme != scheme:
            raise FixupError(f"{module}: {value!r} is not a {scheme}:// URL")
        return value

    return check


def register_engine(storage_id: str, engine: CacheEngine) -> None:
    _engines[storage_id] = engine


def unregister_engine(storage_id: str) -> None:
    _engines.pop(storage_id, None)


def engine_for(storage_id: str) -> CacheEngine | None:
    return _engines.get(storage_id)
