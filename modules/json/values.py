"""JSON values as OpenSIPS's json module (json-c) parses and prints them.

Values are Python objects: dict (key order kept), list, str, int, bool, None (JSON null) and
JsonNumber (a non-integer number, kept as written, as json-c prints a parsed double). Printing
follows json-c's three styles: SPACED (`$json`: `{ "a": 1, "b": [ 1, 2 ] }`), PLAIN
(`$json_compact`) and PRETTY (`$json_pretty`, two-space indent); strings escape `/` as `\\/`.
Parsing is json-c's: leading whitespace skipped, text after the first value ignored.
"""

from __future__ import annotations

import json
from typing import Any

SPACED = 1
PLAIN = 0
PRETTY = 2


class JsonNumber(str):
    """A non-integer number, printed as it was written."""

    __slots__ = ()


class JsonError(ValueError):
    pass


_DECODER = json.JSONDecoder(parse_float=JsonNumber, parse_constant=JsonNumber, strict=False)


def parse(text: str) -> Any:
    """The value of a JSON text; JsonError when it does not parse."""
    stripped = text.lstrip(" \t\r\n")
    try:
        value, _ = _DECODER.raw_decode(stripped)
    except json.JSONDecodeError as exc:
        raise JsonError(exc.msg) from None
    return value


_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n",
            "\r": "\\r", "\t": "\\t"}


def escape(text: str, slash: bool = True) -> str:
    out = []
    for ch in text:
        if ch == "/" and not slash:
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def dumps(value: Any, style: int = SPACED, level: int = 0, slash: bool = True) -> str:
    """json-c's text of the value (`slash=False`: `/` as is, as cJSON writes json_merge's)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, JsonNumber):
        return str.__str__(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + escape(value, slash) + '"'
    if isinstance(value, dict):
        items = [('"' + escape(str(k), slash) + ('": ' if style & SPACED else '":')
                  + dumps(v, style, level + 1, slash)) for k, v in value.items()]
        return _container("{", "}", items, style, level)
    if isinstance(value, list):
        items = [dumps(v, style, level + 1, slash) for v in value]
        return _container("[", "]", items, style, level)
    return '"' + escape(str(value), slash) + '"'


def _container(open_: str, close: str, items: list[str], style: int, level: int) -> str:
    if style & PRETTY:
        if not items:  # json-c still breaks the line before the closing bracket
            return f"{open_}\n{'  ' * level}{close}"
        inner = ",\n".join("  " * (level + 1) + item for item in items)
        return f"{open_}\n{inner}\n{'  ' * level}{close}"
    if style & SPACED:
        spaced = "".join(("," if i else "") + " " + item for i, item in enumerate(items))
        return open_ + spaced + " " + close
    return open_ + ",".join(items) + close


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (json_merge)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
