"""The building blocks every pseudo-variable is made of: the accessor protocol and the load error.

An accessor is built once when the script loads (names resolved, header names canonicalised) and
then read or written for every message; its `get` must stay a few attribute loads and one call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pysips.script.ast import NOWHERE, Pos
from pysips.script.context import Value

if TYPE_CHECKING:
    from pysips.script.context import MsgContext

log = logging.getLogger("pysips.script")

Getter = Callable[["MsgContext"], Value]
Setter = Callable[["MsgContext", Value], None]

# What goes between the values of `$(hdr(X)[*])` or `$(avp(x)[*])` when read as one string.
FIELD_DELIM = ", "


class PVError(Exception):
    """A pseudo-variable or transformation that cannot be used, found while the script loads."""

    def __init__(self, message: str, pos: Pos = NOWHERE) -> None:
        super().__init__(f"{pos}: {message}")
        self.message = message
        self.pos = pos


class IntText(int):
    """An integer that prints as the text it was read from: `{s.int}` of "-42abc" is -42 in
    arithmetic and comparisons but prints "-42abc", as OpenSIPS keeps the original string beside
    the number. Stored into a variable it becomes a plain integer (see `stored`)."""

    text: str  # (int subclasses cannot have __slots__)

    def __new__(cls, number: int, text: str) -> IntText:
        self = super().__new__(cls, number)
        self.text = text
        return self

    def __str__(self) -> str:
        return self.text

    def __format__(self, spec: str) -> str:
        return format(self.text, spec) if spec else self.text


def stored(value: str | int) -> str | int:
    """A value as a variable keeps it: an integer read from text keeps only its number."""
    return int(value) if isinstance(value, IntText) else value


def as_str(value: str | int) -> str:
    """The string face of a value: OpenSIPS values carry both, integers print in decimal."""
    return value if isinstance(value, str) else str(value)


def join_values(values: list[Value]) -> Value:
    """`[*]` read as a single value: every value, comma-separated; NULL when there are none."""
    if not values:
        return None
    return FIELD_DELIM.join("" if v is None else as_str(v) for v in values)


class PVAccessor:
    """A compiled pseudo-variable. Subclasses override `get` (and `set` when writable)."""

    __slots__ = ("name", "writable")

    def __init__(self, name: str, writable: bool = False) -> None:
        self.name = name
        self.writable = writable

    def get(self, ctx: MsgContext) -> Value:
        raise NotImplementedError

    def get_all(self, ctx: MsgContext) -> list[Value]:
        """Every value the variable holds: one for most, all fields/AVPs for `[*]` forms."""
        value = self.get(ctx)
        return [] if value is None else [value]

    def set(self, ctx: MsgContext, value: Value) -> None:
        """Assignment with `=`; None deletes. Read-only variables are refused at load time, so
        reaching this is a bug in the caller: log it, never raise into the script."""
        log.error("cannot assign to read-only pseudo-variable %s", self.name)

    def set_replace(self, ctx: MsgContext, value: Value) -> None:
        """Assignment with `:=` (differs from `=` only for AVPs, where it drops older values)."""
        self.set(ctx, value)

    def join_all(self, ctx: MsgContext) -> Value:
        """`[*]` read as one value: every value, comma-separated; NULL when there are none."""
        return join_values(self.get_all(ctx))

    def indexed(self, index: int | str | PVAccessor) -> PVAccessor | None:
        """This variable with `[index]` applied, when it handles indexes itself (AVPs do, for
        writes); None lets the caller apply the index to `get_all()`."""
        return None

    @property
    def getter(self) -> Getter:
        """The cheapest callable reading the value (a compiler may keep this instead of `get`)."""
        return self.get

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class FuncPV(PVAccessor):
    """A variable defined by a reading function (and optionally a writing one)."""

    __slots__ = ("_get", "_set")

    def __init__(self, name: str, get: Getter, set: Setter | None = None) -> None:
        super().__init__(name, set is not None)
        self._get = get
        self._set = set

    def get(self, ctx: MsgContext) -> Value:
        return self._get(ctx)

    def set(self, ctx: MsgContext, value: Value) -> None:
        if self._set is None:
            super().set(ctx, value)
        else:
            self._set(ctx, value)

    @property
    def getter(self) -> Getter:
        return self._get


class ListPV(PVAccessor):
    """A variable with several values (header fields, contacts): `get` is the first one."""

    __slots__ = ("_all",)

    def __init__(self, name: str, get_all: Callable[[MsgContext], list[Value]]) -> None:
        super().__init__(name, False)
        self._all = get_all

    def get(self, ctx: MsgContext) -> Value:
        values = self._all(ctx)
        return values[0] if values else None

    def get_all(self, ctx: MsgContext) -> list[Value]:
        return self._all(ctx)


# A factory turns the parts known at load time into an accessor: `name` is the class ("hdr"),
# `subname` the text in parentheses ("Via") or None. It raises PVError for a bad subname.
PVFactory = Callable[[str, "str | None", Pos], PVAccessor]
