"""The core cache_* script functions (OpenSIPS's cachedb core API), over the engines that
cachedb modules register (pysips.cachedb).

Return codes as OpenSIPS: 1 done, -2 key not found (fetch functions), -1 error (logged, the
script goes on). The first argument names the storage: "local", "redis:group1"...
"""

from __future__ import annotations

import logging

from pysips.cachedb import CacheEngine, CacheError, engine_for
from pysips.script.context import MsgContext
from pysips.script.exports import ArgKind, ArgSpec, FunctionExport
from pysips.script.pv_base import PVAccessor

log = logging.getLogger("pysips.core")

NOT_FOUND = -2


def _engine(fname: str, storage: str) -> CacheEngine | None:
    engine = engine_for(storage)
    if engine is None:
        log.error("%s: no cachedb engine %r (load a cachedb module with a cachedb_url for it)",
                  fname, storage)
    return engine


def w_cache_store(ctx: MsgContext, storage: str, key: str, value: str, expires: int | None = None) -> int:
    engine = _engine("cache_store", storage)
    if engine is None:
        return -1
    try:
        engine.store(key, value, expires or 0)
    except CacheError as exc:
        log.error("cache_store: %s", exc)
        return -1
    return 1


def w_cache_remove(ctx: MsgContext, storage: str, key: str) -> int:
    engine = _engine("cache_remove", storage)
    if engine is None:
        return -1
    try:
        engine.remove(key)
    except CacheError as exc:
        log.error("cache_remove: %s", exc)
        return -1
    return 1


def w_cache_fetch(ctx: MsgContext, storage: str, key: str, result: PVAccessor) -> int:
    engine = _engine("cache_fetch", storage)
    if engine is None:
        return -1
    try:
        value = engine.fetch(key)
    except CacheError as exc:
        log.error("cache_fetch: %s", exc)
        return -1
    if value is None:
        return NOT_FOUND
    result.set(ctx, value)
    return 1


def w_cache_counter_fetch(ctx: MsgContext, storage: str, key: str, result: PVAccessor) -> int:
    engine = _engine("cache_counter_fetch", storage)
    if engine is None:
        return -1
    try:
        value = engine.counter_fetch(key)
    except CacheError as exc:
        log.error("cache_counter_fetch: %s", exc)
        return -1
    if value is None:
        return NOT_FOUND
    result.set(ctx, value)
    return 1


def _add(fname: str, ctx: MsgContext, storage: str, key: str, delta: int, expires: int,
         result: PVAccessor | None) -> int:
    engine = _engine(fname, storage)
    if engine is None:
        return -1
    try:
        value = engine.add(key, delta, expires)
    except CacheError as exc:
        log.error("%s: %s", fname, exc)
        return -1
    if result is not None:
        result.set(ctx, value)
    return 1


def w_cache_add(ctx: MsgContext, storage: str, key: str, delta: int, expires: int,
                result: PVAccessor | None = None) -> int:
    return _add("cache_add", ctx, storage, key, delta, expires, result)


def w_cache_sub(ctx: MsgContext, storage: str, key: str, delta: int, expires: int,
                result: PVAccessor | None = None) -> int:
    return _add("cache_sub", ctx, storage, key, -delta, expires, result)


def w_cache_raw_query(ctx: MsgContext, storage: str, query: str, result: PVAccessor | None = None) -> int:
    engine = _engine("cache_raw_query", storage)
    if engine is None:
        return -1
    try:
        values = engine.raw_query(query)
    except CacheError as exc:
        log.error("cache_raw_query: %s", exc)
        return -1
    if result is not None and values:
        # the first value ends in front, as a multi-row sqlops result
        for value in reversed(values):
            result.set(ctx, value)
    return 1


_STORAGE = ArgSpec(ArgKind.STR, "storage_id")
_KEY = ArgSpec(ArgKind.STR, "attribute_name")
_RESULT = ArgSpec(ArgKind.VAR, "result_pvar")
_OPT_RESULT = ArgSpec(ArgKind.VAR, "new_value_pvar", optional=True)

CACHE_FUNCTIONS: tuple[FunctionExport, ...] = (
    FunctionExport("cache_store", w_cache_store,
                   (_STORAGE, _KEY, ArgSpec(ArgKind.STR, "value"),
                    ArgSpec(ArgKind.INT, "expire", optional=True)),
                   doc="store a value (expire in seconds; 0 or none: never)"),
    FunctionExport("cache_remove", w_cache_remove, (_STORAGE, _KEY), doc="remove a key"),
    FunctionExport("cache_fetch", w_cache_fetch, (_STORAGE, _KEY, _RESULT),
                   doc="fetch a value into a variable (-2 when there is none)"),
    FunctionExport("cache_counter_fetch", w_cache_counter_fetch, (_STORAGE, _KEY, _RESULT),
                   doc="fetch a counter into a variable (-2 when there is none)"),
    FunctionExport("cache_add", w_cache_add,
                   (_STORAGE, _KEY, ArgSpec(ArgKind.INT, "increment"), ArgSpec(ArgKind.INT, "expire"),
                    _OPT_RESULT), doc="add to a counter (created at 0)"),
    FunctionExport("cache_sub", w_cache_sub,
                   (_STORAGE, _KEY, ArgSpec(ArgKind.INT, "decrement"), ArgSpec(ArgKind.INT, "expire"),
                    _OPT_RESULT), doc="subtract from a counter"),
    FunctionExport("cache_raw_query", w_cache_raw_query,
                   (_STORAGE, ArgSpec(ArgKind.STR, "raw_query"),
                    ArgSpec(ArgKind.VAR, "result_avp", optional=True)),
                   doc="a query in the engine's own language (Redis commands), results into an AVP"),
)
