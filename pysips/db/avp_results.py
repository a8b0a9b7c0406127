"""Query results into script variables, as OpenSIPS's sqlops (and 2.x avpops) store them.

Into AVPs (sql_query, sql_select): one value per row for each column's AVP, added so that the
first row ends in front ($avp(x)[0] is row 1); NULL is the string "<null>"; integers stay
integers, DATE/DATETIME/TIMESTAMP columns become integers (seconds since the epoch, the column's
text read as local time, as OpenSIPS's db layer converts them), other values become strings.
Into any variables (the `_one` forms): the first row only, NULL as NULL; fewer variables than
columns is an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from pysips.db.api import DbDateTime, Row
from pysips.script.context import MsgContext
from pysips.script.pv_base import PVAccessor

log = logging.getLogger("pysips.modules.sqlops")

NULL_TEXT = "<null>"


def split_pv_list(text: str) -> list[str]:
    """'$avp(a);$avp(b)' -> the names; OpenSIPS separates them by ';', ',' or white space."""
    return [name for name in re.split(r"[\s,;]+", text) if name]


def _script_value(value: object) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, DbDateTime):
        # OpenSIPS's db layer reads DATETIME columns into a time_t, and sqlops stores that integer
        epoch = value.epoch()
        return str(value) if epoch is None else epoch
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    return str(value)


def into_avps(ctx: MsgContext, rows: Sequence[Row], targets: Sequence[PVAccessor]) -> bool:
    for row in reversed(rows):
        if len(row) > len(targets):
            log.error("too few AVPs for the result: need %d, have %d", len(row), len(targets))
            return False
        for value, target in zip(row, targets, strict=False):
            target.set(ctx, NULL_TEXT if value is None else _script_value(value))
    return True


def into_vars(ctx: MsgContext, row: Row, targets: Sequence[PVAccessor]) -> bool:
    if len(targets) < len(row):
        log.error("too few output vars to store the result, need %d, having %d",
                  len(row), len(targets))
        return False
    for value, target in zip(row, targets, strict=False):
        target.set(ctx, None if value is None else _script_value(value))
    return True
