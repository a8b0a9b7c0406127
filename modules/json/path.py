"""The id of a $json variable: `name(/key | [index])*[.keys|.values]`, OpenSIPS's grammar.

A key ends at `/`, `[` or `.`; a key or index starting with `$` is a variable read per use (an
index must hold an integer, a key a string); `[]` appends when setting; negative indexes count
from the end. Spaces are kept as part of keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from pysips.script.ast import NOWHERE
from pysips.script.context import MsgContext, Value
from pysips.script.parse_pv import PVSyntaxError, read_pv
from pysips.script.pv import PVRegistry, compile_pvar
from pysips.script.pv_base import PVAccessor, PVError

_registry: PVRegistry | None = None


class PathError(ValueError):
    pass


def _variable(text: str) -> PVAccessor:
    """A core variable ($var, $avp, $hdr, $ru...) named inside a path."""
    global _registry
    if _registry is None:
        _registry = PVRegistry()
    try:
        node, end = read_pv(text, 0, lambda _k: NOWHERE)
        if end != len(text):
            raise PathError(f"Unable to parse variable {text!r}")
        return compile_pvar(node, _registry)
    except (PVSyntaxError, PVError) as exc:
        raise PathError(f"Unable to parse variable {text!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Tag:
    key: str | None = None  # a key tag (else an index tag)
    index: int = 0
    append: bool = False  # "[]"
    variable: PVAccessor | None = None

    def resolve(self, ctx: MsgContext) -> Tag | None:
        """The tag with its variable read; None (logged by the caller) for a wrong type."""
        if self.variable is None:
            return self
        value: Value = self.variable.get(ctx)
        if self.key is not None:
            return Tag(key=value) if isinstance(value, str) else None
        return Tag(index=value) if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class JsonId:
    name: str
    tags: tuple[Tag, ...]
    iterate: str | None  # "keys", "values" or None

    def resolved(self, ctx: MsgContext) -> tuple[Tag, ...] | None:
        out = []
        for tag in self.tags:
            found = tag.resolve(ctx)
            if found is None:
                return None
            out.append(found)
        return tuple(out)


def _index_tag(text: str) -> Tag:
    stripped = text.lstrip()
    if not stripped.strip():
        return Tag(append=True)
    if stripped.startswith("$"):
        return Tag(index=0, variable=_variable(text.strip()))
    digits = ""
    for i, ch in enumerate(stripped):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    if not digits.lstrip("+-"):
        raise PathError(f"Index value is not an integer:[{text}]")
    return Tag(index=int(digits))


def _key_tag(text: str) -> Tag:
    if text.startswith("$"):
        return Tag(key="", variable=_variable(text))
    return Tag(key=text)


def parse_id(text: str) -> JsonId:
    i, n = 0, len(text)
    while i < n and text[i] not in "/[.":
        i += 1
    name = text[:i]
    tags: list[Tag] = []
    iterate = None
    while i < n:
        ch = text[i]
        if ch == "/":
            j = i + 1
            while j < n and text[j] not in "/[.":
                j += 1
            tags.append(_key_tag(text[i + 1:j]))
            i = j
        elif ch == "[":
            j = text.find("]", i + 1)
            if j < 0:
                raise PathError(f"Mismatched parenthesis in:({text})")
            tags.append(_index_tag(text[i + 1:j]))
            i = j + 1
        elif ch == ".":
            rest = text[i + 1:]
            if any(c in rest for c in "/[."):
                raise PathError(f"Unexpected char in :({text})")
            if rest not in ("keys", "values"):
                raise PathError("Bad iterator type")
            iterate = rest
            i = n
        else:
            raise PathError(f"Unexpected char at position: {i} in :({text})")
    return JsonId(name, tuple(tags), iterate)
