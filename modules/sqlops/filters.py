"""The JSON arguments of sql_select/update/insert/delete/replace, as OpenSIPS's sqlops reads them.

Columns: '["col1","col2"]'. Values: '[{"col1":"val1"},{"col2":2},{"col3":null}]'. Filter:
'[{"username":"bob"},{"expires":{">":100}},{"domain":{"!=":null}}]'.
"""

from __future__ import annotations

import json
from typing import Any

from pysips.db.api import OPERATORS, Condition, DbError, DbValue


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DbError(f"bad JSON in {what}: {exc}") from None


def _value(value: Any, what: str) -> DbValue:
    if value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool)):
        return value
    raise DbError(f"{what}: values must be strings, integers or null, got {value!r}")


def columns(text: str) -> list[str]:
    found = _json(text, "columns")
    if not isinstance(found, list) or not found or not all(isinstance(c, str) for c in found):
        raise DbError('columns must be a JSON array of names: ["col1","col2"]')
    return found


def pairs(text: str, what: str) -> dict[str, DbValue]:
    """'[{"col":value}, ...]' (a single object is accepted too) -> {col: value}."""
    found = _json(text, what)
    items = found if isinstance(found, list) else [found]
    out: dict[str, DbValue] = {}
    for item in items:
        if not isinstance(item, dict):
            raise DbError(f'{what} must be an array of {{"column": value}} objects')
        for column, value in item.items():
            out[str(column)] = _value(value, what)
    if not out:
        raise DbError(f"{what}: no column given")
    return out


def where(text: str | None) -> list[Condition]:
    if not text:
        return []
    found = _json(text, "filter")
    items = found if isinstance(found, list) else [found]
    conds: list[Condition] = []
    for item in items:
        if not isinstance(item, dict):
            raise DbError('filter must be an array of {"column": value} or {"column": {"op": value}}')
        for column, spec in item.items():
            if isinstance(spec, dict):
                for op, value in spec.items():
                    if op not in OPERATORS:
                        raise DbError(f"filter operator {op!r} is not supported (use = != < <= > >=)")
                    conds.append((str(column), op, _value(value, "filter")))
            else:
                conds.append((str(column), "=", _value(spec, "filter")))
    return conds
