"""sed-like substitution expressions: `/re/replacement/flags` (OpenSIPS subst_parser).

The first character is the separator. Flags: `i` ignore case, `g` every match, `s` let `.` match
newlines (and `^`/`$` only at the ends). The replacement understands `\\0`..`\\9` (the whole
match, groups), `\\n \\r \\t \\\\`, `\\u` (the R-URI) and an escaped separator. Pseudo-variables in
the replacement are refused at load time: pysips does not expand them there yet.
"""

from __future__ import annotations

import re
from typing import Any

from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext
from pysips.script.posixre import translate

# A replacement is a tuple of pieces: str (literal), int (group number), or None (the R-URI).
Piece = str | int | None

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "$": "$"}


class SubstExpr:
    __slots__ = ("pattern", "pieces", "replace_all", "text")

    def __init__(
        self, pattern: re.Pattern[str], pieces: tuple[Piece, ...], replace_all: bool, text: str
    ) -> None:
        self.pattern = pattern
        self.pieces = pieces
        self.replace_all = replace_all
        self.text = text

    def expand(self, match: re.Match[str], ruri: str) -> str:
        out: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                out.append(piece)
            elif piece is None:
                out.append(ruri)
            else:
                out.append(match.group(piece) or "")
        return "".join(out)

    def apply(self, text: str, ruri: str = "") -> tuple[str, int]:
        """The substituted text and the number of replacements."""
        count = 0

        def one(match: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return self.expand(match, ruri)

        result = self.pattern.sub(one, text, count=0 if self.replace_all else 1)
        return result, count

    def __repr__(self) -> str:
        return f"SubstExpr({self.text!r})"


def _split(text: str, sep: str, start: int) -> tuple[str, int]:
    """Up to the next unescaped separator; returns (part, index after the separator)."""
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == sep:
            return text[start:i], i + 1
        i += 1
    raise FixupError(f"missing separator {sep!r} in {text!r}")


def _pieces(repl: str, sep: str, max_group: int) -> tuple[Piece, ...]:
    out: list[Piece] = []
    literal: list[str] = []
    i = 0
    while i < len(repl):
        ch = repl[i]
        if ch == "\\" and i + 1 < len(repl):
            nxt = repl[i + 1]
            i += 2
            if nxt.isdigit():
                group = int(nxt)
                if group > max_group:
                    raise FixupError(f"\\{group} refers to a group the expression does not have")
                if literal:
                    out.append("".join(literal))
                    literal = []
                out.append(group)
            elif nxt == "u":
                if literal:
                    out.append("".join(literal))
                    literal = []
                out.append(None)
            else:
                literal.append(_ESCAPES.get(nxt, nxt))
            continue
        if ch == "$":
            raise FixupError("pseudo-variables in a subst replacement are not supported by pysips yet")
        literal.append(ch)
        i += 1
    if literal:
        out.append("".join(literal))
    return tuple(out)


def parse_subst(text: str) -> SubstExpr:
    if len(text) < 4:
        raise FixupError(f"bad subst expression {text!r} (want /re/replacement/flags)")
    sep = text[0]
    regex, after = _split(text, sep, 1)
    repl, after = _split(text, sep, after)
    flags = re.MULTILINE
    replace_all = False
    for flag in text[after:]:
        if flag == "i":
            flags |= re.IGNORECASE
        elif flag == "g":
            replace_all = True
        elif flag == "s":
            flags = (flags & ~re.MULTILINE) | re.DOTALL
        else:
            raise FixupError(f"unknown subst flag {flag!r} in {text!r}")
    try:
        pattern = re.compile(translate(regex), flags)
    except re.error as exc:
        raise FixupError(f"bad regular expression in {text!r}: {exc}") from exc
    return SubstExpr(pattern, _pieces(repl, sep, pattern.groups), replace_all, text)


def fix_subst(value: Any, fctx: FixupContext) -> SubstExpr:
    return parse_subst(str(value))
