"""dialplan's repl_exp: the output of a rule, built from the subst_exp match.

OpenSIPS's rule: without a subst_exp, or when repl_exp has no escapes and no variables, the output
is repl_exp as written. Otherwise it is repl_exp with `\\0`..`\\9` (the subst_exp match and its
groups), `\\u` (the request URI), `\\n \\r \\t \\\\ \\$` and `$variables` replaced. The output is the
replacement alone: text of the input outside the match is not kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pysips.script.ast import NOWHERE
from pysips.script.context import MsgContext
from pysips.script.parse_pv import PVSyntaxError, read_pv
from pysips.script.pv import PVRegistry, compile_pvar, format_value

_CHARS = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t", "$": "$"}

Getter = Callable[[MsgContext], str]


@dataclass(frozen=True, slots=True)
class Group:
    number: int


@dataclass(frozen=True, slots=True)
class RequestUri:
    pass


@dataclass(frozen=True, slots=True)
class Variable:
    text: str
    get: Getter


Piece = str | Group | RequestUri | Variable


class ReplError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Replacement:
    text: str
    pieces: tuple[Piece, ...]
    escapes: int  # OpenSIPS's n_escapes: with none, the text is copied as is
    max_group: int

    def build(self, groups: list[str | None] | None, ruri: str | None,
              ctx: MsgContext | None) -> str:
        if groups is None or self.escapes == 0:
            return self.text
        out: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
            elif isinstance(piece, Group):
                out.append(groups[piece.number] or "")
            elif isinstance(piece, RequestUri):
                out.append(ruri or "")
            elif ctx is not None:
                out.append(piece.get(ctx))
        return "".join(out)


def _variable(text: str, start: int, registry: PVRegistry | None) -> tuple[Variable, int]:
    if registry is None:
        raise ReplError("variables in repl_exp need the script's variables")
    try:
        node, end = read_pv(text, start, lambda _k: NOWHERE)
    except PVSyntaxError as exc:
        raise ReplError(f"bad specifier in replace part {text!r}: {exc}") from None
    accessor = compile_pvar(node, registry)
    return Variable(text[start:end], lambda ctx: format_value(accessor.get(ctx))), end


def parse_repl(text: str, registry: PVRegistry | None = None) -> Replacement:
    pieces: list[Piece] = []
    literal: list[str] = []
    escapes = max_group = 0

    def flush() -> None:
        if literal:
            pieces.append("".join(literal))
            literal.clear()

    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            escapes += 1
            if nxt.isdigit():
                flush()
                pieces.append(Group(int(nxt)))
                max_group = max(max_group, int(nxt))
            elif nxt == "u":
                flush()
                pieces.append(RequestUri())
            else:
                literal.append(_CHARS.get(nxt, nxt))
            i += 2
            continue
        if ch == "$":
            flush()
            variable, i = _variable(text, i, registry)
            pieces.append(variable)
            escapes += 1
            continue
        literal.append(ch)
        i += 1
    flush()
    return Replacement(text, tuple(pieces), escapes, max_group)
