"""json: the $json variables (OpenSIPS module `json`).

`$json(id)` reads and writes JSON documents kept per process: an integer reads as an integer, a
string as a string, anything else as its JSON text (`$json_compact`, `$json_pretty` for the other
print styles). `=` stores a string or integer, `:=` parses JSON text, NULL deletes; `[]` appends,
negative indexes count from the end; `$(json(id)[*])` (with `.keys`/`.values`) iterates in a
for-each. json_link() makes one document part of another by reference; json_merge() applies an
RFC 7386 merge patch.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.script.ast import Pos
from pysips.script.context import MsgContext, RouteType, Value
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    PVarExport,
    check_bool,
)
from pysips.script.module_runtime import module_runtime
from pysips.script.pv_base import PVAccessor, PVError

from .path import JsonId, PathError, parse_id
from .store import DELETE, JsonStore, WalkError
from .values import PLAIN, PRETTY, SPACED, JsonError, JsonNumber, dumps, merge_patch, parse

__all__ = ["JsonRuntime", "exports"]

log = logging.getLogger("pysips.modules.json")

INT32 = (-(2**31), 2**31 - 1)


class JsonRuntime:
    __slots__ = ("long_quoting", "store")

    def __init__(self, long_quoting: bool) -> None:
        self.store = JsonStore()
        self.long_quoting = long_quoting


def _runtime(ctx: MsgContext) -> JsonRuntime:
    return module_runtime(ctx.process, "json", JsonRuntime)


class JsonPV(PVAccessor):
    """One `$json(id)` / `$json_compact(id)` / `$json_pretty(id)` reference."""

    __slots__ = ("id", "style")

    def __init__(self, name: str, json_id: JsonId, style: int) -> None:
        super().__init__(name, writable=True)
        self.id = json_id
        self.style = style

    def _find(self, ctx: MsgContext) -> tuple[JsonRuntime, Any] | None:
        runtime = _runtime(ctx)
        tags = self.id.resolved(ctx)
        if tags is None:
            log.error("Cannot expand variables in path")
            return None
        try:
            return runtime, runtime.store.walk(self.id.name, tags, parent=False, report=False)
        except WalkError:
            return None

    def _value(self, runtime: JsonRuntime, obj: Any) -> Value:
        if obj is None:
            return None
        if isinstance(obj, (bool, dict, list, JsonNumber)):
            return dumps(obj, self.style)
        if isinstance(obj, int):
            if runtime.long_quoting and not INT32[0] <= obj <= INT32[1]:
                return str(obj)
            return obj
        if isinstance(obj, str):
            return obj
        return dumps(obj, self.style)

    def get(self, ctx: MsgContext) -> Value:
        found = self._find(ctx)
        if found is None:
            return None
        runtime, obj = found
        if self.id.iterate is not None:
            return None  # .keys/.values are for iterating only
        return self._value(runtime, obj)

    def get_all(self, ctx: MsgContext) -> list[Value]:
        """The for-each view: an array's elements, an object's values (or keys with .keys)."""
        found = self._find(ctx)
        if found is None:
            return []
        runtime, obj = found
        if isinstance(obj, dict):
            if self.id.iterate == "keys":
                return list(obj.keys())
            return [self._value(runtime, v) for v in obj.values()]
        if isinstance(obj, list) and self.id.iterate is None:
            return [self._value(runtime, v) for v in obj]
        log.debug("Can only iterate over arrays or objects")
        return []

    def _put(self, ctx: MsgContext, value: Any) -> None:
        tags = self.id.resolved(ctx)
        if tags is None:
            log.error("Cannot expand variables in path")
            return
        _runtime(ctx).store.put(self.id.name, tags, value)

    def set(self, ctx: MsgContext, value: Value) -> None:
        """`=`: the value as is; NULL deletes."""
        self._put(ctx, DELETE if value is None else value)

    def set_replace(self, ctx: MsgContext, value: Value) -> None:
        """`:=`: the value parsed as JSON text."""
        if value is None:
            self._put(ctx, DELETE)
            return
        try:
            parsed = parse(str(value))
        except JsonError as exc:
            log.error("Error parsing json: %s", exc)
            self._put(ctx, DELETE)
            return
        if parsed is None:  # json-c parses "null" to nothing: OpenSIPS then deletes
            log.error("Error parsing json: success")
            self._put(ctx, DELETE)
            return
        self._put(ctx, parsed)

    def target(self, ctx: MsgContext) -> tuple[JsonStore, str, tuple[Any, ...]] | None:
        tags = self.id.resolved(ctx)
        if tags is None:
            return None
        return _runtime(ctx).store, self.id.name, tags


def _factory(style: int) -> Any:
    def make(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if not subname:
            raise PVError(f"${name} needs an id: ${name}(name/path)", pos)
        try:
            json_id = parse_id(subname)
        except PathError as exc:
            raise PVError(f"${name}({subname}): {exc}", pos) from None
        return JsonPV(f"${name}({subname})", json_id, style)

    return make


def _fix_json_var(value: Any, fctx: FixupContext) -> Any:
    if not isinstance(value, JsonPV):
        raise FixupError("Parameter must be a json variable", fctx.pos)
    return value


def w_json_link(ctx: MsgContext, dest: JsonPV, src: JsonPV) -> int:
    found = src.target(ctx)
    if found is None:
        log.error("Cannot expand variables in path")
        return -1
    store, name, tags = found
    if not store.has(name):
        log.error("Variable named:%s not found", name)
        return -1
    try:
        obj = store.walk(name, tags, parent=False, report=True)
    except WalkError:
        log.info("Could not find object with that path")
        return -1
    place = dest.target(ctx)
    if place is None or not store.put(place[1], place[2], obj):
        return -1
    return 1


def w_json_merge(ctx: MsgContext, main: str, patch: str, out: PVAccessor) -> int:
    try:
        first = parse(main)
    except JsonError:
        log.error("Failed to parse first param")
        return -1
    try:
        second = parse(patch)
    except JsonError:
        log.error("Failed to parse second param")
        return -1
    out.set(ctx, dumps(merge_patch(first, second), PLAIN, slash=False))
    return 1


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> JsonRuntime:
    return JsonRuntime(bool(params["enable_long_quoting"]))


_LINK_ROUTES = RouteType.ALL & ~RouteType.ERROR

exports = ModuleExports(
    "json",
    functions=(
        FunctionExport("json_link", w_json_link,
                       (ArgSpec(ArgKind.VAR, "dest", fixup=_fix_json_var),
                        ArgSpec(ArgKind.VAR, "source", fixup=_fix_json_var)), _LINK_ROUTES,
                       doc="put a reference to the source document at the destination path"),
        FunctionExport("json_merge", w_json_merge,
                       (ArgSpec(ArgKind.STR, "main_json"), ArgSpec(ArgKind.STR, "patch_json"),
                        ArgSpec(ArgKind.VAR, "output_var")), RouteType.ALL,
                       doc="RFC 7386 merge patch of two JSON texts, compact, into the variable"),
    ),
    params=(
        ParamExport("enable_long_quoting", ParamType.INT_OR_STR, 0, check=check_bool,
                    doc="integers beyond 32 bits read as strings"),
    ),
    pvars=(
        PVarExport("json", _factory(SPACED), doc="a JSON document or a value inside it"),
        PVarExport("json_compact", _factory(PLAIN), doc="$json printed without spaces"),
        PVarExport("json_pretty", _factory(PRETTY), doc="$json printed indented"),
    ),
    init=_init,
    doc="JSON documents in script variables",
)
