"""OpenSIPS's flat-file database (db_text, `text:///path/to/dir`), behind the `Database` API.

The format is OpenSIPS's, so either server reads what the other wrote: a database is a folder,
a table a file named after it. The first line declares the columns, `name(type[,null|,auto])`
separated by spaces, type one of int, long, double, str, string, blob, time (dates are stored as
seconds since the epoch). Each further line is a row, fields separated by ':'; an empty field is
NULL; in text fields newline, CR, tab, backslash, ':' and NUL are escaped (\\n \\r \\t \\\\ \\: \\0).

Unlike OpenSIPS, which keeps tables in memory and writes them back at shutdown (or on `dbt_dump`),
every write here rewrites the file at once (through a temporary file and a rename, under an
exclusive lock shared by all processes), and a table is read again whenever its file changed: the
files are always current, for OpenSIPS, for the operator and for pysips's other processes. As in
OpenSIPS there is no raw SQL, no REPLACE, and transactions only hold the lock (no rollback). A
row inserted without a value for a NOT NULL column gets '' or 0 there (OpenSIPS refuses such a
row: db_text knows no defaults).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pysips.db.api import (
    DbDateTime,
    DbError,
    DbValue,
    Row,
    Where,
    conditions,
    record_version,
    recorded_version,
)
from pysips.db.schema import VERSION, Column, Table
from pysips.db.url import DbUrl

_TYPES = {"i": "int", "l": "long", "d": "double", "t": "time", "b": "blob"}
_INTEGER_TYPES = frozenset(("int", "long", "time"))
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", ":": "\\:", "\0": "\\0"}
_UNESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", ":": ":", "0": "\0"}


@dataclass(slots=True)
class TextColumn:
    name: str
    type: str  # int long double str string blob time
    nullable: bool = False
    auto: bool = False

    def header(self) -> str:
        flag = ",null" if self.nullable else ",auto" if self.auto else ""
        return f"{self.name}({self.type}{flag})"


@dataclass(slots=True)
class TextTable:
    columns: list[TextColumn]
    rows: list[list[DbValue]] = field(default_factory=list)
    stamp: tuple[int, int] = (0, 0)  # (mtime_ns, size) of the file read

    def index(self, name: str) -> int:
        for i, column in enumerate(self.columns):
            if column.name == name:
                return i
        raise DbError(f"no column {name!r} (columns: {', '.join(c.name for c in self.columns)})")


def parse_header(line: str) -> list[TextColumn]:
    columns: list[TextColumn] = []
    for item in line.split():
        name, paren, rest = item.partition("(")
        if not paren or not rest.endswith(")") or not name:
            raise DbError(f"bad column definition {item!r}")
        kind, _, attr = rest[:-1].partition(",")
        kind = kind.strip().lower()
        if not kind or kind[0] not in "silbdtSILBDT":
            raise DbError(f"bad column type in {item!r}")
        # OpenSIPS looks at the first letter; "string" (an 'i' in it) is the zero-terminated str
        type_name = _TYPES.get(kind[0], "string" if "i" in kind else "str")
        attr = attr.strip().lower()
        columns.append(TextColumn(name, type_name, nullable=attr.startswith("n"),
                                  auto=attr.startswith("a") and type_name in ("int", "long")))
    if not columns:
        raise DbError("no column definitions on the first line")
    return columns


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if nxt not in _UNESCAPES:
                raise DbError(f"bad escape \\{nxt} in {text!r}")
            out.append(_UNESCAPES[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _split_fields(line: str) -> list[str]:
    """The raw fields of a row: ':' separates, '\\:' does not."""
    fields: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            current.append(line[i:i + 2])
            i += 2
            continue
        if c == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    fields.append("".join(current))
    return fields


def _read_value(column: TextColumn, raw: str) -> DbValue:
    if raw == "":
        if column.type in ("str", "string", "blob") and not column.nullable:
            return ""
        return None
    try:
        if column.type in _INTEGER_TYPES:
            return int(raw)
        if column.type == "double":
            return float(raw)
    except ValueError:
        raise DbError(f"column {column.name}: {raw!r} is not a number") from None
    return _unescape(raw)


def parse_table(text: str) -> TextTable:
    lines = text.split("\n")
    table = TextTable(parse_header(lines[0]))
    width = len(table.columns)
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = _split_fields(line)
        if len(fields) != width:
            raise DbError(f"line {number}: {len(fields)} fields for {width} columns")
        table.rows.append([_read_value(c, f) for c, f in zip(table.columns, fields, strict=True)])
    return table


def _epoch(value: DbValue) -> int:
    """A time column's value: an integer, or the 'YYYY-MM-DD HH:MM:SS' text other backends hold."""
    if isinstance(value, (int, float)):
        return int(value)
    text = value.decode() if isinstance(value, bytes) else str(value)
    found = DbDateTime(text).epoch()
    if found is None:
        raise DbError(f"{text!r} is neither a number nor a date")
    return found


def _write_value(column: TextColumn, value: DbValue) -> str:
    if value is None:
        return ""
    if column.type in _INTEGER_TYPES:
        return str(_epoch(value))
    if column.type == "double":
        return f"{float(value):.2f}"
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return "".join(_ESCAPES.get(c, c) for c in text)


def _stored(column: TextColumn, value: DbValue) -> DbValue:
    """The value as the file will give it back."""
    if value is None:
        return None
    if column.type in _INTEGER_TYPES:
        return _epoch(value)
    if column.type == "double":
        return round(float(value), 2)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def format_table(table: TextTable) -> str:
    lines = [" ".join(c.header() for c in table.columns)]
    for row in table.rows:
        lines.append(":".join(_write_value(c, v) for c, v in zip(table.columns, row, strict=True)))
    return "\n".join(lines) + "\n"


def _text_type(column: Column) -> TextColumn:
    sql = column.sql_type.upper()
    if column.primary_key:
        return TextColumn(column.name, "long" if sql == "BIGINT" else "int", auto=True)
    if sql.startswith("BIGINT"):
        kind = "long"
    elif sql.startswith(("INT", "SMALLINT", "TINYINT", "DATETIME", "TIMESTAMP", "DATE")):
        kind = "int"  # OpenSIPS's db_text schema keeps dates as integers too
    elif sql.startswith(("FLOAT", "DOUBLE", "REAL", "DECIMAL")):
        kind = "double"
    elif sql.startswith(("BLOB", "BINARY")):
        kind = "blob"
    else:
        kind = "string"
    nullable = column.nullable and (column.default is None or column.default.upper() == "NULL")
    return TextColumn(column.name, kind, nullable=nullable)


def _matches(table: TextTable, row: list[DbValue], where: Where) -> bool:
    for name, op, wanted in conditions(where):
        value = row[table.index(name)]
        if wanted is None:
            if (value is None) != (op == "="):
                return False
            continue
        if value is None:
            return False
        if isinstance(value, (int, float)) and not isinstance(wanted, (int, float)):
            try:
                wanted = _epoch(wanted)
            except DbError:
                return False
        elif isinstance(value, str) and not isinstance(wanted, str):
            wanted = str(wanted)
        ok = {"=": value == wanted, "!=": value != wanted, "<": value < wanted, "<=": value <= wanted,  # type: ignore[operator]
              ">": value > wanted, ">=": value >= wanted}[op]  # type: ignore[operator]
        if not ok:
            return False
    return True


class TextDatabase:
    """A db_text folder. Thread-safe within a process; the lock file orders processes."""

    def __init__(self, url: DbUrl) -> None:
        self.url = url
        self.folder = url.database
        if not os.path.isdir(self.folder):
            raise DbError(f"{url}: folder {self.folder!r} does not exist")
        self._tables: dict[str, TextTable] = {}
        self._mutex = threading.RLock()
        self._depth = 0
        self._lock_file: int | None = None

    # ------------------------------------------------------------------ files and locking

    def _path(self, table: str) -> str:
        if not table or "/" in table or table.startswith("."):
            raise DbError(f"bad table name {table!r}")
        return os.path.join(self.folder, table)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            if self._depth == 0:
                fd = os.open(os.path.join(self.folder, ".pysips-lock"), os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_file = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_file is not None:
                    fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                    os.close(self._lock_file)
                    self._lock_file = None

    def _table(self, name: str) -> TextTable:
        path = self._path(name)
        try:
            info = os.stat(path)
        except FileNotFoundError:
            self._tables.pop(name, None)
            raise DbError(f"{self.url}: no table {name!r} (no file {path})") from None
        stamp = (info.st_mtime_ns, info.st_size)
        cached = self._tables.get(name)
        if cached is not None and cached.stamp == stamp:
            return cached
        try:
            with open(path, encoding="utf-8", newline="\n") as handle:
                table = parse_table(handle.read())
        except (OSError, UnicodeDecodeError) as exc:
            raise DbError(f"{self.url}: cannot read {path}: {exc}") from None
        except DbError as exc:
            raise DbError(f"{self.url}: {path}: {exc}") from None
        table.stamp = stamp
        self._tables[name] = table
        return table

    def _save(self, name: str, table: TextTable) -> None:
        path = self._path(name)
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(format_table(table))
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temporary, os.stat(path).st_mode & 0o777)
            if not os.path.exists(path):
                os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise DbError(f"{self.url}: cannot write {path}: {exc}") from None
        info = os.stat(path)
        table.stamp = (info.st_mtime_ns, info.st_size)
        self._tables[name] = table

    # ------------------------------------------------------------------ the Database API

    def query(self, table: str, columns: Sequence[str], where: Where = None,
              order_by: str | None = None) -> list[Row]:
        with self._locked():
            found = self._table(table)
            picks = [found.index(c) for c in columns]
            rows = [r for r in found.rows if _matches(found, r, where)]
            if order_by:
                key = found.index(order_by)
                rows.sort(key=lambda r: (r[key] is not None, r[key]))
            return [tuple(r[i] for i in picks) for r in rows]

    def insert(self, table: str, values: Mapping[str, DbValue]) -> int:
        with self._locked():
            found = self._table(table)
            row: list[DbValue] = [None] * len(found.columns)
            for name, value in values.items():
                index = found.index(name)
                row[index] = _stored(found.columns[index], value)
            new_id = 0
            for index, column in enumerate(found.columns):
                if column.auto and row[index] is None:
                    used = [v for r in found.rows if isinstance(v := r[index], int)]
                    row[index] = new_id = max(used, default=0) + 1
                elif column.auto and isinstance(given := row[index], int):
                    new_id = given
                if row[index] is None and not column.nullable:
                    # OpenSIPS refuses the row (db_text has no defaults); an empty text or a 0
                    # lets pysips's modules leave out what other backends default
                    row[index] = "" if column.type in ("str", "string", "blob") else 0
            found.rows.append(row)
            self._save(table, found)
            return new_id

    def update(self, table: str, where: Where, values: Mapping[str, DbValue]) -> int:
        with self._locked():
            found = self._table(table)
            changes = [(found.index(n), v) for n, v in values.items()]
            count = 0
            for row in found.rows:
                if _matches(found, row, where):
                    for index, value in changes:
                        row[index] = _stored(found.columns[index], value)
                    count += 1
            if count:
                self._save(table, found)
            return count

    def delete(self, table: str, where: Where = None) -> int:
        with self._locked():
            found = self._table(table)
            kept = [r for r in found.rows if not _matches(found, r, where)]
            count = len(found.rows) - len(kept)
            if count:
                found.rows = kept
                self._save(table, found)
            return count

    def replace(self, table: str, values: Mapping[str, DbValue]) -> None:
        raise DbError(f"{self.url}: db_text has no REPLACE (as in OpenSIPS)")

    def execute(self, sql: str, args: Sequence[DbValue] = ()) -> tuple[list[str], list[Row]]:
        raise DbError(f"{self.url}: db_text runs no raw SQL (as in OpenSIPS); use the structured "
                      "functions (sql_select, sql_insert ...)")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        # writes reach the files one by one: the lock only keeps other processes out meanwhile
        with self._locked():
            yield

    def ensure_table(self, schema: Table, name: str | None = None) -> None:
        table = name or schema.name
        with self._locked():
            if not os.path.exists(self._path(VERSION.name)):
                self._save(VERSION.name, TextTable([TextColumn("table_name", "string"),
                                                    TextColumn("table_version", "int")]))
            if os.path.exists(self._path(table)):
                return
            self._save(table, TextTable([_text_type(c) for c in schema.columns]))
            record_version(self, table, schema.version)

    def table_version(self, table: str) -> int | None:
        if not os.path.exists(self._path(VERSION.name)):
            return None
        return recorded_version(self, table)

    def columns_of(self, table: str) -> list[str]:
        with self._locked():
            try:
                return [c.name for c in self._table(table).columns]
            except DbError:
                if os.path.exists(self._path(table)):
                    raise
                return []

    def drop_table(self, name: str) -> None:
        with self._locked():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(name))
            self._tables.pop(name, None)

    def close(self) -> None:
        self._tables.clear()


def open_text(url: DbUrl) -> TextDatabase:
    return TextDatabase(url)

