"""dialplan: string translations by matching and replacement rules (OpenSIPS module `dialplan`).

dp_translate(id, input[, out_var[, attrs_var[, partition]]]) picks the rule of dialplan `id`
that matches `input` (string equality or a regular expression, by priority) and writes its
output and attributes. Rules come from the `dialplan` table of each partition, loaded at start
and by MI `dp_reload`; MI `dp_translate` and `dp_show_partition` as in OpenSIPS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pysips.db.api import DbError
from pysips.db.lazy import LazyDatabase
from pysips.db.url import DbUrl, DbUrlError, parse_db_url
from pysips.mi import MICall, MIError, command
from pysips.script.context import MsgContext, RouteType
from pysips.script.corefuncs import current_ruri
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
)
from pysips.script.pv import PVRegistry
from pysips.script.pv_base import PVAccessor
from pysips.script.timerec import parse_time_check

from .rules import COLUMNS, Dialplan

__all__ = ["Dialplans", "exports"]

log = logging.getLogger("pysips.modules.dialplan")

DEFAULT_PARTITION = "default"


@dataclass(slots=True)
class Partition:
    name: str
    url: DbUrl
    table: str
    columns: tuple[str, ...]
    disabled_column: str
    registry: PVRegistry | None
    plan: Dialplan = field(default_factory=Dialplan)
    db: LazyDatabase = field(init=False)

    def __post_init__(self) -> None:
        self.db = LazyDatabase(self.url)

    def reload(self) -> None:
        """Reads the enabled rules again; on a DbError the old ones stay in use."""
        rows = self.db.get().query(self.table, self.columns, {self.disabled_column: 0},
                             order_by=self.columns[1])
        self.plan = Dialplan.from_rows(rows, self.registry, parse_time_check)
        log.info("dialplan: partition %s: %d rules loaded (%d discarded)", self.name,
                 self.plan.loaded, self.plan.discarded)


class Dialplans:
    __slots__ = ("partitions",)

    def __init__(self, partitions: dict[str, Partition]) -> None:
        self.partitions = partitions

    def close(self) -> None:
        for part in self.partitions.values():
            part.db.close()


def parse_partition(text: str) -> tuple[str, dict[str, str], str | None]:
    """`name: table_name=T; db_url=URL`, or `name: other` (an alias of partition `other`)."""
    name, _, rest = text.partition(":")
    name = name.strip()
    if not name:
        raise FixupError(f"partition without a name: {text!r}")
    props: dict[str, str] = {}
    rest = rest.strip()
    if rest and "=" not in rest:
        return name, props, rest
    for item in rest.split(";"):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not key:
            continue
        if key not in ("table_name", "db_url") or not eq:
            raise FixupError(f"invalid token {key!r} in partition {name!r}")
        props[key] = value.strip()
    return name, props, None


def _partition_names(params: dict[str, Any]) -> set[str]:
    names = {parse_partition(str(p))[0] for p in params.get("partition") or []}
    if params.get("db_url"):
        names.add(DEFAULT_PARTITION)
    return names


def build_partitions(params: dict[str, Any], registry: PVRegistry | None) -> dict[str, Partition]:
    columns = tuple(str(params[f"{c}_col"]) for c in COLUMNS)
    specs: dict[str, dict[str, str]] = {}
    aliases: dict[str, str] = {}
    for text in params.get("partition") or []:
        name, props, alias = parse_partition(str(text))
        if alias is not None:
            aliases[name] = alias
        else:
            specs[name] = props
    if params.get("db_url") and DEFAULT_PARTITION not in specs and DEFAULT_PARTITION not in aliases:
        specs[DEFAULT_PARTITION] = {}
    parts: dict[str, Partition] = {}
    for name, props in specs.items():
        url_text = props.get("db_url") or params.get("db_url")
        if not url_text:
            raise RuntimeError(f"dialplan: partition {name!r} has no 'db_url'")
        try:
            url = parse_db_url(str(url_text))
        except DbUrlError as exc:
            raise RuntimeError(f"dialplan: partition {name!r}: {exc}") from None
        parts[name] = Partition(name, url, props.get("table_name") or str(params["table_name"]),
                                columns, str(params["disabled_col"]), registry)
    for name, target in aliases.items():
        if target not in parts:
            raise RuntimeError(f"dialplan: partition {name!r} refers to unknown {target!r}")
        parts[name] = parts[target]
    return parts


def _dialplans(process: Any) -> Dialplans | None:
    found = process.modules.get("dialplan")
    return found if isinstance(found, Dialplans) else None


def _fix_partition(value: Any, fctx: FixupContext) -> str:
    name = str(value).strip()
    if name not in _partition_names(fctx.params):
        raise FixupError(f"partition <{name}> not found", fctx.pos)
    return name


def w_dp_translate(ctx: MsgContext, dpid: int, text: str, out: PVAccessor | None = None,
                   attrs: PVAccessor | None = None, partition: str | None = None) -> int:
    runtime = _dialplans(ctx.process)
    part = runtime.partitions.get(partition or DEFAULT_PARTITION) if runtime else None
    if part is None:
        log.error("dp_translate: partition <%s> not found", partition or DEFAULT_PARTITION)
        return -1
    ruri = current_ruri(ctx) if ctx.msg is not None else None
    result = part.plan.translate(dpid, text, ctx.now, ruri, ctx)
    if isinstance(result, int):
        return result
    output, attributes = result
    if out is not None and output:
        out.set(ctx, output)
    if attrs is not None:
        attrs.set(ctx, attributes)
    return 1


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Dialplans:
    parts = build_partitions(params, ictx.pv_registry)
    for part in {id(p): p for p in parts.values()}.values():
        try:
            part.reload()
        except DbError as exc:
            raise RuntimeError(f"dialplan: partition {part.name!r}: {exc}") from None
    return Dialplans(parts)


def _destroy(runtime: object) -> None:
    if isinstance(runtime, Dialplans):
        runtime.close()


def _runtime(call: MICall) -> Dialplans:
    found = _dialplans(call.process)
    if found is None:
        raise MIError(500, "dialplan is not initialised")
    return found


def _reload(part: Partition) -> None:
    try:
        part.reload()
    except DbError as exc:
        log.error("dialplan: DB reload failed on partition <%s>: %s", part.name, exc)
        raise MIError(500, "Database error") from None


def mi_dp_reload(call: MICall) -> Any:
    for part in {id(p): p for p in _runtime(call).partitions.values()}.values():
        _reload(part)
    return "OK"


def mi_dp_reload_part(call: MICall) -> Any:
    part = _runtime(call).partitions.get(call.get_str("partition"))
    if part is None:
        raise MIError(500, "Partition not found")
    _reload(part)
    return "OK"


def _mi_translate(call: MICall, partition: str) -> Any:
    part = _runtime(call).partitions.get(partition)
    if part is None:
        if partition == DEFAULT_PARTITION:
            raise MIError(404, "'default' partition not found")
        raise MIError(404, "Partition not found")
    dpid_text = call.get_str("dpid").strip()
    if not dpid_text:
        raise MIError(404, "Empty id parameter")
    try:
        dpid = int(dpid_text)
    except ValueError:
        raise MIError(404, "Wrong id parameter") from None
    text = call.get_str("input")
    if not text:
        raise MIError(404, "Empty input parameter")
    if dpid not in part.plan.sets:
        raise MIError(404, "No information available for dpid")
    result = part.plan.translate(dpid, text, call.process.core.wall_time()
                                 if call.process.core is not None else 0.0)
    if isinstance(result, int):
        raise MIError(404, "No translation")
    return {"Output": result[0], "ATTRIBUTES": result[1]}


def mi_dp_translate(call: MICall) -> Any:
    return _mi_translate(call, DEFAULT_PARTITION)


def mi_dp_translate_part(call: MICall) -> Any:
    return _mi_translate(call, call.get_str("partition"))


def _describe(name: str, part: Partition) -> dict[str, Any]:
    return {"name": name, "table": part.table, "db_url": str(part.url)}


def mi_dp_show_partition(call: MICall) -> Any:
    return {"Partitions": [_describe(n, p) for n, p in _runtime(call).partitions.items()]}


def mi_dp_show_partition_1(call: MICall) -> Any:
    name = call.get_str("partition")
    part = _runtime(call).partitions.get(name)
    if part is None:
        raise MIError(404, "Partition Not Found")
    return {"Partition": name, "Table": part.table, "db_url": str(part.url)}


def _col(name: str) -> ParamExport:
    return ParamExport(f"{name}_col", ParamType.STR, name)


exports = ModuleExports(
    "dialplan",
    functions=(
        FunctionExport("dp_translate", w_dp_translate,
                       (ArgSpec(ArgKind.INT, "id"), ArgSpec(ArgKind.STR, "input"),
                        ArgSpec(ArgKind.VAR, "out_var", optional=True),
                        ArgSpec(ArgKind.VAR, "attrs_var", optional=True),
                        ArgSpec(ArgKind.STR, "partition", optional=True, fixup=_fix_partition)),
                       RouteType.ALL, doc="translate the input by the rules of dialplan id"),
    ),
    params=(
        ParamExport("db_url", ParamType.STR, None),
        ParamExport("table_name", ParamType.STR, "dialplan"),
        ParamExport("partition", ParamType.STR, None, multi=True,
                    doc="\"name: table_name=T; db_url=URL\" or \"name: other\""),
        *(_col(c) for c in COLUMNS),
        ParamExport("disabled_col", ParamType.STR, "disabled"),
    ),
    init=_init,
    destroy=_destroy,
    mi_commands=(
        command("dp_reload", "reload the translation rules",
                {(): mi_dp_reload, ("partition",): mi_dp_reload_part}, "dialplan"),
        command("dp_translate", "translate an input by a dialplan id",
                {("dpid", "input"): mi_dp_translate,
                 ("dpid", "input", "partition"): mi_dp_translate_part}, "dialplan"),
        command("dp_show_partition", "the partitions and their tables",
                {(): mi_dp_show_partition, ("partition",): mi_dp_show_partition_1}, "dialplan"),
    ),
    doc="string translations by matching and replacement rules (dialplan table)",
)
