"""Pseudo-variables and strings with pseudo-variables in them.

The grammar lexes `$(avp(x)[*]{s.len})` as one token, as OpenSIPS's lexer does; this module reads
its inside (name, context, inner name, index, transformations) the way OpenSIPS's pv_parse_spec
does, and splits quoted strings into text and variables the way pv_parse_format does.
"""

from __future__ import annotations

from collections.abc import Callable

from pysips.script.ast import IntLit, Pos, PVar, StrLit, StrTemplate, Transform

# Maps an offset inside the text being read to its position in the source file.
PosAt = Callable[[int], Pos]

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


class PVSyntaxError(Exception):
    """A malformed pseudo-variable; `offset` is where in the text reading stopped."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def _closing(text: str, start: int) -> int:
    """Index of the bracket closing the one at `start` (same kind, nested ones skipped)."""
    opener = text[start]
    closer = _CLOSERS[opener]
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return i
    raise PVSyntaxError(f"'{opener}' is never closed with '{closer}'", start)


def read_pv(text: str, start: int, pos_at: PosAt, *, in_string: bool = False) -> tuple[PVar, int]:
    """Read the pseudo-variable that starts with the `$` at text[start]; return it and the index
    just past it.

    In script code (`in_string` false) `$avp(x)[2]` carries its index; inside a quoted string the
    short form ends at `)` as in OpenSIPS, so "$avp(x)[2]" prints the value followed by "[2]".
    """
    pos = pos_at(start)
    i = start + 1
    n = len(text)
    full = i < n and text[i] == "("
    if full:
        i += 1
    if i < n and text[i] == "$":  # `$$` is a literal dollar sign
        i += 1
        if full:
            if i >= n or text[i] != ")":
                raise PVSyntaxError("expected ')' after '$($'", i)
            i += 1
        return PVar("$", pos=pos), i

    context: str | None = None
    if i < n and text[i] == "<":
        j = i + 1
        while j < n and text[j] in _NAME_CHARS:
            j += 1
        if j >= n or text[j] != ">":
            raise PVSyntaxError("a pseudo-variable context must look like <reply> or <request>", i)
        context = text[i + 1 : j]
        i = j + 1

    j = i
    while j < n and text[j] in _NAME_CHARS:
        j += 1
    if j == i:
        raise PVSyntaxError("a pseudo-variable name is expected after '$'", i)
    name = text[i:j]
    i = j

    subname: str | PVar | None = None
    if i < n and text[i] == "(":
        close = _closing(text, i)
        inner = text[i + 1 : close]
        if not inner:
            raise PVSyntaxError(f"$${name}() needs a name between the parentheses", i)
        subname = _read_subname(inner, i + 1, pos_at)
        i = close + 1

    index: IntLit | PVar | StrLit | str | None = None
    if i < n and text[i] == "[" and (full or not in_string):
        close = _closing(text, i)
        index = _read_index(text[i + 1 : close], i + 1, pos_at)
        i = close + 1

    transforms: list[Transform] = []
    if full:
        while True:
            while i < n and text[i] in " \t" and transforms:
                i += 1
            if i < n and text[i] == "{":
                close = _closing(text, i)
                transforms.append(_read_transform(text[i + 1 : close], i + 1, pos_at))
                i = close + 1
                continue
            break
        if i >= n or text[i] != ")":
            raise PVSyntaxError(f"expected ')' to close '$(' of ${name}", i)
        i += 1

    return PVar(name, subname, index, context, tuple(transforms), pos), i


def _read_subname(inner: str, offset: int, pos_at: PosAt) -> str | PVar:
    if inner.startswith("$"):
        try:
            pv, end = read_pv(inner, 0, lambda k: pos_at(offset + k))
        except PVSyntaxError:
            return inner
        if end == len(inner):
            return pv
    return inner


def _read_index(inner: str, offset: int, pos_at: PosAt) -> IntLit | PVar | StrLit | str:
    stripped = inner.strip()
    if stripped == "*":
        return "*"
    if _is_int(stripped):
        return IntLit(int(stripped), pos_at(offset))
    if stripped.startswith("$"):
        pv, end = read_pv(stripped, 0, lambda k: pos_at(offset + k))
        if end == len(stripped):
            return pv
        raise PVSyntaxError("an index must be a number, '*', a word or a pseudo-variable", offset)
    # Some variables take words: $(sdp.line(..)[insert]), $(hdr(X)[append])...
    return StrLit(stripped, pos_at(offset))


def _is_int(text: str) -> bool:
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isdigit()


def _split_args(body: str) -> list[tuple[str, int]]:
    """Split a transformation's text at the commas that are not inside brackets or quotes."""
    parts: list[tuple[str, int]] = []
    depth = 0
    quote = ""
    start = 0
    for i, c in enumerate(body):
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append((body[start:i], start))
            start = i + 1
    parts.append((body[start:], start))
    return parts


def _read_transform(body: str, offset: int, pos_at: PosAt) -> Transform:
    parts = _split_args(body)
    name = parts[0][0].strip()
    if not name or "." not in name:
        raise PVSyntaxError(
            "a transformation looks like {class.name} or {class.name,arg,...}, e.g. {uri.user}", offset
        )
    raw_args = parts[1:]
    # `{s.select,1,,}`: the separator itself is a comma, which the split took as two empty args.
    if len(raw_args) >= 2 and raw_args[-1][0] == "" and raw_args[-2][0] == "":
        raw_args = [*raw_args[:-2], (",", raw_args[-2][1])]
    args = tuple(_transform_arg(text, offset + at, pos_at) for text, at in raw_args)
    return Transform(name, args, pos_at(offset - 1))


def _transform_arg(text: str, offset: int, pos_at: PosAt) -> IntLit | StrLit | PVar:
    stripped = text.strip() or text
    lead = text.find(stripped) if stripped else 0
    pos = pos_at(offset + lead)
    if _is_int(stripped):
        return IntLit(int(stripped), pos)
    if stripped.startswith("$"):
        try:
            pv, end = read_pv(stripped, 0, lambda k: pos_at(offset + lead + k))
        except PVSyntaxError:
            return StrLit(stripped, pos)
        if end == len(stripped):
            return pv
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
        return StrLit(stripped[1:-1], pos)
    return StrLit(stripped, pos)


def parse_pv_token(token: str, pos: Pos) -> PVar:
    """A whole PVAR token from script code."""

    def pos_at(k: int) -> Pos:
        return Pos(pos.file, pos.line, pos.col + k)

    pv, end = read_pv(token, 0, pos_at)
    if end != len(token):
        raise PVSyntaxError(f"unexpected text {token[end:]!r} after the pseudo-variable", end)
    return pv


def string_value(value: str, pos: Pos, pos_at: PosAt) -> StrLit | StrTemplate:
    """A quoted string's value: a template when every `$` in it starts a pseudo-variable, else
    plain text (regular expressions such as "^sip:.*$" stay text)."""
    if "$" not in value:
        return StrLit(value, pos)
    parts: list[str | PVar] = []
    text_start = 0
    i = value.find("$")
    try:
        while i != -1:
            pv, end = read_pv(value, i, pos_at, in_string=True)
            if pv.name == "$":
                parts.append(value[text_start:i] + "$")
            else:
                if i > text_start:
                    parts.append(value[text_start:i])
                parts.append(pv)
            text_start = end
            i = value.find("$", end)
    except PVSyntaxError:
        return StrLit(value, pos)
    if text_start < len(value):
        parts.append(value[text_start:])
    merged: list[str | PVar] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    if all(isinstance(p, str) for p in merged):
        return StrLit("".join(p for p in merged if isinstance(p, str)), pos)
    return StrTemplate(tuple(merged), pos, text=value)
