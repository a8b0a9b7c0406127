"""`pysips db migrate URL`: the tables of an older OpenSIPS brought to OpenSIPS 3.6's layout, in place.

`opensips-cli database migrate` creates a new database with the current schema and copies the old
one's rows over, column by column. pysips does the same per table, inside the database the URL
names, for the tables its modules use: a table whose `version` row is older than 3.6's (or that
has no version row and other columns) is

1. saved as `<table>_v<old version>` (a plain copy of its rows: nothing is lost),
2. dropped and created again with 3.6's columns, keys and `version` row,
3. filled with the saved rows: the columns both layouts share keep their values (a DATETIME
   becoming an integer is converted to seconds since the epoch), new columns get their defaults,
   dropped columns stay only in the saved copy (2.x subscriber's `email_address`, `rpid`, `ha1b`).

Tables already at 3.6's version are left alone; missing ones are created. The saved copies are
for the operator to drop once satisfied.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field

from pysips.db.api import Database, DbDateTime, DbError, DbValue
from pysips.db.schema import VERSION, Column, Table


@dataclass(slots=True)
class MigrateReport:
    created: list[str] = field(default_factory=list)
    migrated: list[str] = field(default_factory=list)  # "subscriber 7->8 (12 rows, saved as subscriber_v7)"
    current: list[str] = field(default_factory=list)
    newer: list[str] = field(default_factory=list)  # a version above 3.6's: left alone

    def lines(self) -> list[str]:
        out = []
        if self.migrated:
            out.append("migrated " + "; ".join(self.migrated))
        if self.created:
            out.append("created " + ", ".join(self.created))
        if self.current:
            out.append("already at 3.6: " + ", ".join(self.current))
        if self.newer:
            out.append("newer than 3.6, left alone: " + ", ".join(self.newer))
        return out or ["nothing to do"]


def _converted(column: Column, value: DbValue) -> DbValue:
    """An old value in the new column's type (what changed between OpenSIPS versions: DATETIME
    columns that became integers)."""
    if value is None:
        return None
    sql_type = column.sql_type.upper()
    if sql_type.startswith(("INT", "BIGINT")) and not isinstance(value, int):
        text = value.decode() if isinstance(value, bytes) else str(value)
        if text.strip().lstrip("-").isdigit():
            return int(text)
        epoch = DbDateTime(text).epoch()
        if epoch is None:
            raise DbError(f"column {column.name}: cannot convert {text!r} to an integer")
        return epoch
    return value


def _save_copy(db: Database, table: str, backup: str) -> None:
    if db.columns_of(backup):
        raise DbError(f"{backup} exists already (an earlier migration?): drop or rename it first")
    if db.url.scheme == "text":
        shutil.copyfile(os.path.join(db.url.database, table), os.path.join(db.url.database, backup))
        return
    db.execute(f"CREATE TABLE {backup} AS SELECT * FROM {table}")


def _reset_sequence(db: Database, schema: Table) -> None:
    """PostgreSQL: a SERIAL column given explicit ids must continue after the largest one."""
    key = next((c.name for c in schema.columns if c.primary_key), None)
    if key is None or db.url.scheme not in ("postgres", "postgresql"):
        return
    db.execute(f"SELECT setval(pg_get_serial_sequence('{schema.name}', '{key}'),"
               f" COALESCE((SELECT MAX({key}) FROM {schema.name}), 0) + 1, false)")


def migrate_table(db: Database, schema: Table, report: MigrateReport) -> None:
    name = schema.name
    old_columns = db.columns_of(name)
    if not old_columns:
        db.ensure_table(schema)
        report.created.append(name)
        return
    version = db.table_version(name)
    if version == schema.version or (version is None and list(schema.column_names) == old_columns):
        if version is None:
            db.delete(VERSION.name, {"table_name": name})
            db.insert(VERSION.name, {"table_name": name, "table_version": schema.version})
        report.current.append(name)
        return
    if version is not None and version > schema.version:
        report.newer.append(f"{name} ({version})")
        return
    shared = [c for c in schema.columns if c.name in old_columns]
    rows = db.query(name, [c.name for c in shared])
    backup = f"{name}_v{version if version is not None else 0}"
    _save_copy(db, name, backup)
    db.drop_table(name)
    db.ensure_table(schema)
    with db.transaction():
        for row in rows:
            db.insert(name, {c.name: _converted(c, v) for c, v in zip(shared, row, strict=True)
                             if v is not None or c.nullable})
    _reset_sequence(db, schema)
    report.migrated.append(f"{name} {version if version is not None else '?'}->{schema.version}"
                           f" ({len(rows)} rows, saved as {backup})")


def migrate(db: Database, tables: list[Table]) -> MigrateReport:
    report = MigrateReport()
    if not db.columns_of(VERSION.name):
        # a database without a version table: create it, then judge each table by its columns
        with contextlib.suppress(DbError):
            db.ensure_table(VERSION)
    for schema in tables:
        migrate_table(db, schema, report)
    return report
