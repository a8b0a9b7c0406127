"""Load a parsed script: core parameters, modules, modparams, then routes compiled to closures.

`load_script()` returns a LoadedScript ready to run, or raises ScriptLoadError holding every problem
found (not only the first): unknown core parameters, modules, module parameters, functions, routes
and pseudo-variables; wrong argument counts or kinds; functions used in a route type that may not
call them. Each problem carries file:line:col.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pysips.script import ast
from pysips.script.compile_state import (
    ROUTE_TYPE_OF,
    CompiledRoute,
    CompilerState,
    RouteFacts,
    route_label,
)
from pysips.script.compile_stmt import block
from pysips.script.context import MsgContext, ProcessState, RouteType
from pysips.script.corefuncs import CoreEnv, core_exports
from pysips.script.coreparams import LEGACY_TLS, CoreParamKind
from pysips.script.coreparams import lookup as lookup_core_param
from pysips.script.errors import FixupError, LoadProblem, Problems, ScriptLoadError
from pysips.script.events import EventInterface, events_of
from pysips.script.exports import (
    DestroyHook,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamResolveContext,
    ParamType,
)
from pysips.script.flags import FlagKind, FlagRegistry
from pysips.script.functable import build_function_table
from pysips.script.loader import ModuleFinder, ModuleLoadError, module_name
from pysips.script.myself import MyselfChecker, from_script
from pysips.script.porting import provider_note
from pysips.script.posixre import translate
from pysips.script.pvbridge import colours_off, flag_names, new_registry


@dataclass(slots=True)
class LoadedModule:
    name: str
    exports: ModuleExports
    origin: str
    params: dict[str, Any] = field(default_factory=dict)
    pos: ast.Pos = ast.NOWHERE


class LoadedScript:
    """A compiled script: routes by kind and name, loaded modules, core parameters, flags."""

    def __init__(
        self,
        routes: dict[ast.RouteKind, dict[str | None, CompiledRoute]],
        modules: dict[str, LoadedModule],
        core: dict[str, Any],
        flags: FlagRegistry,
        myself: MyselfChecker,
        warnings: list[LoadProblem],
        script: ast.Script,
        pv_registry: Any = None,
    ) -> None:
        self.routes = routes
        self.pv_registry = pv_registry  # pysips.script.pv.PVRegistry, module variables included
        self.modules = modules
        self.core = core
        self.flags = flags
        self.myself = myself
        self.warnings = warnings
        self.script = script
        self.init_order: list[str] = list(modules)  # set by the loader: providers first

    def route(self, kind: ast.RouteKind, name: str | None = None) -> CompiledRoute | None:
        table = self.routes.get(kind, {})
        if name == "0" and kind in (ast.RouteKind.REQUEST, ast.RouteKind.ONREPLY):
            name = None
        return table.get(name)

    @property
    def main_route(self) -> CompiledRoute | None:
        return self.route(ast.RouteKind.REQUEST, None)

    @property
    def error_route(self) -> CompiledRoute | None:
        """`error_route{}`: the engine runs it for requests that fail to parse (Engine.error_route)."""
        return self.route(ast.RouteKind.ERROR, None)

    def run(self, route: CompiledRoute, ctx: MsgContext) -> int:
        """Run a top-level route for one event; returns the last return code.

        Afterwards `ctx.exit_requested`/`ctx.dropped` tell what the script asked for.
        """
        ctx.action_flags = 0
        ctx.route_type = ROUTE_TYPE_OF[route.kind]
        return route.run(ctx)

    def init_events(self, process: ProcessState) -> EventInterface:
        """The process's event interface, with every `event_route[E_X]` subscribed to E_X."""
        events = events_of(process)
        if events is None:
            core = process.core
            clock = core.wall_time if core is not None else time.time
            events = process.events = EventInterface(process, clock)

            def run_event_route(run: Callable[[MsgContext], int], ctx: MsgContext) -> int:
                ctx.action_flags = 0
                return run(ctx)

            events.route_runner = run_event_route
            for name, route in self.routes.get(ast.RouteKind.EVENT, {}).items():
                if name is not None:
                    events.add_event_route(name, route.run)
        return events

    def init_modules(self, process: ProcessState, main_process: bool = True) -> None:
        """Run each module's `init` in dependency order; the returned object is its runtime state.
        Then check it registered what it `provides`, and add its MI commands and statistics.
        In a worker process (`main_process` False) the main-process-only modules are left out."""
        self.init_events(process)
        for name in self.init_order:
            mod = self.modules[name]
            exports = mod.exports
            if exports.main_process_only and not main_process:
                continue
            if exports.init is not None:
                ictx = ModuleInitContext(name, process, self.flags, self, self.pv_registry)
                process.modules[name] = exports.init(ictx, mod.params)
            for svc in exports.provides:
                if process.services.provider(svc) != name:
                    raise RuntimeError(f"{name}: provides {svc.name}, but its init did not register it")
            for svc in process.services.provided_by(name):
                if svc not in exports.provides:
                    raise RuntimeError(f"{name}: registered {svc.name} without declaring it in `provides`")
            if exports.mi_commands or exports.stats:
                register_module_mi(process, name, exports, process.modules.get(name))

    def child_init(self, process: ProcessState, main_process: bool = True) -> None:
        for name in self.init_order:
            mod = self.modules[name]
            if mod.exports.main_process_only and not main_process:
                continue
            if mod.exports.child_init is not None:
                mod.exports.child_init(process, process.modules.get(name))

    def destroy_hooks(self, process: ProcessState) -> list[tuple[str, DestroyHook, object]]:
        """(module, destroy, runtime) in reverse init order, for the modules whose init ran."""
        hooks: list[tuple[str, DestroyHook, object]] = []
        for name in reversed(self.init_order):
            exports = self.modules[name].exports
            if exports.destroy is None or (exports.init is not None and name not in process.modules):
                continue
            hooks.append((name, exports.destroy, process.modules.get(name)))
        return hooks


def register_module_mi(process: ProcessState, name: str, exports: ModuleExports, runtime: object) -> None:
    from pysips.mi.runtime import mi_of

    mi = mi_of(process)
    mi.register(exports.mi_commands)
    for stat in exports.stats:
        read, reset = stat.read, stat.reset

        def get(read: Any = read) -> int | float:
            return read(runtime)  # type: ignore[no-any-return]

        def clear(reset: Any = reset) -> None:
            reset(runtime)

        mi.stats.register(name, stat.name, get, clear if reset is not None else None)


@dataclass(slots=True)
class LoadOptions:
    base_dir: Path | None = None  # relative mpath is resolved against it (the script's folder)
    mpath: str | None = None  # overrides the script's mpath (tests, -m)
    myself: MyselfChecker | None = None  # default: from the script's listen/socket/alias lines
    # Core functions supplied by the running engine (forward, force_send_socket ...); each replaces
    # the core table's entry of the same name, which without an engine is a not-implemented error.
    core_functions: tuple[FunctionExport, ...] = ()


@dataclass(slots=True)
class CheckReport:
    """The porting report: every problem, plus what is missing for this script to run."""

    problems: list[LoadProblem]
    missing_modules: list[tuple[str, ast.Pos]]
    unknown_functions: dict[str, list[ast.Pos]]

    @property
    def ok(self) -> bool:
        return not any(not p.warning for p in self.problems)

    def summary(self) -> list[str]:
        lines: list[str] = []
        if self.missing_modules:
            names = ", ".join(name for name, _ in self.missing_modules)
            lines.append(f"missing modules ({len(self.missing_modules)}): {names}")
        if self.unknown_functions:
            lines.append(f"unknown functions ({len(self.unknown_functions)}):")
            for name in sorted(self.unknown_functions):
                where = self.unknown_functions[name]
                note = provider_note(name)
                tail = f", {note}" if note else ""
                lines.append(f"  {name}() used {len(where)}x, first at {where[0]}{tail}")
        return lines


def load_script(script: ast.Script, options: LoadOptions | None = None) -> LoadedScript:
    loaded, report = _load(script, options or LoadOptions())
    if not report.ok:
        error = ScriptLoadError(report.problems)
        error.report = report
        raise error
    return loaded


def check_script(script: ast.Script, options: LoadOptions | None = None) -> CheckReport:
    """Every problem (errors and warnings) sorted by position, and what is missing."""
    return _load(script, options or LoadOptions())[1]


# ---------------------------------------------------------------------------------------------


def _coerce_core(kind: CoreParamKind, value: ast.ParamValue) -> tuple[bool, Any]:
    if kind is CoreParamKind.INT:
        if isinstance(value, ast.WorkerCount):
            return True, value.count  # the auto-scaling profile is checked by _scaling_profiles
        if isinstance(value, bool):
            return True, int(value)
        if isinstance(value, int):
            return True, value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return True, int(value)
        return False, value
    if kind is CoreParamKind.BOOL:
        if isinstance(value, bool):
            return True, value
        if isinstance(value, int):
            return True, value != 0
        if isinstance(value, str) and value.lower() in ("yes", "no", "true", "false", "on", "off", "1", "0"):
            return True, value.lower() in ("yes", "true", "on", "1")
        return False, value
    if kind is CoreParamKind.STR:
        return (True, value) if isinstance(value, str) else (False, value)
    return True, value


def _load(script: ast.Script, options: LoadOptions) -> tuple[LoadedScript, CheckReport]:
    problems = Problems()
    flags = FlagRegistry()
    core: dict[str, Any] = {"max_while_loops": 10000, "enable_asserts": False}
    global_params: list[ast.GlobalParam] = []
    modules: dict[str, LoadedModule] = {}
    missing: list[str] = []
    missing_at: list[tuple[str, ast.Pos]] = []
    mpath: str | None = options.mpath
    finder: ModuleFinder | None = None
    # Module variables are registered as each module loads, so that every later step (parameter
    # resolution, routes, module init) sees them.
    registry = new_registry()
    registry.branch_flags.registry = flags
    pending: list[_PendingResolve] = []
    legacy_tls: list[ast.GlobalParam] = []

    for item in script.items:
        if isinstance(item, ast.GlobalParam):
            global_params.append(item)
            spec = lookup_core_param(item.name)
            if spec is None:
                problems.error(item.pos, f"unknown core parameter {item.name!r}")
                continue
            ok, val = _coerce_core(spec.kind, item.value)
            if not ok:
                problems.error(
                    item.pos, f"core parameter {item.name!r} expects {spec.kind.value}, got {item.value!r}"
                )
                continue
            if item.name in LEGACY_TLS:
                legacy_tls.append(item)
                continue
            name = spec.canonical or item.name
            if spec.kind is CoreParamKind.MULTI:
                core.setdefault(name, []).append(val)
            else:
                core[name] = val
            if item.name == "mpath" and options.mpath is None and isinstance(val, str):
                mpath = val
                finder = None
        elif isinstance(item, ast.LoadModule):
            if finder is None:
                finder = ModuleFinder(mpath, options.base_dir)
            if _load_module(item, finder, modules, missing, problems):
                missing_at.append((missing[-1], item.pos))
            elif (mod := modules.get(module_name(item.path))) is not None and mod.pos == item.pos:
                _register_pvars(mod, registry, problems)
        elif isinstance(item, ast.ModParam):
            _modparam(item, modules, missing, flags, problems, pending)

    _legacy_tls(legacy_tls, modules, missing, flags, problems, pending)
    _resolve_params(pending, ParamResolveContext(registry, flags), problems)
    _scaling_profiles(global_params, problems)
    _quoted_aliases(global_params, problems)
    if not core.get("xlog_force_color", False):
        colours_off(registry)
    flag_names(registry, flags)

    _check_dependencies(modules, missing, problems)

    myself = options.myself or from_script(global_params)
    registry.xlog.default = int(core.get("xlog_level", 2))
    env = CoreEnv(myself, int(core.get("xlog_print_level", 2)), registry.xlog)
    if finder is None:
        finder = ModuleFinder(mpath, options.base_dir)
    functions = build_function_table(
        (*core_exports(env).functions, *options.core_functions), modules, finder, problems
    )

    routes = _route_tables(script, problems)
    state = CompilerState(
        problems, flags, registry, functions, routes, myself, core, missing, set(modules), finder.exists
    )
    for route_node in script.routes:
        slot = (
            state.route(route_node.kind, route_node.name)
            if route_node.name is not None
            else routes[route_node.kind].get(None)
        )
        if slot is None or slot.pos != route_node.pos:
            continue  # a duplicate, already reported
        facts = RouteFacts()
        state.facts[(slot.kind, slot.name)] = facts
        state.current = facts
        slot.body = block(state, route_node.body)

    _check_route_types(state)
    for ref, _pos in state.route_refs:
        target = state.route(ref.kind, ref.name)
        if target is not None:
            ref.run = target.run

    loaded = LoadedScript(routes, modules, core, flags, myself, problems.warnings, script, registry)
    loaded.init_order = init_order(modules)
    return loaded, CheckReport(problems.sorted(), missing_at, state.unknown_functions)


def _legacy_tls(
    items: list[ast.GlobalParam],
    modules: dict[str, LoadedModule],
    missing: list[str],
    flags: FlagRegistry,
    problems: Problems,
    pending: list[_PendingResolve],
) -> None:
    """1.x core TLS parameters: a warning each, and the value handed to tls_mgm when it is loaded
    and the script does not set that parameter there itself."""
    tls_mgm = modules.get("tls_mgm")
    for item in items:
        target = LEGACY_TLS[item.name]
        if tls_mgm is not None and target is not None:
            if tls_mgm.params.get(target):
                use = f'ignored: modparam("tls_mgm", "{target}") is set'
            else:
                value = item.value if isinstance(item.value, int | str) else str(item.value)
                _modparam(ast.ModParam("tls_mgm", target, value, item.pos), modules, missing, flags, problems,
                          pending)
                use = f'used as modparam("tls_mgm", "{target}")'
        elif target is not None:
            use = f'ignored: modparam("tls_mgm", "{target}") would take it, and tls_mgm is not loaded'
        else:
            use = "ignored: it has no tls_mgm equivalent"
        problems.warn(item.pos, f"core parameter {item.name!r} is the OpenSIPS 1.x TLS setting; since 2.x "
                                f"TLS is configured through the tls_mgm module ({use})")


def _scaling_profiles(params: list[ast.GlobalParam], problems: Problems) -> None:
    """auto_scaling_profile names are unique (case-insensitively); a profile named by
    `use_auto_scaling_profile` and never defined is ignored with a warning, as OpenSIPS does.
    pysips runs one process, so a valid profile changes nothing."""
    defined: set[str] = set()
    for item in params:
        if isinstance(item.value, ast.ScalingProfile):
            key = item.value.name.lower()
            if key in defined:
                problems.error(item.pos, f"auto_scaling_profile {item.value.name!r} is defined twice")
            defined.add(key)
    for item in params:
        values = item.value if isinstance(item.value, tuple) else (item.value,)
        for value in values:
            used: str | None = None
            if isinstance(value, ast.WorkerCount):
                used = value.scaling_profile
            elif isinstance(value, ast.SocketSpec):
                used = next((f.partition("=")[2] for f in value.flags
                             if f.startswith("use_auto_scaling_profile=")), None)
            if used is not None and used.lower() not in defined:
                problems.warn(item.pos, f"{item.name}: scaling profile {used!r} is not defined, ignoring it")


def _quoted_aliases(params: list[ast.GlobalParam], problems: Problems) -> None:
    for item in params:
        if item.name != "alias":
            continue
        for value in item.value if isinstance(item.value, tuple) else (item.value,):
            if (isinstance(value, ast.SocketSpec) and value.raw[:1] in ("\"", "'") and ":" in value.host
                    and not _is_ipv6(value.host)):
                problems.warn(
                    item.pos,
                    f"alias {value.raw}: a quoted alias is a host name as a whole (OpenSIPS does not "
                    f"split off a port either), so it matches no URI; write alias={value.host}",
                )


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _dependency_error(name: str, dep: str) -> str:
    # OpenSIPS's wording (sr_module_deps.c), so an error reads the same on both servers
    return f"module {name} depends on module {dep}, but it was not loaded!"


def _check_dependencies(modules: dict[str, LoadedModule], missing: list[str], problems: Problems) -> None:
    """`deps` by module name, `requires` by service: each needs a loaded module offering it."""
    offered = {id(svc) for mod in modules.values() for svc in mod.exports.provides}
    for name, mod in modules.items():
        for dep in mod.exports.deps:
            if dep not in modules and dep not in missing:
                problems.error(mod.pos, _dependency_error(name, dep))
        for svc in mod.exports.requires:
            if id(svc) not in offered and svc.module not in missing:
                problems.error(mod.pos, _dependency_error(name, svc.module))
        wanted = mod.exports.opensips_needs_one_of
        if wanted and not any(w in modules or w in missing for w in wanted):
            problems.warn(mod.pos, f"module {name}: OpenSIPS 3.x does not start without one of "
                          f"{', '.join(wanted)} loaded too; pysips does not need it")


def init_order(modules: dict[str, LoadedModule]) -> list[str]:
    """Load order, except that a module comes after the modules it depends on (`deps`, and the
    providers of what it `requires` or `uses`), as OpenSIPS orders mod_init by dependencies."""
    provider: dict[int, str] = {}
    for name, mod in modules.items():
        for svc in mod.exports.provides:
            provider.setdefault(id(svc), name)
    before: dict[str, set[str]] = {}
    for name, mod in modules.items():
        wanted = set(mod.exports.deps)
        wanted.update(provider.get(id(svc), "") for svc in (*mod.exports.requires, *mod.exports.uses))
        before[name] = {dep for dep in wanted if dep in modules and dep != name}
    order: list[str] = []
    placed: set[str] = set()
    pending = list(modules)
    while pending:
        ready = next((n for n in pending if before[n] <= placed), None)
        if ready is None:  # a cycle: the rest in load order
            ready = pending[0]
        pending.remove(ready)
        placed.add(ready)
        order.append(ready)
    return order


def _load_module(
    item: ast.LoadModule,
    finder: ModuleFinder,
    modules: dict[str, LoadedModule],
    missing: list[str],
    problems: Problems,
) -> bool:
    """Loads one module; True when it is missing (appended to `missing`)."""
    name = module_name(item.path)
    if name in modules or name in missing:
        problems.warn(item.pos, f"module {name!r} is loaded more than once")
        return False
    try:
        found = finder.find(item.path)
    except ModuleLoadError as exc:
        problems.error(item.pos, f"module {name!r} cannot be loaded: {exc}")
        missing.append(name)
        return True
    if found is None:
        problems.error(
            item.pos, f'unknown module {name!r} (loadmodule "{item.path}"): pysips has no such module yet'
        )
        missing.append(name)
        return True
    if found.exports.legacy:
        problems.warn(item.pos, found.exports.legacy)
    params = {p.name: ([] if p.multi else p.default) for p in found.exports.params}
    modules[name] = LoadedModule(name, found.exports, found.origin, params, item.pos)
    return False


def _register_pvars(mod: LoadedModule, registry: Any, problems: Problems) -> None:
    for pv in mod.exports.pvars:
        try:
            registry.register(pv.name, pv.factory)
        except ValueError:
            problems.error(mod.pos, f"module {mod.name!r} exports ${pv.name}, which another module has")
    for tr in mod.exports.transforms:
        try:
            registry.transforms.register(tr.name, tr.factory)
        except ValueError:
            problems.error(mod.pos, f"module {mod.name!r} exports {{{tr.name}.*}}, which is taken")


@dataclass(slots=True)
class _PendingResolve:
    """A parameter value waiting for `ParamExport.resolve` (index: the item of a multi parameter)."""

    module: LoadedModule
    spec: ParamExport
    index: int | None
    pos: ast.Pos


def _resolve_params(pending: list[_PendingResolve], rctx: ParamResolveContext, problems: Problems) -> None:
    for item in pending:
        resolve = item.spec.resolve
        assert resolve is not None
        params = item.module.params
        name = item.spec.name
        raw = params[name][item.index] if item.index is not None else params[name]
        try:
            val = resolve(raw, rctx)
        except FixupError as exc:
            problems.error(item.pos, f"modparam {item.module.name}.{name}: {exc.message}")
            continue
        if item.index is not None:
            params[name][item.index] = val
        else:
            params[name] = val


def _modparam(
    item: ast.ModParam,
    modules: dict[str, LoadedModule],
    missing: list[str],
    flags: FlagRegistry,
    problems: Problems,
    pending: list[_PendingResolve],
) -> None:
    try:
        pattern = re.compile(f"^({translate(item.module)})$", re.IGNORECASE)
    except re.error as exc:
        problems.error(item.pos, f"modparam: bad module name pattern {item.module!r}: {exc}")
        return
    matched = [m for m in modules.values() if pattern.match(m.name)]
    if not matched:
        if not any(pattern.match(name) for name in missing):
            problems.error(item.pos, f"modparam: no loaded module matches {item.module!r}")
        return
    for mod in matched:
        spec = mod.exports.param(item.name)
        if spec is None:
            problems.error(item.pos, f"module {mod.name!r} has no parameter {item.name!r}")
            continue
        try:
            val = _param_value(spec, item.value, flags)
        except FixupError as exc:
            problems.error(item.pos, f"modparam {mod.name}.{item.name}: {exc.message}")
            continue
        if spec.legacy:
            problems.warn(item.pos, f"modparam {mod.name}.{item.name} is an OpenSIPS 2.x parameter that 3.x "
                                    f"no longer has: {spec.legacy}")
        index: int | None = None
        if spec.multi:
            index = len(mod.params[spec.name])
            mod.params[spec.name].append(val)
        else:
            mod.params[spec.name] = val
        if spec.resolve is not None:
            # A later modparam of a single-valued parameter replaces this value: resolve once.
            if index is None:
                pending[:] = [p for p in pending if p.module is not mod or p.spec is not spec]
            pending.append(_PendingResolve(mod, spec, index, item.pos))


def _param_value(spec: ParamExport, raw: int | str, flags: FlagRegistry) -> Any:
    val: Any = raw
    if spec.type is ParamType.INT:
        if isinstance(raw, str):
            try:
                val = int(raw.strip(), 0)
            except ValueError:
                raise FixupError(f"expects an integer, got {raw!r}") from None
    elif spec.type is ParamType.STR:
        val = str(raw)
    elif spec.type in (ParamType.MFLAG, ParamType.BFLAG):
        kind = FlagKind.MESSAGE if spec.type is ParamType.MFLAG else FlagKind.BRANCH
        val = flags.bit(kind, str(raw))
    if spec.check is not None:
        val = spec.check(val)
    return val


def _route_tables(
    script: ast.Script, problems: Problems
) -> dict[ast.RouteKind, dict[str | None, CompiledRoute]]:
    routes: dict[ast.RouteKind, dict[str | None, CompiledRoute]] = {k: {} for k in ast.RouteKind}
    for r in script.routes:
        name = r.name
        if name == "0" and r.kind in (ast.RouteKind.REQUEST, ast.RouteKind.ONREPLY):
            name = None
        table = routes[r.kind]
        if name in table:
            first = table[name]
            problems.error(r.pos, f"{route_label(r.kind, name)} is defined twice (first at {first.pos})")
            continue
        table[name] = CompiledRoute(r.kind, name, r.pos, r.args)
    return routes


_TYPE_NAMES = {ROUTE_TYPE_OF[k]: k.value for k in ast.RouteKind}


def _check_route_types(state: CompilerState) -> None:
    """A function may only be used in the route types it allows, through route() calls too."""
    reach: dict[str | None, int] = {}
    request = ast.RouteKind.REQUEST

    def visit(name: str | None, rtype: int, seen: set[str | None]) -> None:
        if name in seen:
            return
        seen.add(name)
        reach[name] = reach.get(name, 0) | rtype
        facts = state.facts.get((request, name))
        if facts is None:
            return
        for callee in facts.calls:
            target = state.route(request, callee)
            if target is not None:
                visit(target.name, rtype, seen)

    for (kind, name), facts in state.facts.items():
        if kind is request and name is not None:
            continue
        rtype = ROUTE_TYPE_OF[kind]
        if kind is request:
            visit(None, rtype, set())
            continue
        for callee in facts.calls:
            target = state.route(request, callee)
            if target is not None:
                visit(target.name, rtype, set())
        _check_uses(state, facts, rtype, route_label(kind, name))
    for (kind, name), facts in state.facts.items():
        if kind is not request:
            continue
        rtype = reach.get(name, RouteType.REQUEST)
        _check_uses(state, facts, rtype, route_label(kind, name))


def _check_uses(state: CompilerState, facts: RouteFacts, rtype: int, where: str) -> None:
    for use in facts.uses:
        bad = rtype & ~use.export.route_types
        if bad:
            kinds = ", ".join(_TYPE_NAMES[b] for b in sorted(_TYPE_NAMES) if b & bad)
            via = "" if where.startswith(kinds) else f" ({where} is called from there)"
            state.error(use.pos, f"function {use.name}() cannot be used in {kinds}{via}")
