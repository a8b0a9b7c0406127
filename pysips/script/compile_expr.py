"""Expressions: conditions (1/0/-1/EXPR_DROP, OpenSIPS eval_expr) and values (assignments, args)."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from pysips.script import ast
from pysips.script.context import MsgContext, Value
from pysips.script.myself import split_hostport, uri_hostport
from pysips.script.posixre import compile_dynamic, compile_posix
from pysips.script.pvbridge import PVAccessor, PVError, pvar, template
from pysips.script.values import (
    EXPR_DROP,
    ExprError,
    arith,
    as_int,
    compare,
    compare_const,
    log,
    truth,
    wrap32,
)

if TYPE_CHECKING:
    from pysips.script.compile_state import CompilerState, CondFn, ValueFn

COMPARE_OPS = frozenset({"==", "!=", "<", "<=", ">", ">="})
REGEX_OPS = frozenset({"=~", "!~"})
ARITH_OPS = frozenset({"+", "-", "*", "/", "%", "|", "&", "^", "<<", ">>"})

# 2.x core keywords -> the pseudo-variable holding the same value.
KEYWORD_PVARS = {
    "method": "rm",
    "uri": "ru",
    "from_uri": "fu",
    "to_uri": "tu",
    "src_ip": "si",
    "src_port": "sp",
    "dst_ip": "Ri",
    "dst_port": "Rp",
    "proto": "pr",
    "status": "rs",
    "retcode": "rc",
    "msg:len": "ml",
}
_HOST_KEYWORDS = frozenset({"src_ip", "dst_ip"})


def _none(ctx: MsgContext) -> Value:
    return None


def constant(expr: ast.Expr) -> tuple[bool, Value]:
    """(True, value) for a literal known at load time."""
    if isinstance(expr, ast.IntLit):
        return True, wrap32(expr.value)  # 2147483648 is -2147483648 in OpenSIPS
    if isinstance(expr, ast.StrLit):
        return True, expr.value
    if isinstance(expr, ast.Ident):
        return True, expr.name
    if isinstance(expr, ast.NullLit):
        return True, None
    if isinstance(expr, ast.UnOp) and expr.op == "-" and isinstance(expr.operand, ast.IntLit):
        return True, wrap32(-expr.operand.value)
    return False, None


def compile_pvar(c: CompilerState, node: ast.PVar) -> PVAccessor | None:
    try:
        return pvar(node, c.pv_registry)
    except PVError as exc:
        c.error(exc.pos if exc.pos != ast.NOWHERE else node.pos, exc.message)
        return None


def _af(ctx: MsgContext) -> Value:
    rcv = ctx.rcv
    if rcv is None:
        return None
    return "INET6" if ":" in rcv.src_ip else "INET"


def keyword_value(c: CompilerState, node: ast.CoreKeyword) -> ValueFn:
    if node.name == "af":
        return _af
    pv = KEYWORD_PVARS.get(node.name)
    if pv is None:
        c.error(node.pos, f"unknown core keyword {node.name!r}")
        return _none
    acc = compile_pvar(c, ast.PVar(pv, pos=node.pos))
    return acc.getter if acc is not None else _none


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def value(c: CompilerState, expr: ast.Expr) -> ValueFn:
    is_const, const = constant(expr)
    if is_const:
        return lambda ctx: const
    if isinstance(expr, ast.PVar):
        acc = compile_pvar(c, expr)
        return acc.getter if acc is not None else _none
    if isinstance(expr, ast.StrTemplate):
        # OpenSIPS expands pseudo-variables only in function parameters: in an assignment, a
        # comparison, a regex, a route() argument, the string is literal ("$rm" stays "$rm")
        text = expr.text
        return lambda ctx: text
    if isinstance(expr, ast.CoreKeyword):
        return keyword_value(c, expr)
    if isinstance(expr, ast.IPNet):
        text = expr.address if expr.prefix is None else f"{expr.address}/{expr.prefix}"
        return lambda ctx: text
    if isinstance(expr, ast.BinOp):
        if expr.op in ARITH_OPS:
            strict = _arith_value(c, expr)

            def lenient(ctx: MsgContext) -> Value:
                try:
                    return strict(ctx)
                except ExprError:
                    return None

            return lenient
        cond_fn = cond(c, expr)
        return lambda ctx: cond_fn(ctx)
    if isinstance(expr, ast.UnOp):
        return _unop_value(c, expr)
    if isinstance(expr, ast.Call | ast.RouteCall):
        from pysips.script.compile_call import compile_action

        action = compile_action(c, expr)
        return lambda ctx: action(ctx)
    if isinstance(expr, ast.Myself):
        c.error(expr.pos, "'myself' can only be compared with == or !=")
        return _none
    c.error(getattr(expr, "pos", ast.NOWHERE), f"unsupported expression {type(expr).__name__}")
    return _none


def formatted_value(c: CompilerState, expr: ast.Expr) -> ValueFn:
    """value() for a function parameter: a string with pseudo-variables is expanded."""
    if isinstance(expr, ast.StrTemplate):
        try:
            return template(expr, c.pv_registry)
        except PVError as exc:
            c.error(exc.pos if exc.pos != ast.NOWHERE else expr.pos, exc.message)
            return _none
    return value(c, expr)


def strict_value(c: CompilerState, expr: ast.Expr) -> ValueFn:
    """value(), except that arithmetic with bad operands raises ExprError (an assignment then
    does nothing, as OpenSIPS's "no value in right expression")."""
    if isinstance(expr, ast.BinOp) and expr.op in ARITH_OPS:
        return _arith_value(c, expr)
    return value(c, expr)


def _int_literal(expr: ast.Expr) -> bool:
    is_const, const = constant(expr)
    return is_const and isinstance(const, int) and not isinstance(expr, ast.Ident)


def _arith_value(c: CompilerState, expr: ast.BinOp) -> ValueFn:
    op = expr.op
    left = strict_value(c, expr.left)
    right = strict_value(c, expr.right)
    right_literal = _int_literal(expr.right)

    def run(ctx: MsgContext) -> Value:
        return arith(op, left(ctx), right(ctx), right_literal)

    return run


def _unop_value(c: CompilerState, expr: ast.UnOp) -> ValueFn:
    if expr.op == "!":
        cond_fn = cond(c, expr)
        return lambda ctx: cond_fn(ctx)
    operand = value(c, expr.operand)
    if expr.op == "-":

        def neg(ctx: MsgContext) -> Value:
            n = as_int(operand(ctx))
            return None if n is None else -n

        return neg

    def bnot(ctx: MsgContext) -> Value:
        n = as_int(operand(ctx))
        if n is None:
            log.error("binary NOT on non-numeric value")
            return None
        return ~n

    return bnot


# ---------------------------------------------------------------------------------------------
# Conditions
# ---------------------------------------------------------------------------------------------


def cond(c: CompilerState, expr: ast.Expr) -> CondFn:
    if isinstance(expr, ast.BinOp):
        if expr.op == "&&":
            return _and(cond(c, expr.left), cond(c, expr.right))
        if expr.op == "||":
            return _or(cond(c, expr.left), cond(c, expr.right))
        if expr.op in COMPARE_OPS:
            return _compare(c, expr)
        if expr.op in REGEX_OPS:
            return _regex(c, expr)
        val = value(c, expr)
        return lambda ctx: truth(val(ctx))
    if isinstance(expr, ast.UnOp) and expr.op == "!":
        inner = cond(c, expr.operand)

        def not_(ctx: MsgContext) -> int:
            r = inner(ctx)
            if r < 0:
                return r
            return 0 if r else 1

        return not_
    if isinstance(expr, ast.Call | ast.RouteCall):
        from pysips.script.compile_call import compile_action

        action = compile_action(c, expr)

        def act(ctx: MsgContext) -> int:
            r = action(ctx)
            if r > 0:
                return 1
            return EXPR_DROP if r == 0 else 0

        return act
    if isinstance(expr, ast.Ident):
        c.error(expr.pos, f"unexpected bare word {expr.name!r} in a condition")
        return lambda ctx: 0
    val = value(c, expr)
    return lambda ctx: truth(val(ctx))


def _and(left: CondFn, right: CondFn) -> CondFn:
    def run(ctx: MsgContext) -> int:
        r = left(ctx)
        if r != 1:
            return r
        return right(ctx)

    return run


def _or(left: CondFn, right: CondFn) -> CondFn:
    def run(ctx: MsgContext) -> int:
        r = left(ctx)
        if r != 0:
            return r
        return right(ctx)

    return run


def _compare(c: CompilerState, expr: ast.BinOp) -> CondFn:
    op = expr.op
    left_e, right_e = expr.left, expr.right
    if isinstance(left_e, ast.Myself) and not isinstance(right_e, ast.Myself):
        left_e, right_e = right_e, left_e
    if isinstance(right_e, ast.Myself):
        return _myself(c, op, left_e, expr.pos)
    if isinstance(right_e, ast.IPNet):
        return _ipnet(c, op, left_e, right_e)
    left = value(c, left_e)
    is_const, const = constant(right_e)
    if is_const and const is not None and not isinstance(right_e, ast.Ident):
        literal: str | int = const

        def against_const(ctx: MsgContext) -> int:
            return compare_const(op, left(ctx), literal)

        return against_const
    right = value(c, right_e)

    def run(ctx: MsgContext) -> int:
        return compare(op, left(ctx), right(ctx))

    return run


def _regex(c: CompilerState, expr: ast.BinOp) -> CondFn:
    left = value(c, expr.left)
    negate = expr.op == "!~"
    is_const, const = constant(expr.right)
    if is_const and isinstance(const, str):
        try:
            pattern: re.Pattern[str] = compile_posix(const)
        except re.error as exc:
            c.error(expr.right.pos, f"bad regular expression {const!r}: {exc}")
            return lambda ctx: 0
        search = pattern.search

        def match_const(ctx: MsgContext) -> int:
            v = left(ctx)
            if v is None:
                return 1 if negate else 0
            found = search(v if isinstance(v, str) else str(v)) is not None
            return 1 if found != negate else 0

        return match_const
    right = value(c, expr.right)

    def match_dyn(ctx: MsgContext) -> int:
        v, p = left(ctx), right(ctx)
        if v is None or p is None:
            return 1 if negate else 0
        compiled = compile_dynamic(p if isinstance(p, str) else str(p))
        if compiled is None:
            log.error("bad regular expression %r", p)
            return -1
        found = compiled.search(v if isinstance(v, str) else str(v)) is not None
        return 1 if found != negate else 0

    return match_dyn


def _myself(c: CompilerState, op: str, subject: ast.Expr, pos: ast.Pos) -> CondFn:
    if op not in ("==", "!="):
        c.error(pos, f"'myself' cannot be used with {op!r}")
        return lambda ctx: 0
    want = 1 if op == "==" else 0
    get = value(c, subject)
    checker = c.myself
    host_only = isinstance(subject, ast.CoreKeyword) and subject.name in _HOST_KEYWORDS

    def run(ctx: MsgContext) -> int:
        v = get(ctx)
        if v is None:
            return 1 - want
        text = v if isinstance(v, str) else str(v)
        if host_only:
            hp: tuple[str, int | None] | None = (text, None)
        elif text[:4].lower() in ("sip:", "sips", "tel:") or text.startswith("<"):
            hp = uri_hostport(text)
        else:
            hp = split_hostport(text)
        if hp is None:
            return 1 - want
        return want if checker.is_myself(hp[0], hp[1]) else 1 - want

    return run


def _ipnet(c: CompilerState, op: str, subject: ast.Expr, net: ast.IPNet) -> CondFn:
    if op not in ("==", "!="):
        c.error(net.pos, f"an IP network can only be compared with == or != (not {op!r})")
        return lambda ctx: 0
    try:
        text = net.address if net.prefix is None else f"{net.address}/{net.prefix}"
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        c.error(net.pos, f"bad IP network: {exc}")
        return lambda ctx: 0
    want = 1 if op == "==" else 0
    get = value(c, subject)

    def run(ctx: MsgContext) -> int:
        v = get(ctx)
        if not isinstance(v, str):
            return -1
        try:
            addr = ipaddress.ip_address(v.strip("[]"))
        except ValueError:
            return -1
        return want if addr in network else 1 - want

    return run
