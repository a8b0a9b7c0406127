"""sqlops's JSON arguments as OpenSIPS reads them: columns, values and filters."""

from __future__ import annotations

import importlib

import pytest
from test_registrar_fakes import module

from pysips.db.api import DbError

module("sqlops")  # imports the bundled package
filters = importlib.import_module("pysips_modules.sqlops.filters")


def test_columns_values_and_filters() -> None:
    assert filters.columns('["a","b"]') == ["a", "b"]
    assert filters.pairs('[{"a":"x"},{"b":2},{"c":null}]', "columns") == {"a": "x", "b": 2, "c": None}
    assert filters.pairs('{"a":"x"}', "columns") == {"a": "x"}
    assert filters.where('[{"u":"bob"},{"n":{">":3}},{"d":{"!=":null}}]') == [
        ("u", "=", "bob"), ("n", ">", 3), ("d", "!=", None)]
    assert filters.where(None) == []


@pytest.mark.parametrize("bad", ['["a",', '[{"a":{"LIKE":"x%"}}]', '[["a"]]', '[{"a":[1]}]', '[{"a":true}]'])
def test_bad_filters_are_errors(bad: str) -> None:
    with pytest.raises(DbError):
        filters.where(bad)


def test_bad_columns_are_errors() -> None:
    for bad in ("[]", '[1]', '"a"'):
        with pytest.raises(DbError):
            filters.columns(bad)
