"""A database value read as text, as the modules that compare or print column values want it:
drivers give str, but some (MySQL's binary collations, BLOB columns) give bytes."""

from __future__ import annotations

from pysips.db.api import DbValue


def text_or_none(value: DbValue) -> str | None:
    """The value as text; NULL stays None (for the columns where NULL means 'not set')."""
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def text_or_empty(value: DbValue) -> str:
    """The value as text, NULL as ""."""
    text = text_or_none(value)
    return "" if text is None else text
