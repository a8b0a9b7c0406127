"""Pseudo-variables: the registry of classes and the compiler from `ast.PVar` to accessors.

    registry = PVRegistry()                      # core variables; modules add theirs
    acc = compile_pvar(node, registry)           # at load time: names, index, context, transforms
    acc.get(ctx); acc.set(ctx, "sip:x@y")        # per message
    fmt = compile_template(template, registry)   # "$fu to $tu" -> ctx -> str

Everything that can be decided from the script text is decided in `compile_pvar`; an unknown
variable, a bad name, an unknown transformation or a write to a read-only variable is a PVError
carrying the position.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pysips.script import ast
from pysips.script.pv_base import (
    FuncPV,
    Getter,
    ListPV,
    PVAccessor,
    PVError,
    PVFactory,
    as_str,
    log,
)
from pysips.script.pv_branch import FlagNames, branch_factories
from pysips.script.pv_challenge import challenge_factories
from pysips.script.pv_core import core_factories
from pysips.script.pv_extra import XlogLevel, extra_factories
from pysips.script.pv_sdp import INSERT, INSERT_AFTER, sdp_factories
from pysips.script.pv_vars import APPEND, AvpPV, avp_key, make_avp, make_param, make_var
from pysips.script.transforms import Chain, TransformRegistry, TrArg, TrFunc, compile_chain

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value

__all__ = [
    "AvpPV",
    "FuncPV",
    "ListPV",
    "PVAccessor",
    "PVError",
    "PVFactory",
    "PVRegistry",
    "avp_key",
    "compile_pvar",
    "compile_target",
    "compile_template",
    "format_value",
]

NULL_TEXT = "<null>"
SDP_INDEX_MODES = (INSERT, INSERT_AFTER)  # `$(sdp.line(x)[insert])`


class PVRegistry:
    """Pseudo-variable classes by name, and the transformation classes beside them."""

    __slots__ = ("_factories", "branch_flags", "start_time", "transforms", "xlog")

    def __init__(self, start_time: float | None = None) -> None:
        self.start_time = time.time() if start_time is None else start_time
        self._factories: dict[str, PVFactory] = core_factories(self.start_time)
        self._factories["var"] = make_var
        self._factories["avp"] = make_avp
        self._factories["param"] = make_param
        # The branch variables print and parse flag names: the loader hands over its flag registry.
        self.branch_flags = FlagNames()
        self._factories.update(branch_factories(self.branch_flags))
        self.xlog = XlogLevel()  # its default is the script's xlog_level=, set by the loader
        self._factories.update(extra_factories(self.xlog, self.branch_flags))
        self._factories.update(sdp_factories(self))
        self._factories.update(challenge_factories())
        self.transforms = TransformRegistry()

    def register(self, name: str, factory: PVFactory) -> None:
        """Add a module's pseudo-variable class (`T_reply_code`, `tls_peer_subject`, `DLG_status`)."""
        if name in self._factories:
            raise ValueError(f"pseudo-variable ${name} is already registered")
        self._factories[name] = factory

    def replace(self, name: str, factory: PVFactory) -> None:
        """Take over a core variable (the core makes `$socket_out` writable once it has sockets)."""
        if name not in self._factories:
            raise ValueError(f"pseudo-variable ${name} is not registered")
        self._factories[name] = factory

    def known(self, name: str) -> bool:
        return name in self._factories

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, subname: str | None, pos: ast.Pos) -> PVAccessor:
        factory = self._factories.get(name)
        if factory is None:
            raise PVError(f"unknown pseudo-variable ${name}", pos)
        return factory(name, subname, pos)


# ---------------------------------------------------------------------------------------------
# Wrappers applied by compile_pvar
# ---------------------------------------------------------------------------------------------


class DynamicNamePV(PVAccessor):
    """`$var($var(n))`, `$hdr($var(h))`: the name is read per message; accessors are cached."""

    __slots__ = ("_cache", "_class", "_name_of", "_pos", "_registry")

    def __init__(
        self, registry: PVRegistry, pvclass: str, name_of: PVAccessor, pos: ast.Pos, writable: bool
    ) -> None:
        super().__init__(f"${pvclass}({name_of.name})", writable)
        self._registry = registry
        self._class = pvclass
        self._name_of = name_of
        self._pos = pos
        self._cache: dict[str, PVAccessor] = {}

    def _target(self, ctx: MsgContext) -> PVAccessor | None:
        raw = self._name_of.get(ctx)
        if raw is None:
            log.error("%s: the name is NULL", self.name)
            return None
        name = as_str(raw)
        acc = self._cache.get(name)
        if acc is None:
            try:
                acc = self._registry.create(self._class, name, self._pos)
            except PVError as exc:
                log.error("%s: %s", self.name, exc.message)
                return None
            if len(self._cache) < 1024:  # names come from traffic: bound the cache
                self._cache[name] = acc
        return acc

    def get(self, ctx: MsgContext) -> Value:
        acc = self._target(ctx)
        return None if acc is None else acc.get(ctx)

    def get_all(self, ctx: MsgContext) -> list[Value]:
        acc = self._target(ctx)
        return [] if acc is None else acc.get_all(ctx)

    def set(self, ctx: MsgContext, value: Value) -> None:
        acc = self._target(ctx)
        if acc is not None:
            acc.set(ctx, value)

    def set_replace(self, ctx: MsgContext, value: Value) -> None:
        acc = self._target(ctx)
        if acc is not None:
            acc.set_replace(ctx, value)


class IndexedPV(PVAccessor):
    """`[n]` / `[-n]` / `[*]` over the values of a multi-valued variable (read-only)."""

    __slots__ = ("_base", "_index")

    def __init__(self, base: PVAccessor, index: int | str | PVAccessor) -> None:
        label = index.name if isinstance(index, PVAccessor) else str(index)
        super().__init__(f"$({base.name.lstrip('$')}[{label}])", False)
        self._base = base
        self._index = index

    def _position(self, ctx: MsgContext) -> int | None:
        index = self._index
        if isinstance(index, int):
            return index
        if isinstance(index, PVAccessor):
            value = index.get(ctx)
            if isinstance(value, int):
                return value
            log.error("index of %s is not an integer: %r", self.name, value)
        return None

    def get(self, ctx: MsgContext) -> Value:
        if self._index == "*":
            return self._base.join_all(ctx)
        values = self._base.get_all(ctx)
        i = self._position(ctx)
        if i is None or not -len(values) <= i < len(values):
            return None
        return values[i]

    def get_all(self, ctx: MsgContext) -> list[Value]:
        if self._index == "*":
            return self._base.get_all(ctx)
        value = self.get(ctx)
        return [] if value is None else [value]


class ContextPV(PVAccessor):
    """`$(<reply>hdr(X))`, `$(<request>ru)`: read the variable against another message.

    `<reply>` is `ctx.reply` (the winning reply in a failure route, or the current reply).
    `<request>` is the transaction's request when tm set `ctx.transaction` with a `request`
    attribute (or a `request_context(ctx)` method returning a whole context), else the current
    message when it is a request.
    """

    __slots__ = ("_base", "_which")

    def __init__(self, base: PVAccessor, which: str) -> None:
        super().__init__(f"$(<{which}>{base.name.lstrip('$')})", False)
        self._base = base
        self._which = which

    def _switch(self, ctx: MsgContext) -> MsgContext | None:
        if self._which == "reply":
            msg = ctx.reply
            if msg is None and ctx.msg is not None and not ctx.msg.is_request:
                return ctx
        else:
            trans = ctx.transaction
            hook = getattr(trans, "request_context", None)
            if hook is not None:
                alt: MsgContext | None = hook(ctx)
                return alt
            msg = getattr(trans, "request", None)
            if msg is None and ctx.msg is not None and ctx.msg.is_request:
                return ctx
        if msg is None:
            return None
        alt = copy.copy(ctx)
        alt.msg = msg
        if self._which == "reply":
            alt.new_ruri = None
            alt.dst_uri = None
        return alt

    def get(self, ctx: MsgContext) -> Value:
        alt = self._switch(ctx)
        return None if alt is None else self._base.get(alt)

    def get_all(self, ctx: MsgContext) -> list[Value]:
        alt = self._switch(ctx)
        return [] if alt is None else self._base.get_all(alt)


class TransformedPV(PVAccessor):
    """A variable read through a transformation chain (read-only)."""

    __slots__ = ("_base", "_base_get", "_chain")

    def __init__(self, base: PVAccessor, chain: Chain, label: str) -> None:
        super().__init__(f"$({base.name.lstrip('$')}{label})", False)
        self._base = base
        self._base_get = base.getter
        self._chain = chain

    def get(self, ctx: MsgContext) -> Value:
        return self._chain(ctx, self._base_get(ctx))

    def get_all(self, ctx: MsgContext) -> list[Value]:
        chain = self._chain
        return [chain(ctx, v) for v in self._base.get_all(ctx)]


# ---------------------------------------------------------------------------------------------
# The compiler
# ---------------------------------------------------------------------------------------------


def _static_index(node: ast.PVar, registry: PVRegistry) -> int | str | PVAccessor | None:
    index = node.index
    if index is None or index == "*":
        return index
    if isinstance(index, str):
        raise PVError(f"bad index {index!r} for ${node.name}", node.pos)
    if isinstance(index, ast.IntLit):
        return index.value
    if isinstance(index, ast.UnOp) and index.op == "-" and isinstance(index.operand, ast.IntLit):
        return -index.operand.value
    if isinstance(index, ast.StrLit | ast.Ident):
        text = index.value if isinstance(index, ast.StrLit) else index.name
        if text.lower() == APPEND and node.name == "avp":
            return APPEND
        if text.lower() in SDP_INDEX_MODES and node.name in ("sdp.line", "sdp.stream", "sdp.session"):
            return text.lower()
        try:
            return int(text)
        except ValueError:
            raise PVError(f"bad index {text!r} for ${node.name}", node.pos) from None
    if isinstance(index, ast.PVar):
        return compile_pvar(index, registry)
    raise PVError(f"unsupported index expression for ${node.name}", node.pos)


def _compile_arg(arg: ast.Expr, registry: PVRegistry, pos: ast.Pos) -> TrArg:
    if isinstance(arg, ast.IntLit):
        return arg.value
    if isinstance(arg, ast.StrLit):
        return arg.value
    if isinstance(arg, ast.Ident):
        return arg.name
    if isinstance(arg, ast.UnOp) and arg.op == "-" and isinstance(arg.operand, ast.IntLit):
        return -arg.operand.value
    if isinstance(arg, ast.PVar):
        return compile_pvar(arg, registry)
    raise PVError("transformation arguments must be numbers, strings or variables", pos)


def compile_transforms(
    transforms: tuple[ast.Transform, ...], registry: PVRegistry
) -> tuple[Chain, str]:
    """Compile a chain; returns it with its text (`{s.len}{s.int}`) for messages."""
    funcs: list[tuple[str, TrFunc]] = []
    labels: list[str] = []
    for tr in transforms:
        args = tuple(_compile_arg(a, registry, tr.pos) for a in tr.args)
        funcs.append((tr.name, registry.transforms.compile_one(tr, args)))
        arg_text = "".join("," + (a.name if isinstance(a, PVAccessor) else str(a)) for a in args)
        labels.append("{" + tr.name + arg_text + "}")
    return compile_chain(funcs), "".join(labels)


def _pvar_text(node: ast.PVar) -> str:
    """A pseudo-variable reference written back as script text (`$var(n)`)."""
    sub = node.subname
    inner = _pvar_text(sub) if isinstance(sub, ast.PVar) else sub
    return f"${node.name}" if inner is None else f"${node.name}({inner})"


def compile_pvar(node: ast.PVar, registry: PVRegistry) -> PVAccessor:
    """Build the accessor for a pseudo-variable reference (for reading, or writing if allowed)."""
    if isinstance(node.subname, ast.PVar) and node.name == "var":
        # OpenSIPS reads a $var name literally: $var($var(n)) is the variable named "$var(n)"
        acc: PVAccessor = registry.create(node.name, _pvar_text(node.subname), node.pos)
    elif isinstance(node.subname, ast.PVar):
        name_of = compile_pvar(node.subname, registry)
        try:
            writable = registry.create(node.name, "x", node.pos).writable
        except PVError:
            writable = False
        acc = DynamicNamePV(registry, node.name, name_of, node.pos, writable)
    else:
        acc = registry.create(node.name, node.subname, node.pos)
    index = _static_index(node, registry)
    if index is not None:
        acc = acc.indexed(index) or IndexedPV(acc, index)
    if node.context is not None:
        which = node.context.lower()
        if which not in ("reply", "request"):
            raise PVError(f"unknown context <{node.context}> (use <reply> or <request>)", node.pos)
        acc = ContextPV(acc, which)
    if node.transforms:
        chain, label = compile_transforms(node.transforms, registry)
        acc = TransformedPV(acc, chain, label)
    return acc


def compile_target(node: ast.PVar, registry: PVRegistry) -> PVAccessor:
    """An assignment target: like compile_pvar, but a read-only variable is a load error."""
    acc = compile_pvar(node, registry)
    if not acc.writable:
        raise PVError(f"cannot assign to read-only pseudo-variable {acc.name}", node.pos)
    return acc


def format_value(value: Value) -> str:
    """How a value prints inside a string: NULL as `<null>`, integers in decimal."""
    if value is None:
        return NULL_TEXT
    return value if isinstance(value, str) else str(value)


def compile_template(node: ast.StrTemplate, registry: PVRegistry) -> Callable[[MsgContext], str]:
    """`"$fu to $tu"` -> a function printing it for one message."""
    parts: list[str | Getter] = []
    for part in node.parts:
        if isinstance(part, str):
            if part:
                if parts and isinstance(parts[-1], str):
                    parts[-1] += part
                else:
                    parts.append(part)
        else:
            parts.append(compile_pvar(part, registry).getter)
    if not parts:
        return lambda ctx: ""
    if len(parts) == 1:
        only = parts[0]
        if isinstance(only, str):
            return lambda ctx: only
        return lambda ctx: format_value(only(ctx))
    if len(parts) == 2 and isinstance(parts[0], str) and not isinstance(parts[1], str):
        head, tail_get = parts[0], parts[1]
        return lambda ctx: head + format_value(tail_get(ctx))
    frozen = tuple(parts)

    def render(ctx: MsgContext) -> str:
        out: list[str] = []
        for p in frozen:
            if isinstance(p, str):
                out.append(p)
            else:
                v = p(ctx)
                out.append(NULL_TEXT if v is None else v if isinstance(v, str) else str(v))
        return "".join(out)

    return render
