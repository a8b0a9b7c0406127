"""The core cache_* script functions (OpenSIPS's cachedb core API), over the engines that
cachedb modules register (pysips.cachedb).

Return codes as OpenSIPS: 1 done, -2 key not found (fetch functions), -1 error (logged, the
script goes on). The first argument names the storage: "local", "redis:group1"...
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pysips.cachedb import CacheEngine, CacheError, engine_for
from pysips.script.context import MsgContext
from pysips.script.exports import ArgKind, ArgSpec, FunctionExport
from pysips.script.pv_base import PVAccessor

log = logging.getLogger("pysips.core")

NOT_FOUND = -2


_FAILED = object()  # what _run() gives when there is no such engine or the engine failed (logged)


def _run(fname: str, storage: str, op: Callable[[CacheEngine], Any]) -> Any:
    """`op` on the engine of `storage`: its result, or _FAILED with the reason logged."""
    engine = engine_for(storage)
    if engine is None:
        log.error("%s: no cachedb engine %r (load a cachedb module with a cachedb_url for it)",
                  fname, storage)
        return _FAILED
    try:
        return op(engine)
    except CacheError as exc:
        log.error("%s: %s", fname, exc)
        return _FAILED


def _fetched(ctx: MsgContext, value: Any, result: PVAccessor) -> int:
    if value is _FAILED:
        return -1
    if value is None:
        return NOT_FOUND
    result.set(ctx, value)
    return 1


def w_cache_store(ctx: MsgContext, storage: str, key: str, value: str, expires: int | None = None) -> int:
    done = _run("cache_store", storage, lambda engine: engine.store(key, value, expires or 0))
    return -1 if done is _FAILED else 1


def w_cache_remove(ctx: MsgContext, storage: str, key: str) -> int:
    return -1 if _run("cache_remove", storage, lambda engine: engine.remove(key)) is _FAILED else 1


def w_cache_fetch(ctx: MsgContext, storage: str, key: str, result: PVAccessor) -> int:
    return _fetched(ctx, _run("cache_fetch", storage, lambda engine: engine.fetch(key)), result)


def w_cache_counter_fetch(ctx: MsgContext, storage: str, key: str, result: PVAccessor) -> int:
    value = _run("cache_counter_fetch", storage, lambda engine: engine.counter_fetch(key))
    return _fetched(ctx, value, result)


def _add(fname: str, ctx: MsgContext, storage: str, key: str, delta: int, expires: int,
         result: PVAccessor | None) -> int:
    value = _run(fname, storage, lambda engine: engine.add(key, delta, expires))
    if value is _FAILED:
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
    values = _run("cache_raw_query", storage, lambda engine: engine.raw_query(query))
    if values is _FAILED:
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
