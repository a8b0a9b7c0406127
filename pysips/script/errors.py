"""Load-time problems: every one carries the position it is about, and loading collects them all.

A script is checked completely before anything runs, so that `pysips -c` can list every missing
module, function and parameter in one pass (the porting report) instead of stopping at the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pysips.script.ast import NOWHERE, Pos


@dataclass(frozen=True, slots=True)
class LoadProblem:
    pos: Pos
    message: str
    warning: bool = False

    def format(self) -> str:
        kind = "warning: " if self.warning else ""
        return f"{self.pos}: {kind}{self.message}"


class ScriptLoadError(Exception):
    """The script cannot run; `problems` holds every error (and the warnings) found."""

    def __init__(self, problems: list[LoadProblem]) -> None:
        self.problems = problems
        self.report: Any = None  # the compile.CheckReport, when raised by load_script
        errors = [p for p in problems if not p.warning]
        super().__init__("\n".join(p.format() for p in errors) or "script load failed")


class FixupError(Exception):
    """Raised by a function-argument or parameter fixup; becomes a LoadProblem at the argument."""

    def __init__(self, message: str, pos: Pos = NOWHERE) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class Problems:
    """An accumulator passed through the loading stages."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[LoadProblem] = []

    def error(self, pos: Pos, message: str) -> None:
        self.items.append(LoadProblem(pos, message))

    def warn(self, pos: Pos, message: str) -> None:
        self.items.append(LoadProblem(pos, message, warning=True))

    @property
    def errors(self) -> list[LoadProblem]:
        return [p for p in self.items if not p.warning]

    @property
    def warnings(self) -> list[LoadProblem]:
        return [p for p in self.items if p.warning]

    def sorted(self) -> list[LoadProblem]:
        return sorted(self.items, key=lambda p: (p.pos.file, p.pos.line, p.pos.col))
