"""Function and route calls: argument fixups at load time, one closure per call site."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pysips.script import ast
from pysips.script.compile_expr import compile_pvar, constant, formatted_value, value
from pysips.script.compile_state import MAX_ROUTE_DEPTH, FunctionUse, log
from pysips.script.context import ACT_EXIT, MsgContext
from pysips.script.errinfo import RouteRunner, run_error_route
from pysips.script.errors import FixupError
from pysips.script.exports import ArgKind, ArgSpec, FixupContext, FunctionExport, RouteRef
from pysips.script.flags import FlagKind
from pysips.script.porting import unknown_function_message
from pysips.script.posixre import compile_dynamic, compile_posix
from pysips.script.pvbridge import PVError, template
from pysips.script.values import as_int

if TYPE_CHECKING:
    from pysips.script.compile_state import CompilerState, RunFn, ValueFn

ArgGetter = Callable[[MsgContext], Any]


class ArgError(Exception):
    """A dynamic argument that cannot be converted at run time: the call fails (returns -1)."""


class _Bad:
    """Marks an argument already reported as a load error."""


_BAD = _Bad()


def compile_action(c: CompilerState, expr: ast.Call | ast.RouteCall) -> RunFn:
    if isinstance(expr, ast.RouteCall):
        return compile_route_call(c, expr)
    return compile_call(c, expr)


# ---------------------------------------------------------------------------------------------
# route(name, args...)
# ---------------------------------------------------------------------------------------------


def compile_route_call(c: CompilerState, call: ast.RouteCall) -> RunFn:
    target = c.route(ast.RouteKind.REQUEST, call.name)
    c.current.calls.append(call.name)
    if target is None:
        c.error(call.pos, f"unknown route {call.name!r} in route()")
        return lambda ctx: -1
    args = tuple(value(c, a) for a in call.args)
    pos = call.pos
    slot = target

    def run(ctx: MsgContext) -> int:
        if ctx.route_depth >= MAX_ROUTE_DEPTH:
            log.error("%s: route recursion limit (%d) reached in route(%s)", pos, MAX_ROUTE_DEPTH, slot.name)
            return -1
        saved = ctx.params
        ctx.params = tuple(a(ctx) for a in args)
        ctx.route_depth += 1
        try:
            ret = slot.run(ctx)
        finally:
            ctx.route_depth -= 1
            ctx.params = saved
        if ret == 0:
            ctx.action_flags |= ACT_EXIT
        ctx.retcode = ret
        return ret

    return run


# ---------------------------------------------------------------------------------------------
# Module and core functions
# ---------------------------------------------------------------------------------------------


ASYNC_WORDS = frozenset({"async", "launch"})


def compile_call(c: CompilerState, call: ast.Call) -> RunFn:
    if call.name in ASYNC_WORDS and call.args and isinstance(call.args[0], ast.Call):
        return async_in_expression(c, call)
    entry = c.find_function(call.name, len(call.args))
    if entry is None:
        _report_unknown(c, call)
        return lambda ctx: -1
    fexp = entry.export
    c.current.uses.append(FunctionUse(call.name, fexp, call.pos))
    if fexp.missing is not None:
        c.error(call.pos, f"function {call.name}() is not implemented in pysips yet ({fexp.missing})")
        return lambda ctx: -1
    specs = fexp.args
    required = sum(1 for s in specs if not s.optional)
    if not required <= len(call.args) <= len(specs):
        want = str(required) if required == len(specs) else f"{required} to {len(specs)}"
        plural = "s" if want != "1" else ""
        c.error(call.pos, f"function {call.name}() takes {want} argument{plural} ({len(call.args)} given)")
        return lambda ctx: -1
    plan: list[tuple[bool, Any]] = []  # (dynamic, constant value or getter)
    ok = True
    for index, spec in enumerate(specs):
        # an empty optional argument (`f(a, , c)`) is an omitted one, as OpenSIPS takes it
        if index < len(call.args) and not (spec.optional and isinstance(call.args[index], ast.NullLit)):
            arg = call.args[index]
            if isinstance(arg, ast.Ident):
                c.warn_once(
                    f"bare-word:{call.name}", arg.pos,
                    f"{call.name}({arg.name}): OpenSIPS 3.x takes only quoted strings, numbers and "
                    f"variables as arguments (a bare word is 2.x); write {call.name}(\"{arg.name}\")",
                )
            fctx_arg = FixupContext(c.flags, entry.params, _pos(arg, call.pos))
            dyn, item = _fix_arg(c, call.name, index + 1, spec, arg, fctx_arg)
            if item is _BAD:
                ok = False
            plan.append((dyn, item))
        else:
            plan.append((False, None))
    if not ok:
        return lambda ctx: -1
    return _bind(fexp, call.name, plan, call.pos, error_route_of(c))


def async_in_expression(c: CompilerState, call: ast.Call) -> RunFn:
    """async()/launch() used as an expression (OpenSIPS's grammar makes them commands, so
    `if (!async(f(), resume))` is valid): compiled as the statement."""
    from pysips.script.compile_async import compile_async, compile_launch

    inner = call.args[0]
    assert isinstance(inner, ast.Call)
    names: list[str] = []
    for arg in call.args[1:2]:
        if isinstance(arg, ast.Ident):
            names.append(arg.name)
        elif isinstance(arg, ast.StrLit):
            names.append(arg.value)
        else:
            c.error(call.pos, f"{call.name}(): the second argument must be a route name")
            return lambda ctx: -1
    rest = call.args[2:3]
    if call.name == "async":
        if not names:
            c.error(call.pos, "async() needs a resume route")
            return lambda ctx: -1
        return compile_async(c, ast.Async(inner, names[0], rest[0] if rest else None, call.pos))
    return compile_launch(c, ast.Launch(inner, names[0] if names else None, rest[0] if rest else None,
                                        call.pos))


def _pos(expr: ast.Expr, default: ast.Pos) -> ast.Pos:
    pos = getattr(expr, "pos", default)
    return pos if isinstance(pos, ast.Pos) and pos != ast.NOWHERE else default


def _report_unknown(c: CompilerState, call: ast.Call) -> None:
    message = unknown_function_message(call.name, c.loaded_modules, c.module_exists)
    if message.endswith("()") and c.missing_modules:
        message += " (maybe from a module pysips does not have yet)"
    c.error(call.pos, message)
    c.unknown_functions.setdefault(call.name, []).append(call.pos)


def error_route_of(c: CompilerState) -> RouteRunner | None:
    """The script's error_route, run where a call left `ctx.error_info` set (None: no such route)."""
    slot = c.routes.get(ast.RouteKind.ERROR, {}).get(None)
    return slot.run if slot is not None else None


def _bind(
    fexp: FunctionExport, name: str, plan: list[tuple[bool, Any]], pos: ast.Pos, on_error: RouteRunner | None
) -> RunFn:
    # A call returning 0 ends the script wherever it sits (statement, condition, the right side of
    # an assignment): OpenSIPS runs every call through run_action_list, which raises EXIT on 0.
    # After each call OpenSIPS also runs the error_route when the call left error info behind;
    # `ctx.error_info is not None` is false on the hot path, so the test comes first.
    handler = fexp.handler
    if not any(dyn for dyn, _ in plan):
        consts = tuple(item for _, item in plan)

        def run_const(ctx: MsgContext) -> int:
            try:
                ret = handler(ctx, *consts)
            except Exception:
                log.exception("%s: %s() failed", pos, name)
                ret = -1
            if ret == 0:
                ctx.action_flags |= ACT_EXIT
            if ctx.error_info is not None and on_error is not None:
                run_error_route(ctx, on_error)
            ctx.retcode = ret
            return ret

        return run_const
    steps = tuple(plan)

    def run_dyn(ctx: MsgContext) -> int:
        try:
            args = [item(ctx) if dyn else item for dyn, item in steps]
            ret = handler(ctx, *args)
        except (ArgError, FixupError) as exc:
            log.error("%s: %s(): %s", pos, name, exc)
            ret = -1
        except Exception:
            log.exception("%s: %s() failed", pos, name)
            ret = -1
        if ret == 0:
            ctx.action_flags |= ACT_EXIT
        if ctx.error_info is not None and on_error is not None:
            run_error_route(ctx, on_error)
        ctx.retcode = ret
        return ret

    return run_dyn


def _fix_arg(
    c: CompilerState, fname: str, index: int, spec: ArgSpec, arg: ast.Expr, fctx: FixupContext
) -> tuple[bool, Any]:
    """Returns (dynamic, item): item is the fixed-up constant, or a getter when dynamic."""
    pos = fctx.pos
    where = f"argument {index} of {fname}()"
    kind = spec.kind
    is_const, const = constant(arg)
    if isinstance(arg, ast.StrTemplate) and not any(isinstance(p, ast.PVar) for p in arg.parts):
        is_const, const = True, "".join(p for p in arg.parts if isinstance(p, str))
    if spec.raw and isinstance(arg, ast.StrTemplate) and arg.text:
        is_const, const = True, arg.text
    if spec.static and not is_const:
        c.error(pos, f"{where} must be a constant")
        return False, _BAD

    if kind is ArgKind.VAR:
        if not isinstance(arg, ast.PVar):
            c.error(pos, f"{where} must be a pseudo-variable")
            return False, _BAD
        acc = compile_pvar(c, arg)
        if acc is None:
            return False, _BAD
        if not acc.writable:
            c.error(pos, f"{where}: pseudo-variable ${arg.name} is read-only")
            return False, _BAD
        return _apply_const(c, spec, acc, fctx, where)

    if kind in (ArgKind.MFLAG, ArgKind.BFLAG):
        if not is_const or const is None:
            c.error(pos, f"{where} must be a flag name")
            return False, _BAD
        flag_kind = FlagKind.MESSAGE if kind is ArgKind.MFLAG else FlagKind.BRANCH
        name = str(const)
        if name.isdigit() and name not in c.numeric_flag_warned:
            c.numeric_flag_warned.add(name)
            c.warn(
                pos,
                f"flag {name} is a number: in OpenSIPS 2.x it meant bit {name}, in 3.x it is a name "
                "like any other; pysips follows 3.x",
            )
        try:
            bit = c.flags.bit(flag_kind, name)
        except FixupError as exc:
            c.error(pos, f"{where}: {exc.message}")
            return False, _BAD
        return _apply_const(c, spec, bit, fctx, where)

    if kind is ArgKind.ROUTE:
        if not is_const or const is None:
            c.error(pos, f"{where} must be a route name")
            return False, _BAD
        rname = str(const)
        ref = RouteRef(spec.route_kind, rname)
        target = c.route(spec.route_kind, rname)
        if target is None:
            c.error(pos, f"{where}: unknown {spec.route_kind.value} {rname!r}")
            return False, _BAD
        c.route_refs.append((ref, pos))
        return _apply_const(c, spec, ref, fctx, where)

    if kind is ArgKind.REGEX:
        if is_const:
            try:
                pattern = compile_posix("" if const is None else str(const))
            except re.error as exc:
                c.error(pos, f"{where}: bad regular expression: {exc}")
                return False, _BAD
            return _apply_const(c, spec, pattern, fctx, where)
        getter = _dynamic(c, arg)

        def regex_arg(ctx: MsgContext) -> Any:
            text = getter(ctx)
            compiled = compile_dynamic("" if text is None else str(text))
            if compiled is None:
                raise ArgError(f"bad regular expression {text!r}")
            return compiled

        return _apply_dyn(spec, regex_arg, fctx)

    if kind is ArgKind.INT:
        if is_const:
            n = as_int(const)
            if n is None:
                c.error(pos, f"{where} must be an integer (got {const!r})")
                return False, _BAD
            return _apply_const(c, spec, n, fctx, where)
        getter = _dynamic(c, arg)

        def int_arg(ctx: MsgContext) -> Any:
            v = getter(ctx)
            n = as_int(v)
            if n is None:
                raise ArgError(f"{where} is not an integer: {v!r}")
            return n

        return _apply_dyn(spec, int_arg, fctx)

    if kind is ArgKind.STR:
        if is_const:
            return _apply_const(c, spec, "" if const is None else str(const), fctx, where)
        if isinstance(arg, ast.StrTemplate):
            try:
                return _apply_dyn(spec, template(arg, c.pv_registry), fctx)
            except PVError as exc:
                c.error(exc.pos if exc.pos != ast.NOWHERE else pos, exc.message)
                return False, _BAD
        getter = _dynamic(c, arg)

        def str_arg(ctx: MsgContext) -> Any:
            v = getter(ctx)
            return "" if v is None else v if isinstance(v, str) else str(v)

        return _apply_dyn(spec, str_arg, fctx)

    # ANY
    if is_const:
        return _apply_const(c, spec, const, fctx, where)
    return _apply_dyn(spec, _dynamic(c, arg), fctx)


def _dynamic(c: CompilerState, arg: ast.Expr) -> ValueFn:
    return formatted_value(c, arg)


def _apply_const(
    c: CompilerState, spec: ArgSpec, item: Any, fctx: FixupContext, where: str
) -> tuple[bool, Any]:
    if spec.fixup is None:
        return False, item
    try:
        fixed = spec.fixup(item, fctx)
    except FixupError as exc:
        c.error(exc.pos if exc.pos != ast.NOWHERE else fctx.pos, f"{where}: {exc.message}")
        return False, _BAD
    for note in fctx.warnings:
        c.warn(fctx.pos, f"{where}: {note}")
    fctx.warnings.clear()
    return False, fixed


def _apply_dyn(spec: ArgSpec, getter: Callable[[MsgContext], Any], fctx: FixupContext) -> tuple[bool, Any]:
    fixup = spec.fixup
    if fixup is None:
        return True, getter

    def fixed(ctx: MsgContext) -> Any:
        value = fixup(getter(ctx), fctx)
        if fctx.warnings:
            fctx.warnings.clear()  # notes are for `pysips -c`; per call they would only pile up
        return value

    return True, fixed
