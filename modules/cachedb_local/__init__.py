"""cachedb_local: an in-process key-value cache for the core cache_* functions (OpenSIPS module
`cachedb_local`), with expiry.

`cachedb_url` "local://" (collection "default"), "local:///coll", "local:group://" ... each URL
is a storage id for cache_store() & co. ("local", "local:group"). OpenSIPS keeps the cache in
shared memory; with worker processes (`udp_workers`) every pysips process keeps a copy and writes
go through the main process to all of them (sharing.py), so a value stored by one worker is
fetched by any other, and counters count every worker's increments. Reads stay local. In one
process the collections are used directly.
"""

from __future__ import annotations

from typing import Any

from pysips.cachedb import CacheEngine, parse_cachedb_url, register_engine, unregister_engine, url_check
from pysips.cachedb.local import LocalCache
from pysips.core.services import SHARED_STATE, SharedStateService
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType

from .sharing import SharedCollections


class LocalCaches:
    """The collections of this process and the storage ids naming them."""

    def __init__(self, urls: list[str], clean_period: float,
                 shared: SharedStateService | None = None) -> None:
        self.collections: dict[str, LocalCache] = {}
        self.ids: list[str] = []
        named: list[tuple[str, str]] = []  # (storage id, collection)
        for text in urls or ["local://"]:
            url = parse_cachedb_url(text)
            name = url.rest.strip("/") or "default"
            if name not in self.collections:
                self.collections[name] = LocalCache(clean_period=clean_period)
            named.append((url.storage_id, name))
        # worker processes: every copy alike, writes through the main process
        sharing = SharedCollections(self.collections, shared) if shared is not None else None
        for storage_id, name in named:
            engine: CacheEngine = self.collections[name] if sharing is None else sharing.engine(name)
            register_engine(storage_id, engine)
            self.ids.append(storage_id)

    def close(self) -> None:
        for storage_id in self.ids:
            unregister_engine(storage_id)
        for cache in self.collections.values():
            cache.close()


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> LocalCaches:
    urls = [str(u) for u in params.get("cachedb_url") or []]
    # SHARED_STATE is there when the server runs worker processes (the core provides it)
    return LocalCaches(urls, float(params.get("cache_clean_period") or 60), mctx.get(SHARED_STATE))


def _destroy(runtime: object) -> None:
    if isinstance(runtime, LocalCaches):
        runtime.close()


exports = ModuleExports(
    "cachedb_local",
    params=(
        ParamExport("cachedb_url", ParamType.STR, multi=True, check=url_check("cachedb_local", "local"),
                    doc="local[:group]://[/collection]: a storage id for the cache_* functions"),
        ParamExport("cache_collections", ParamType.STR, "default",
                    doc="collections and sizes (\"name=size;...\"; sizes kept for compatibility)"),
        ParamExport("cache_clean_period", ParamType.INT, 60, doc="seconds between sweeps of expired keys"),
    ),
    init=_init,
    destroy=_destroy,
    doc="in-process cache for the cache_* functions",
)
