"""How a module declares itself: its functions, parameters, pseudo-variables and lifecycle hooks.

A module is a Python package whose `__init__.py` defines `exports = ModuleExports(...)`. Everything
is declarative so that the loader can check a script against it before anything runs, and so that
`pysips modules --markdown` documents the same tables the checker uses.

Function arguments are fixed up once, at load time, like OpenSIPS fixups: a constant stays a
constant (converted to int, a flag bit, a compiled regex ...), a string holding pseudo-variables
becomes a closure evaluated per call. The handler then receives ready values:
`handler(ctx, *args) -> int` (>0 true, <0 false, 0 ends the script).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pysips.script.ast import NOWHERE, Pos, RouteKind
from pysips.script.context import MsgContext, ProcessState, RouteType
from pysips.script.errors import FixupError
from pysips.script.services import Service, T

if TYPE_CHECKING:
    from pysips.mi.command import MICommand
    from pysips.script.flags import FlagRegistry
    from pysips.script.pv import PVRegistry


class ArgKind(enum.Enum):
    STR = "string"  # constant or template; the handler gets a str
    INT = "integer"  # "10" and 10 both give 10; a pvar is read and converted per call
    VAR = "variable"  # a pseudo-variable the function reads or writes; the handler gets its accessor
    REGEX = "regex"  # POSIX extended, case-insensitive; the handler gets a compiled re.Pattern
    MFLAG = "message flag"  # a flag name (or number); the handler gets the bit index
    BFLAG = "branch flag"
    ROUTE = "route"  # a route name of ArgSpec.route_kind; the handler gets a RouteRef
    ANY = "value"  # str, int or None as evaluated


@dataclass(frozen=True, slots=True)
class FixupContext:
    """What a fixup may consult: the flag tables, the module's own parameters, the position."""

    flags: FlagRegistry
    params: dict[str, Any]
    pos: Pos = NOWHERE
    # A load-time fixup that accepts an older form appends a note here; `pysips -c` shows each as
    # a warning at the argument (ignored when the fixup runs per call).
    warnings: list[str] = field(default_factory=list)


Fixup = Callable[[Any, FixupContext], Any]


@dataclass(frozen=True, slots=True)
class ArgSpec:
    kind: ArgKind
    name: str = ""
    optional: bool = False
    static: bool = False  # must be a constant (no pseudo-variables)
    # The string as written, pseudo-variables not expanded (OpenSIPS's "no expand" parameters,
    # such as sqlops's list of result AVPs "$avp(a);$avp(b)"): a constant for `static`.
    raw: bool = False
    # Applied to the constant at load (FixupError -> load error at the argument), or to the
    # evaluated value on each call when the argument is dynamic.
    fixup: Fixup | None = None
    route_kind: RouteKind = RouteKind.REQUEST  # for ROUTE
    doc: str = ""


@dataclass(slots=True)
class RouteRef:
    """A route named in a function argument (t_on_branch("x")); `run` is bound after compiling."""

    kind: RouteKind
    name: str
    run: Callable[[MsgContext], int] | None = None


Handler = Callable[..., int]


@dataclass(frozen=True, slots=True)
class FunctionExport:
    name: str
    handler: Handler
    args: tuple[ArgSpec, ...] = ()
    route_types: int = RouteType.ALL
    doc: str = ""
    # Declared but not usable yet (e.g. needs the network engine): using it is a load error.
    missing: str | None = None
    # A name an older OpenSIPS exported from this module (1.x textops had is_method, now in
    # sipmsgops): used only when no loaded module exports the name itself, and never reported as
    # hidden. With `alias_of` = (module, function) the loader takes that module's export (its
    # arguments, route types and handler) without loading the module; `handler` is then unused.
    fallback: bool = False
    alias_of: tuple[str, str] | None = None
    # May be used in async()/launch() (OpenSIPS exports these as "acmds"): the function waits on
    # the network through pysips.core.suspend.wait, so it can run while other messages go on.
    async_capable: bool = False


def _bound_by_loader(ctx: MsgContext, *args: object) -> int:
    raise RuntimeError("an alias export is replaced by its provider's when the script loads")


def fallback_alias(name: str, module: str, function: str | None = None) -> FunctionExport:
    """`name()` carried out by `module`'s `function()` (same name by default), as a fallback."""
    target = function or name
    where = f"{module}.{target}()" if target != name else f"{module}"
    return FunctionExport(
        name,
        _bound_by_loader,
        doc=f"older OpenSIPS spelling: the same as {where}, used when {module!r} is not loaded",
        fallback=True,
        alias_of=(module, target),
    )


class ParamType(enum.Enum):
    INT = "int"
    STR = "string"
    INT_OR_STR = "int or string"
    MFLAG = "message flag"  # value is a flag name; the module receives the bit index
    BFLAG = "branch flag"


@dataclass(frozen=True, slots=True)
class ParamResolveContext:
    """What `ParamExport.resolve` may consult once every module of the script is loaded."""

    pv_registry: PVRegistry  # core variables plus every loaded module's ($T_reply_code ...)
    flags: FlagRegistry


@dataclass(frozen=True, slots=True)
class ParamExport:
    name: str
    type: ParamType
    default: Any = None
    multi: bool = False  # may be given several times; the module receives a list
    # Validates/converts the (already typed) value at load; raise FixupError to reject it.
    check: Callable[[Any], Any] | None = None
    doc: str = ""
    # Like `check`, but run after every `loadmodule`, so a parameter naming pseudo-variables
    # ("$T_reply_code", "$avp(pass)") can use those of any module, as OpenSIPS fixes them up in
    # mod_init. Runs on each value the script set (each item of a multi parameter), after `check`.
    resolve: Callable[[Any, ParamResolveContext], Any] | None = None
    # A 1.x/2.x parameter OpenSIPS 3.x dropped, still accepted: what 3.x does instead and what
    # pysips does with it, shown by `pysips -c` as a warning wherever the script sets it.
    legacy: str = ""



def check_bool(value: Any) -> int:
    """A `check` for 0/1 parameters: integers, and the yes/no/true/false/on/off words OpenSIPS's
    lexer turns into 1/0."""
    if isinstance(value, bool | int):
        return int(value)
    text = str(value).strip().lower()
    if text in ("yes", "true", "on", "1"):
        return 1
    if text in ("no", "false", "off", "0"):
        return 0
    raise FixupError(f"expects a boolean (1/0, yes/no), got {value!r}")


@dataclass(frozen=True, slots=True)
class TransformExport:
    """A module transformation class (`{rest.escape}`): `factory(method, args, pos)` checks the
    method and arguments at load and returns the run-time `(ctx, value) -> value` function, as
    the core classes in pysips/script/transforms*.py (raise PVError for a bad one)."""

    name: str
    factory: Any
    doc: str = ""


@dataclass(frozen=True, slots=True)
class PVarExport:
    """A module pseudo-variable: `factory` is handed to PVRegistry.register(name, factory)."""

    name: str
    factory: Any
    doc: str = ""


@dataclass(slots=True)
class ModuleInitContext:
    """Handed to a module's `init`: per-process state, the flag tables and the loaded script."""

    name: str
    process: ProcessState
    flags: FlagRegistry
    script: Any  # pysips.script.compile.LoadedScript (typed loosely to keep modules decoupled)
    # The script's pseudo-variables, module ones included, for specs compiled at init time.
    pv_registry: PVRegistry | None = None

    def provide(self, service: Service[T], impl: T) -> None:
        """Registers this module's implementation of a service it names in `provides`."""
        self.process.services.provide(service, impl, self.name)

    def require(self, service: Service[T]) -> T:
        """A service named in `requires`: its provider is initialised already."""
        return self.process.services.require(service)

    def get(self, service: Service[T]) -> T | None:
        """A service named in `uses` (optional): None when no loaded module offers it."""
        return self.process.services.get(service)


InitHook = Callable[[ModuleInitContext, dict[str, Any]], object]
# Per process, after `init` (today the one process; each worker once the server forks them).
ChildInitHook = Callable[[ProcessState, object], None]
# On SIGTERM, SIGINT and normal exit, in reverse init order, with the runtime `init` returned;
# a coroutine is awaited before the next module's destroy and before the process exits.
DestroyHook = Callable[[object], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class StatExport:
    """A statistic of the module (`get_statistics group:name`; group = the module's name).

    `read(runtime)` gives the value from the object `init` returned; `reset(runtime)` clears it
    (`reset_statistics`); without `reset` it is a gauge (OpenSIPS STAT_NO_RESET).
    """

    name: str
    read: Callable[[Any], int | float]
    reset: Callable[[Any], None] | None = None
    doc: str = ""


@dataclass(frozen=True, slots=True)
class ModuleExports:
    name: str
    functions: tuple[FunctionExport, ...] = ()
    params: tuple[ParamExport, ...] = ()
    pvars: tuple[PVarExport, ...] = ()
    transforms: tuple[TransformExport, ...] = ()  # transformation classes, registered with pvars
    deps: tuple[str, ...] = ()  # modules that must be loaded too (by name, as OpenSIPS DEP_ABORT)
    init: InitHook | None = None  # returns the runtime object kept in process.modules[name]
    child_init: ChildInitHook | None = None
    doc: str = ""
    # Services (pysips.core.services) this module registers from `init` with ictx.provide(); a
    # declared one that init does not register is a start error.
    provides: tuple[Service[Any], ...] = ()
    # Services it cannot work without: a load error names the module offering them when none is
    # loaded, and their providers are initialised first.
    requires: tuple[Service[Any], ...] = ()
    # Services it uses when present (OpenSIPS DEP_SILENT): their providers are initialised first.
    uses: tuple[Service[Any], ...] = ()
    destroy: DestroyHook | None = None
    # MI commands and statistics it owns, registered when its init has run.
    mi_commands: tuple[MICommand, ...] = ()
    stats: tuple[StatExport, ...] = ()
    # A module OpenSIPS 3.x no longer has (2.x avpops): what 3.x offers instead, shown by
    # `pysips -c` as a warning at its loadmodule.
    legacy: str = ""
    # Modules of which OpenSIPS 3.x needs one loaded beside this one, where pysips needs none
    # (tls_mgm's TLS library): `pysips -c` warns when the script loads none of them.
    opensips_needs_one_of: tuple[str, ...] = ()
    # Its init runs in the main process only, not in worker processes (udp_workers > 1): the MI
    # servers, which OpenSIPS runs in processes of their own, listen once.
    main_process_only: bool = False
    functions_by_name: dict[str, FunctionExport] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.functions_by_name.update({f.name: f for f in self.functions})

    def param(self, name: str) -> ParamExport | None:
        for p in self.params:
            if p.name == name:
                return p
        return None
