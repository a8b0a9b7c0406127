"""Shared helpers for the transformation tests: build a transformation node, apply a chain to a value."""

from __future__ import annotations

from pysips.script import ast
from pysips.script.context import MsgContext, ProcessState, Value
from pysips.script.pv import PVRegistry, compile_pvar

POS = ast.Pos("t.cfg", 3, 9)
REG = PVRegistry()


def tr(name: str, *args: int | str | ast.PVar) -> ast.Transform:
    nodes: list[ast.Expr] = []
    for a in args:
        if isinstance(a, int):
            nodes.append(ast.IntLit(a, POS) if a >= 0 else ast.UnOp("-", ast.IntLit(-a, POS), POS))
        elif isinstance(a, str):
            nodes.append(ast.StrLit(a, POS))
        else:
            nodes.append(a)
    return ast.Transform(name, tuple(nodes), POS)


def apply(value: Value, *chain: ast.Transform, ctx: MsgContext | None = None) -> Value:
    """Run `chain` on `value` (held in $var(in)); None leaves $var(in) unset."""
    ctx = ctx or MsgContext(ProcessState())
    if value is not None:
        ctx.process.vars["in"] = value
    node = ast.PVar("var", "in", transforms=tuple(chain), pos=POS)
    return compile_pvar(node, REG).get(ctx)
