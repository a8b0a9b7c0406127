"""cachedb_local: an in-process key-value cache for the core cache_* functions (OpenSIPS module
`cachedb_local`), with expiry.

`cachedb_url` "local://" (collection "default"), "local:///coll", "local:group://" ... each URL
is a storage id for cache_store() & co. ("local", "local:group"). Unlike OpenSIPS's shared-memory
cache, each pysips worker process has its own: with several UDP workers a value stored by one is
not seen by another (use cachedb_redis to share).
"""

from __future__ import annotations

from typing import Any

from pysips.cachedb import parse_cachedb_url, register_engine, unregister_engine, url_check
from pysips.cachedb.local import LocalCache
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType


class LocalCaches:
    """The collections of this process and the storage ids naming them."""

    def __init__(self, urls: list[str], clean_period: float) -> None:
        self.collections: dict[str, LocalCache] = {}
        self.ids: list[str] = []
        for text in urls or ["local://"]:
            url = parse_cachedb_url(text)
            name = url.rest.strip("/") or "default"
            cache = self.collections.get(name)
            if cache is None:
                cache = self.collections[name] = LocalCache(clean_period=clean_period)
            register_engine(url.storage_id, cache)
            self.ids.append(url.storage_id)

    def close(self) -> None:
        for storage_id in self.ids:
            unregister_engine(storage_id)
        for cache in self.collections.values():
            cache.close()


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> LocalCaches:
    urls = [str(u) for u in params.get("cachedb_url") or []]
    return LocalCaches(urls, float(params.get("cache_clean_period") or 60))


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
