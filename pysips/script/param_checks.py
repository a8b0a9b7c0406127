"""Module parameter checks several modules share: a parameter pysips does not implement (a load
error unless left at its harmless value) and a comma-separated list of reply codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysips.script.errors import FixupError


def unsupported(module: str, name: str, harmless: Any = None) -> Callable[[Any], Any]:
    """A check refusing any value of `name` but `harmless` (what OpenSIPS does by default), so a
    script relying on the feature fails at load time instead of silently running without it."""

    def check(value: Any) -> Any:
        if value == harmless:
            return value
        raise FixupError(f"{module}: {name} is not supported by pysips yet")

    return check


def parse_codes(text: str | None) -> frozenset[int]:
    """ "404,503" -> {404, 503}; empty parts are skipped (ValueError on a non-number)."""
    return frozenset(int(part) for part in str(text or "").split(",") if part.strip())


def codes_check(module: str, name: str) -> Callable[[Any], Any]:
    """A check that `name` holds a list of reply codes (parse_codes reads it later)."""

    def check(value: Any) -> Any:
        try:
            parse_codes(value)
        except ValueError:
            raise FixupError(f"{module}: bad {name} {value!r}") from None
        return value

    return check
