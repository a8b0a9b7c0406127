"""Statements: blocks, if/switch/while/for-each, assignments, return/exit/drop/break.

Control flow follows OpenSIPS's action_flags: `return` sets RETURN, `exit`/`drop` set EXIT, `break`
sets BREAK, and every block stops after a statement that raised one of them. A statement whose
return code is 0 ends the whole script, as in OpenSIPS.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pysips.script import ast
from pysips.script.compile_call import compile_action, error_route_of, not_async_yet
from pysips.script.compile_expr import compile_pvar, cond, constant, formatted_value, strict_value, value
from pysips.script.context import ACT_BREAK, ACT_DROP, ACT_EXIT, ACT_RETURN, MsgContext, Value
from pysips.script.errinfo import EC_ASSERT, EL_CRITIC, run_error_route, set_error
from pysips.script.values import EXPR_DROP, ExprError, compound

if TYPE_CHECKING:
    from pysips.script.compile_state import CompilerState, CondFn, RunFn

log = logging.getLogger("pysips.script.core")

_STOP = ACT_RETURN | ACT_EXIT | ACT_BREAK
_LEAVE = ACT_RETURN | ACT_EXIT
E_UNSPEC = -1


def _one(ctx: MsgContext) -> int:
    return 1


def block(c: CompilerState, node: ast.Block | tuple[ast.Stmt, ...]) -> RunFn:
    stmts = node.stmts if isinstance(node, ast.Block) else node
    fns = tuple(statement(c, s) for s in stmts)
    if not fns:
        return _one

    def run(ctx: MsgContext) -> int:
        ret = E_UNSPEC
        for fn in fns:
            ret = fn(ctx)
            if ret == 0:
                ctx.action_flags |= ACT_EXIT
            if ctx.action_flags & _STOP:
                break
        return ret

    return run


def statement(c: CompilerState, s: ast.Stmt) -> RunFn:
    if isinstance(s, ast.ExprStmt):
        return _expr_stmt(c, s)
    if isinstance(s, ast.Assign):
        return _assign(c, s)
    if isinstance(s, ast.If):
        return _if(c, s)
    if isinstance(s, ast.Switch):
        return _switch(c, s)
    if isinstance(s, ast.While):
        return _while(c, s)
    if isinstance(s, ast.ForEach):
        return _foreach(c, s)
    if isinstance(s, ast.Return):
        return _return(c, s)
    if isinstance(s, ast.Exit):
        return _exit
    if isinstance(s, ast.Drop):
        return _drop
    if isinstance(s, ast.Break):
        return _break
    if isinstance(s, ast.Block):
        return block(c, s)
    if isinstance(s, ast.Assert):
        return _assert(c, s)
    if isinstance(s, ast.Async | ast.Launch):
        return not_async_yet(c, "async" if isinstance(s, ast.Async) else "launch", s.call, s.pos)
    c.error(getattr(s, "pos", ast.NOWHERE), f"unsupported statement {type(s).__name__}")
    return lambda ctx: -1


def _exit(ctx: MsgContext) -> int:
    ctx.action_flags |= ACT_EXIT
    ctx.retcode = 0
    return 0


def _drop(ctx: MsgContext) -> int:
    ctx.action_flags |= ACT_DROP | ACT_EXIT
    ctx.retcode = 0
    return 0


# OpenSIPS's `break` action sets no return code of its own, so it returns the initial E_BUG
# (-5): a case ending in `break` leaves $rc at -5, and so does a route ending in such a switch.
_BREAK_RETURN = -5


def _break(ctx: MsgContext) -> int:
    ctx.action_flags |= ACT_BREAK
    ctx.retcode = _BREAK_RETURN
    return _BREAK_RETURN


def _expr_stmt(c: CompilerState, s: ast.ExprStmt) -> RunFn:
    expr = s.expr
    if isinstance(expr, ast.Call | ast.RouteCall):
        return compile_action(c, expr)
    # Any other expression as a statement: evaluate it for its truth (OpenSIPS allows `$var(x);`).
    check = cond(c, expr)

    def run(ctx: MsgContext) -> int:
        r = check(ctx)
        ret = 1 if r > 0 else (0 if r == EXPR_DROP else -1)
        ctx.retcode = ret
        return ret

    return run


def _assign(c: CompilerState, s: ast.Assign) -> RunFn:
    acc = compile_pvar(c, s.target)
    if acc is None:
        return lambda ctx: -1
    if not acc.writable:
        c.error(s.target.pos, f"cannot assign to read-only pseudo-variable ${s.target.name}")
        return lambda ctx: -1
    if s.target.transforms:
        c.error(s.target.pos, "transformations are not allowed on the left side of an assignment")
        return lambda ctx: -1
    op = s.op
    if isinstance(s.value, ast.NullLit):
        if op not in ("=", ":="):
            c.error(s.pos, f"NULL cannot be used with {op!r}")
            return lambda ctx: -1
        setter = acc.set_replace if op == ":=" else acc.set

        def delete(ctx: MsgContext) -> int:
            setter(ctx, None)
            ctx.retcode = 1
            return 1

        return delete
    get = strict_value(c, s.value)
    if op in ("=", ":="):
        setter = acc.set_replace if op == ":=" else acc.set
        pos = s.pos

        def assign(ctx: MsgContext) -> int:
            try:
                result = get(ctx)
            except ExprError:
                log.warning("no value in right expression at %s", pos)
                ctx.retcode = -1
                return -1
            setter(ctx, result)
            ctx.retcode = 1
            return 1

        return assign
    if len(op) != 2 or op[1] != "=":
        c.error(s.pos, f"unknown assignment operator {op!r}")
        return lambda ctx: -1
    binop = op[0]
    current = acc.get
    store = acc.set

    def run_compound(ctx: MsgContext) -> int:
        try:
            operand = get(ctx)
        except ExprError:
            ctx.retcode = -1
            return -1
        result: Value = compound(binop, current(ctx), operand)
        if result is None:
            ctx.retcode = -1
            return -1
        store(ctx, result)
        ctx.retcode = 1
        return 1

    return run_compound


def _if(c: CompilerState, s: ast.If) -> RunFn:
    test = cond(c, s.cond)
    then = block(c, s.then) if s.then.stmts else None
    orelse = block(c, s.orelse) if s.orelse is not None and s.orelse.stmts else None
    pos = s.pos

    def run(ctx: MsgContext) -> int:
        v = test(ctx)
        if v < 0 or ctx.action_flags & _LEAVE:
            if v == EXPR_DROP or ctx.action_flags & _LEAVE:
                ctx.retcode = 0
                return 0
            log.warning("error in expression at %s", pos)
        if v > 0:
            if then is not None:
                ret = then(ctx)
                ctx.retcode = ret
                return ret
        elif orelse is not None:
            ret = orelse(ctx)
            ctx.retcode = ret
            return ret
        ctx.retcode = v
        return 1

    return run


def _while(c: CompilerState, s: ast.While) -> RunFn:
    test = cond(c, s.cond)
    body = block(c, s.body)
    limit = int(c.core.get("max_while_loops", 10000))
    pos = s.pos

    def run(ctx: MsgContext) -> int:
        ret = 1
        loops = 0
        while True:
            if loops >= limit:
                log.error(
                    "%s: max while loops reached (%d), increase the 'max_while_loops' global!", pos, limit
                )
                break
            loops += 1
            v = test(ctx)
            if v < 0 or ctx.action_flags & _LEAVE:
                if v == EXPR_DROP or ctx.action_flags & _LEAVE:
                    ctx.retcode = 0
                    return 0
                log.warning("error in expression at %s", pos)
            ret = 1
            if v <= 0:
                break
            ret = body(ctx)
            if ctx.action_flags & _STOP:
                ctx.action_flags &= ~ACT_BREAK
                break
            ctx.retcode = ret
        # OpenSIPS: a loop whose condition turns false returns 1, one left by `break` returns
        # what its body did; $rc reads that (a return/exit inside keeps its own code)
        if not ctx.action_flags & (ACT_RETURN | ACT_EXIT):
            ctx.retcode = ret
        return ret

    return run


def _foreach(c: CompilerState, s: ast.ForEach) -> RunFn:
    var = compile_pvar(c, s.var)
    source = compile_pvar(c, s.iterable)
    body = block(c, s.body)
    if var is None or source is None:
        return lambda ctx: -1
    if not var.writable:
        c.error(s.var.pos, f"for-each variable ${s.var.name} is read-only")
        return lambda ctx: -1
    if s.iterable.index != "*":
        c.error(s.iterable.pos, "for-each needs a [*] index on the iterated variable")
        return lambda ctx: -1
    set_var = var.set
    get_all = source.get_all

    def run(ctx: MsgContext) -> int:
        ret = 1
        for item in get_all(ctx):
            set_var(ctx, item)
            ret = body(ctx)
            if ctx.action_flags & _STOP:
                ctx.action_flags &= ~ACT_BREAK
                break
        ctx.retcode = ret
        return ret

    return run


def _switch(c: CompilerState, s: ast.Switch) -> RunFn:
    subject = value(c, s.subject)
    cases: list[tuple[str | int, RunFn]] = []
    for case in s.cases:
        is_const, const = constant(case.value)
        if not is_const or const is None:
            c.error(case.pos, "a case value must be a string or an integer constant")
            continue
        key: str | int = const.lower() if isinstance(const, str) else const
        cases.append((key, block(c, case.body)))
    default = block(c, s.default) if s.default is not None else None
    table = tuple(cases)

    def matches(key: str | int, v: Value) -> bool:
        if v is None:
            return False
        if isinstance(key, int):
            # a number case matches integers only: "1" is not case 1 (an integer has a
            # string face, so 1 is case "1")
            return isinstance(v, int) and v == key
        return (v if isinstance(v, str) else str(v)).lower() == key

    def run(ctx: MsgContext) -> int:
        v = subject(ctx)
        if ctx.action_flags & _LEAVE:  # the subject called a function that returned 0
            ctx.retcode = 0
            return 0
        ret = 1
        matched = False
        broke = False
        for key, body in table:
            if not matched and matches(key, v):
                matched = True
            if matched:
                ret = body(ctx)
                if ctx.action_flags & _STOP:
                    ctx.action_flags &= ~ACT_BREAK
                    broke = True
                    break
        # OpenSIPS runs `default` when no case matched and also when the matched case fell
        # through to the end of the switch without a break.
        if not broke and default is not None:
            ret = default(ctx)
            ctx.action_flags &= ~ACT_BREAK
        ctx.retcode = ret
        return ret

    return run


def _return(c: CompilerState, s: ast.Return) -> RunFn:
    if s.value is None:

        def ret_one(ctx: MsgContext) -> int:
            ctx.action_flags |= ACT_RETURN
            ctx.retcode = 1
            return 1

        return ret_one
    is_const, const = constant(s.value)
    if is_const and isinstance(const, int):
        n = const

        def ret_const(ctx: MsgContext) -> int:
            ctx.action_flags |= ACT_RETURN
            ctx.retcode = n
            return n

        return ret_const
    get = value(c, s.value)

    def ret_value(ctx: MsgContext) -> int:
        v = get(ctx)
        r = -1 if v is None else v if isinstance(v, int) else 1
        ctx.action_flags |= ACT_RETURN
        ctx.retcode = r
        return r

    return ret_value


def _assert(c: CompilerState, s: ast.Assert) -> RunFn:
    test: CondFn = cond(c, s.cond)
    message = formatted_value(c, s.message) if s.message is not None else None
    if not c.core.get("enable_asserts", False):
        return _one
    pos = s.pos
    on_error = error_route_of(c)

    def run(ctx: MsgContext) -> int:
        if test(ctx) > 0:
            return 1
        text = message(ctx) if message is not None else None
        if text is not None:
            log.critical("ASSERTION FAILED (%s) at %s", text, pos)
        else:
            log.critical("ASSERTION FAILED at %s", pos)
        # OpenSIPS: error info "assertion failed" with a suggested 500, then the error_route; the
        # failed assert ends the script whatever that route does
        set_error(ctx, EC_ASSERT, EL_CRITIC, "assertion failed", 500, "server error")
        if on_error is not None:
            run_error_route(ctx, on_error)
        ctx.error_info = None
        ctx.action_flags |= ACT_EXIT
        ctx.retcode = 0
        return 0

    return run
