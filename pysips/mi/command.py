"""An MI command: a name, and one handler per accepted set of parameter names ("recipes").

OpenSIPS picks the recipe from the request: with named parameters, the one whose names are all
present and whose count matches; with positional parameters, the one with that many names (the
values then take those names in order). `which {"command": X}` lists each recipe's names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pysips.mi.errors import (
    PARAM_NOT_HANDLED,
    SERVER_ERROR,
    MIError,
    bad_array_item,
    bad_type,
    empty_array,
)

if TYPE_CHECKING:
    from pysips.mi.runtime import MIRuntime
    from pysips.script.context import ProcessState

# A handler returns the JSON `result` ("OK", an object, an array ...) or raises MIError.
Handler = Callable[["MICall"], Any]


@dataclass(frozen=True, slots=True)
class Recipe:
    params: tuple[str, ...]
    handler: Handler


@dataclass(frozen=True, slots=True)
class MICommand:
    name: str
    recipes: tuple[Recipe, ...]
    doc: str = ""
    module: str = "core"
    # Its answer depends on state each worker process keeps (dialogs): with worker processes the
    # main process asks every worker and merges their answers (pysips.mi.merge)
    per_worker: bool = False


def command(name: str, doc: str, recipes: Mapping[tuple[str, ...], Handler],
            module: str = "core", per_worker: bool = False) -> MICommand:
    """`command("ul_dump", "...", {(): dump, ("brief",): dump})`"""
    return MICommand(name, tuple(Recipe(params, fn) for params, fn in recipes.items()), doc, module,
                     per_worker)


class MICall:
    """One invocation: the parameters under the matched recipe's names, and where it runs."""

    __slots__ = ("mi", "names", "process", "values")

    def __init__(self, mi: MIRuntime, names: tuple[str, ...], values: Any) -> None:
        self.mi = mi
        self.process: ProcessState = mi.process
        self.names = names
        # a dict (named) or a list (positional, in the recipe's order)
        self.values = values

    def has(self, name: str) -> bool:
        return self._raw(name) is not _MISSING

    def _raw(self, name: str) -> Any:
        if isinstance(self.values, dict):
            return self.values.get(name, _MISSING)
        if isinstance(self.values, list) and name in self.names:
            index = self.names.index(name)
            if index < len(self.values):
                return self.values[index]
        return _MISSING

    def _present(self, name: str) -> Any:
        value = self._raw(name)
        if value is _MISSING:
            # the recipe matched, so a missing name is the handler's bug (OpenSIPS says the same)
            raise MIError.of(SERVER_ERROR, PARAM_NOT_HANDLED)
        return value

    def get_str(self, name: str) -> str:
        value = self._present(name)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise bad_type(name)
        return str(value)

    def get_int(self, name: str) -> int:
        value = self._present(name)
        if isinstance(value, bool):
            raise bad_type(name)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            if text.lstrip("+-").isdigit():
                return int(text)
        raise bad_type(name)

    def get_str_array(self, name: str) -> list[str]:
        value = self._present(name)
        if not isinstance(value, list):
            raise bad_type(name)
        if not value:
            raise empty_array(name)
        items: list[str] = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise bad_array_item(name)
            items.append(str(item))
        return items


class _Missing:
    __slots__ = ()


_MISSING: Any = _Missing()
