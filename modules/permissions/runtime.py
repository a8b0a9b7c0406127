"""The permissions runtime of one process: the address partitions (each its database, table and
in-memory AddressTable) and the loaded rule files."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pysips.db.api import DbError
from pysips.db.lazy import LazyDatabase
from pysips.db.url import DbUrl, DbUrlError, parse_db_url
from pysips.script.context import MsgContext
from pysips.script.errors import FixupError
from pysips.script.module_runtime import module_runtime

from .address import COLUMNS, AddressTable
from .rules import RulePair

log = logging.getLogger("pysips.modules.permissions")

DEFAULT_PARTITION = "default"


@dataclass(slots=True)
class PartitionSpec:
    name: str
    url: str | None
    table: str | None


def parse_partition(text: str) -> PartitionSpec:
    """`name: db_url=URL; table_name=T` (both optional): OpenSIPS's `partition` modparam."""
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not name:
        raise FixupError(f"partition without a name: {text!r}")
    url = table = None
    if sep:
        for item in rest.split(";"):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not key and not value.strip():
                continue
            if key == "db_url" and eq:
                url = value.strip()
            elif key == "table_name" and eq:
                table = value.strip()
            else:
                raise FixupError(f"invalid token {key!r} in partition {name!r}")
    return PartitionSpec(name, url, table)


@dataclass(slots=True)
class Partition:
    name: str
    url: DbUrl
    table_name: str
    columns: tuple[str, ...]
    table: AddressTable = field(default_factory=AddressTable)
    db: LazyDatabase = field(init=False)

    def __post_init__(self) -> None:
        self.db = LazyDatabase(self.url)

    def reload(self) -> None:
        """Reads the whole table again; the old entries stay in use when that fails (DbError)."""
        rows = self.db.get().query(self.table_name, self.columns)
        self.table = AddressTable.from_rows(rows)
        log.debug("permissions: partition %s: %d groups loaded", self.name, len(self.table.groups))


class Permissions:
    __slots__ = ("check_all_branches", "default_rules", "partitions")

    def __init__(self, partitions: dict[str, Partition], default_rules: RulePair,
                 check_all_branches: bool = True) -> None:
        self.partitions = partitions
        self.default_rules = default_rules
        self.check_all_branches = check_all_branches

    def partition(self, name: str | None) -> Partition | None:
        return self.partitions.get(name or DEFAULT_PARTITION)

    def close(self) -> None:
        for part in self.partitions.values():
            part.db.close()


def build_partitions(params: dict[str, object]) -> dict[str, Partition]:
    """The partitions the parameters describe: those of `partition`, plus `default` when db_url
    is set; each inherits db_url and address_table when it names none."""
    default_url = params.get("db_url")
    default_table = str(params.get("address_table") or "address")
    columns = (*(str(params.get(f"{param}_col") or default) for param, default in
                 (("ip", "ip"), ("grp", "grp"), ("mask", "mask"), ("port", "port"),
                  ("proto", "proto"), ("pattern", "pattern"), ("info", "context_info"))), "id")
    declared = params.get("partition")
    specs = [parse_partition(str(p)) for p in declared] if isinstance(declared, list) else []
    if default_url and not any(s.name == DEFAULT_PARTITION for s in specs):
        specs.insert(0, PartitionSpec(DEFAULT_PARTITION, None, None))
    parts: dict[str, Partition] = {}
    for spec in specs:
        url_text = spec.url or (str(default_url) if default_url else None)
        if url_text is None:
            raise RuntimeError(f"permissions: partition {spec.name!r} has no 'db_url'")
        try:
            url = parse_db_url(url_text)
        except DbUrlError as exc:
            raise RuntimeError(f"permissions: partition {spec.name!r}: {exc}") from None
        parts[spec.name] = Partition(spec.name, url, spec.table or default_table, columns)
    assert len(COLUMNS) == len(columns)
    return parts


def load_partitions(parts: dict[str, Partition]) -> None:
    for part in parts.values():
        try:
            part.reload()
        except DbError as exc:
            raise RuntimeError(f"permissions: partition {part.name!r}: failed to load the"
                               f" address table: {exc}") from None


def resolve_rule_file(name: str, script_file: str) -> Path:
    """A relative name is looked up next to the main script (OpenSIPS: the cfg file's folder)."""
    path = Path(name)
    if path.is_absolute() or "/" in name:
        return path
    return Path(script_file).parent / path


def permissions_of(ctx: MsgContext) -> Permissions:
    return module_runtime(ctx.process, "permissions", Permissions)
