"""cachedb_redis: Redis behind the core cache_* functions (OpenSIPS module `cachedb_redis`).

`cachedb_url` "redis[:group]://[user:password@]host[:port]/[db]"; the storage id is "redis" or
"redis:group". Commands from script code run on redis-py's asyncio client, the message's script
waiting on them (pysips.cachedb.redis): a slow Redis holds up only that message. Shared by every
process and every pysips node using the same server.
"""

from __future__ import annotations

from typing import Any

from pysips.cachedb import CacheError, parse_cachedb_url, register_engine, unregister_engine, url_check
from pysips.cachedb.redis import RedisCache
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType


class RedisCaches:
    def __init__(self, urls: list[str], timeout_s: float) -> None:
        self.engines: dict[str, RedisCache] = {}
        for text in urls:
            url = parse_cachedb_url(text)
            engine = RedisCache(url, timeout_s)
            # a server down at start is a start error naming the URL, as OpenSIPS
            try:
                engine.raw_query("PING")
            except CacheError as exc:
                raise RuntimeError(f"cachedb_redis: cannot reach {engine}: {exc}") from None
            self.engines[url.storage_id] = engine
            register_engine(url.storage_id, engine)

    def close(self) -> None:
        for storage_id, engine in self.engines.items():
            unregister_engine(storage_id)
            engine.close()


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> RedisCaches:
    urls = [str(u) for u in params.get("cachedb_url") or []]
    if not urls:
        raise RuntimeError("cachedb_redis: set at least one cachedb_url")
    timeout_ms = int(params.get("connect_timeout") or 0) or int(params.get("query_timeout") or 0) or 2000
    return RedisCaches(urls, timeout_ms / 1000.0)


def _destroy(runtime: object) -> None:
    if isinstance(runtime, RedisCaches):
        runtime.close()


exports = ModuleExports(
    "cachedb_redis",
    params=(
        ParamExport("cachedb_url", ParamType.STR, multi=True, check=url_check("cachedb_redis", "redis"),
                    doc="redis[:group]://[user:password@]host[:port]/: a storage id for cache_*()"),
        ParamExport("connect_timeout", ParamType.INT, 0, doc="milliseconds to connect"),
        ParamExport("query_timeout", ParamType.INT, 0, doc="milliseconds per command"),
        ParamExport("shutdown_on_error", ParamType.INT, 0, doc="kept for compatibility"),
        ParamExport("use_tls", ParamType.INT, 0, doc="TLS to Redis (not supported: must be 0)"),
    ),
    init=_init,
    destroy=_destroy,
    doc="Redis for the cache_* functions",
)
