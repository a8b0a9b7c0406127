"""What the compiler knows while it turns routes into closures: names, tables, problems.

Everything resolvable is resolved here, once: function exports, flag bits, route slots, regexes,
pseudo-variable accessors. The closures built from it never look anything up by name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from pysips.script import ast
from pysips.script.context import ACT_RETURN, MsgContext, RouteType, Value
from pysips.script.errors import Problems
from pysips.script.exports import FunctionExport, RouteRef
from pysips.script.flags import FlagRegistry
from pysips.script.myself import MyselfChecker

log = logging.getLogger("pysips.script.core")

RunFn = Callable[[MsgContext], int]  # a statement or a route: returns the action's return code
CondFn = Callable[[MsgContext], int]  # a condition: 1 true, 0 false, -1 error, EXPR_DROP
ValueFn = Callable[[MsgContext], Value]

ROUTE_TYPE_OF: dict[ast.RouteKind, int] = {
    ast.RouteKind.REQUEST: RouteType.REQUEST,
    ast.RouteKind.BRANCH: RouteType.BRANCH,
    ast.RouteKind.FAILURE: RouteType.FAILURE,
    ast.RouteKind.ONREPLY: RouteType.ONREPLY,
    ast.RouteKind.LOCAL: RouteType.LOCAL,
    ast.RouteKind.ERROR: RouteType.ERROR,
    ast.RouteKind.STARTUP: RouteType.STARTUP,
    ast.RouteKind.TIMER: RouteType.TIMER,
    ast.RouteKind.EVENT: RouteType.EVENT,
}

MAX_ROUTE_DEPTH = 100  # OpenSIPS ROUTE_MAX_REC_LEV


def route_label(kind: ast.RouteKind, name: str | None) -> str:
    return kind.value if name is None else f"{kind.value}[{name}]"


class CompiledRoute:
    """One route block; `body` is bound once compiled, so forward and recursive calls work."""

    __slots__ = ("args", "body", "kind", "name", "pos")

    def __init__(
        self, kind: ast.RouteKind, name: str | None, pos: ast.Pos, args: tuple[int | str, ...]
    ) -> None:
        self.kind = kind
        self.name = name
        self.pos = pos
        self.args = args
        self.body: RunFn | None = None

    def run(self, ctx: MsgContext) -> int:
        """Run as a sub-route: a `return` ends this route only."""
        body = self.body
        if body is None:
            return 1
        ret = body(ctx)
        ctx.action_flags &= ~ACT_RETURN
        return ret

    @property
    def label(self) -> str:
        return route_label(self.kind, self.name)


@dataclass(slots=True)
class FunctionUse:
    name: str
    export: FunctionExport
    pos: ast.Pos


@dataclass(slots=True)
class RouteFacts:
    """Per route: the functions it calls and the sub-routes it calls (for the route-type check)."""

    uses: list[FunctionUse] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)


@dataclass(slots=True)
class FunctionEntry:
    export: FunctionExport
    module: str  # "core" for core functions
    params: dict[str, Any]  # the module's parameters, for fixups


class CompilerState:
    def __init__(
        self,
        problems: Problems,
        flags: FlagRegistry,
        pv_registry: Any,
        functions: dict[str, FunctionEntry],
        routes: dict[ast.RouteKind, dict[str | None, CompiledRoute]],
        myself: MyselfChecker,
        core: dict[str, Any],
        missing_modules: list[str],
        loaded_modules: Collection[str] = (),
        module_exists: Callable[[str], bool] = lambda name: False,
    ) -> None:
        self.problems = problems
        self.flags = flags
        self.pv_registry = pv_registry
        self.functions = functions
        self.routes = routes
        self.myself = myself
        self.core = core  # canonical core parameters (max_while_loops, enable_asserts ...)
        self.missing_modules = missing_modules
        self.loaded_modules = loaded_modules  # for the porting hints of unknown functions
        self.module_exists = module_exists
        self.facts: dict[tuple[ast.RouteKind, str | None], RouteFacts] = {}
        self.current: RouteFacts = RouteFacts()
        self.route_refs: list[tuple[RouteRef, ast.Pos]] = []
        self.numeric_flag_warned: set[str] = set()
        self.warned_once: set[str] = set()
        self.breakable = 0  # how many loops/switches enclose the statement being compiled
        self.unknown_functions: dict[str, list[ast.Pos]] = {}

    def error(self, pos: ast.Pos, message: str) -> None:
        self.problems.error(pos, message)

    def warn(self, pos: ast.Pos, message: str) -> None:
        self.problems.warn(pos, message)

    def warn_once(self, key: str, pos: ast.Pos, message: str) -> None:
        """A warning about a construct, given at its first use only."""
        if key not in self.warned_once:
            self.warned_once.add(key)
            self.problems.warn(pos, message)

    def find_function(self, name: str, nargs: int) -> FunctionEntry | None:
        return self.functions.get(f"{name}/{nargs}") or self.functions.get(name)

    def route(self, kind: ast.RouteKind, name: str) -> CompiledRoute | None:
        table = self.routes.get(kind, {})
        if kind in (ast.RouteKind.REQUEST, ast.RouteKind.ONREPLY) and name == "0":
            return table.get(None)
        return table.get(name)
