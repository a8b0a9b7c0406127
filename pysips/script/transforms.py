"""Transformations: `{s.len}`, `{uri.user}`, `{param.value,tag}` ... chained after a variable.

A chain compiles once into `(ctx, value) -> value`. Each transformation class ("s", "uri" ...)
is a factory that checks its arguments when the script loads and returns the run-time function.
NULL in gives NULL out (every OpenSIPS class does so); a failure at run time gives NULL and a
log line, never an exception into the script.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pysips.script import ast
from pysips.script.context import Value
from pysips.script.pv_base import PVAccessor, PVError, log

if TYPE_CHECKING:
    from pysips.script.context import MsgContext

# An argument: a constant known at load time, or a variable read at run time.
TrArg = str | int | PVAccessor
TrFunc = Callable[["MsgContext", str | int], Value]
Chain = Callable[["MsgContext", Value], Value]
# (method, args, pos) -> run-time function; raises PVError for unknown methods or bad args.
TrFactory = Callable[[str, tuple[TrArg, ...], ast.Pos], TrFunc]


class TransformFailed(Exception):
    """Raised inside a transformation at run time; the chain turns it into NULL and a log line."""


class TransformRegistry:
    """Transformation classes by name; modules may add their own (OpenSIPS `tr_add_extra`)."""

    __slots__ = ("_classes",)

    def __init__(self) -> None:
        from pysips.script import transforms_misc, transforms_sip, transforms_str

        self._classes: dict[str, TrFactory] = {
            "s": transforms_str.make,
            "uri": transforms_sip.make_uri,
            "param": transforms_sip.make_param,
            "nameaddr": transforms_sip.make_nameaddr,
            "via": transforms_sip.make_via,
            "csv": transforms_misc.make_csv,
            "ip": transforms_misc.make_ip,
            "re": transforms_misc.make_re,
            "sdp": transforms_misc.make_sdp,
        }

    def register(self, tclass: str, factory: TrFactory) -> None:
        if tclass in self._classes:
            raise ValueError(f"transformation class {tclass!r} is already registered")
        self._classes[tclass] = factory

    def known_classes(self) -> list[str]:
        return sorted(self._classes)

    def compile_one(self, node: ast.Transform, args: tuple[TrArg, ...]) -> TrFunc:
        tclass, dot, method = node.name.partition(".")
        factory = self._classes.get(tclass.lower())
        if factory is None or not dot or not method:
            raise PVError(f"unknown transformation {{{node.name}}}", node.pos)
        return factory(method.lower(), args, node.pos)


def compile_chain(funcs: list[tuple[str, TrFunc]]) -> Chain:
    """Run the functions in order; stop at NULL; errors become NULL plus a log line."""
    if len(funcs) == 1:
        (label, only), = funcs

        def single(ctx: MsgContext, value: Value) -> Value:
            if value is None:
                return None
            try:
                return only(ctx, value)
            except TransformFailed as exc:
                log.error("transformation {%s} failed: %s", label, exc)
            except Exception:  # a bug must not abort the route: log it with its traceback
                log.exception("transformation {%s} crashed on %r", label, value)
            return None

        return single

    steps = tuple(func for _, func in funcs)
    labels = tuple(label for label, _ in funcs)

    def chain(ctx: MsgContext, value: Value) -> Value:
        step = 0
        try:
            for step, func in enumerate(steps):  # noqa: B007 - `step` names the failing one
                if value is None:
                    return None
                value = func(ctx, value)
        except TransformFailed as exc:
            log.error("transformation {%s} failed: %s", labels[step], exc)
            return None
        except Exception:
            log.exception("transformation {%s} crashed", labels[step])
            return None
        return value

    return chain


# ---------------------------------------------------------------------------------------------
# Helpers for the classes: argument checking at load time, reading at run time
# ---------------------------------------------------------------------------------------------

def want_args(
    method: str, args: tuple[TrArg, ...], low: int, high: int, pos: ast.Pos
) -> None:
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise PVError(f"transformation {method} takes {expected} argument(s), got {len(args)}", pos)


def int_arg(method: str, arg: TrArg, pos: ast.Pos) -> int | PVAccessor:
    """A numeric argument: a constant (checked now) or a variable (checked when read)."""
    if isinstance(arg, PVAccessor | int):
        return arg
    text = arg.strip()
    try:
        return int(text)
    except ValueError:
        raise PVError(f"transformation {method}: {arg!r} is not a number", pos) from None


def str_arg(method: str, arg: TrArg, pos: ast.Pos) -> str | PVAccessor:
    if isinstance(arg, int):
        return str(arg)
    return arg


def read_int(ctx: MsgContext, arg: int | PVAccessor) -> int:
    if isinstance(arg, int):
        return arg
    value = arg.get(ctx)
    if not isinstance(value, int):
        raise TransformFailed(f"{arg.name} is not an integer ({value!r})")
    return value


def read_str(ctx: MsgContext, arg: str | PVAccessor) -> str:
    if isinstance(arg, str):
        return arg
    value = arg.get(ctx)
    if value is None or value == "":
        raise TransformFailed(f"{arg.name} is empty")
    return value if isinstance(value, str) else str(value)
