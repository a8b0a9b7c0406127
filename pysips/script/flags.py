"""Named flags, numbered at load time as OpenSIPS 3.x does.

There is one namespace for message flags (`setflag`, `isflagset`, `$mf`), one for branch flags
(`setbflag`, usrloc's `nat_bflag`) and one for dialog flags (`set_dlg_flag`). Each name gets the
next free bit when first seen, whether the script or a module parameter names it first. A flag
written as a number (`setflag(5)`, 2.x style) is a name too in 3.x, so it does not mean bit 5;
`pysips -c` warns about that difference.
"""

from __future__ import annotations

import enum

from pysips.script.errors import FixupError

MAX_FLAGS = 32


class FlagKind(enum.Enum):
    MESSAGE = "message"
    BRANCH = "branch"
    DIALOG = "dialog"  # dialog's set_dlg_flag() names (OpenSIPS FLAG_TYPE_DIALOG)


class FlagRegistry:
    __slots__ = ("_names",)

    def __init__(self) -> None:
        self._names: dict[FlagKind, dict[str, int]] = {kind: {} for kind in FlagKind}

    def bit(self, kind: FlagKind, name: str) -> int:
        """The bit index of flag `name`, allocating one for a new name; FixupError when full."""
        name = name.strip()
        if not name:
            raise FixupError(f"empty {kind.value} flag name")
        table = self._names[kind]
        found = table.get(name)
        if found is not None:
            return found
        if len(table) >= MAX_FLAGS:
            raise FixupError(f"too many {kind.value} flags (at most {MAX_FLAGS}): cannot add {name!r}")
        table[name] = len(table)
        return table[name]

    def mask(self, kind: FlagKind, name: str) -> int:
        return 1 << self.bit(kind, name)

    def names(self, kind: FlagKind) -> dict[str, int]:
        return dict(self._names[kind])

    def name_of(self, kind: FlagKind, bit: int) -> str | None:
        for name, value in self._names[kind].items():
            if value == bit:
                return name
        return None
