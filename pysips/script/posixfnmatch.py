"""POSIX fnmatch(3) for modules that match shell patterns as OpenSIPS does (permissions' address
patterns with FNM_PERIOD, dialplan's match_op 2), which Python's `fnmatch` does not follow:
backslash escapes the next character, `[[:digit:]]` classes work, `[^...]` negates like `[!...]`,
and with FNM_PERIOD a leading '.' is matched only by a literal '.'.
"""

from __future__ import annotations

import re
from functools import lru_cache

_CLASSES = {
    "alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "blank": " \\t", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "\\x21-\\x7e", "lower": "a-z", "print": "\\x20-\\x7e",
    "punct": "!-/:-@\\[-`{-~", "space": " \\t\\n\\r\\f\\v", "upper": "A-Z", "xdigit": "0-9A-Fa-f",
}


def _bracket(pattern: str, i: int) -> tuple[str, int] | None:
    """The regex class of the bracket expression starting after '[' at i, and the index after its
    ']'; None when it is not closed (then '[' is literal)."""
    n = len(pattern)
    negate = i < n and pattern[i] in "!^"
    if negate:
        i += 1
    parts: list[str] = []
    first = True
    while i < n:
        c = pattern[i]
        if c == "]" and not first:
            body = "".join(parts)
            return ("[^" if negate else "[") + body + "]", i + 1
        first = False
        if c == "[" and pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            name = pattern[i + 2:end] if end > 0 else ""
            if name in _CLASSES:
                parts.append(_CLASSES[name])
                i = end + 2
                continue
        if c == "\\" and i + 1 < n:
            i += 1
            c = pattern[i]
        if i + 2 < n and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            parts.append(re.escape(c) + "-" + re.escape(pattern[i + 2]))
            i += 3
            continue
        parts.append(re.escape(c))
        i += 1
    return None


@lru_cache(maxsize=1024)
def compile_fnmatch(pattern: str, casefold: bool = False) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            bracket = _bracket(pattern, i)
            if bracket is None:
                out.append("\\[")
            else:
                out.append(bracket[0])
                i = bracket[1]
        elif c == "\\" and i < n:
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(c))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if casefold else 0))


def fnmatch(pattern: str, text: str, casefold: bool = False) -> bool:
    return compile_fnmatch(pattern, casefold).fullmatch(text) is not None


def fnmatch_period(pattern: str, text: str) -> bool:
    """fnmatch with FNM_PERIOD: a leading '.' of the text must be matched by a literal '.'."""
    if text.startswith(".") and not pattern.startswith((".", "\\.")):
        return False
    return fnmatch(pattern, text)
