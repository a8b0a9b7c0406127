"""POSIX extended regular expressions as OpenSIPS uses them, on Python's `re`.

OpenSIPS compiles script regexes with REG_EXTENDED|REG_ICASE and matches with regexec (a search,
not anchored). Python's syntax is a superset for the common forms; the POSIX bracket classes
(`[[:digit:]]`) are translated.
"""

from __future__ import annotations

import re
from functools import lru_cache

_CLASSES = {
    "alnum": r"a-zA-Z0-9",
    "alpha": r"a-zA-Z",
    "blank": r" \t",
    "cntrl": r"\x00-\x1f\x7f",
    "digit": r"0-9",
    "graph": r"\x21-\x7e",
    "lower": r"a-z",
    "print": r"\x20-\x7e",
    "punct": r"!-/:-@\[-`{-~",
    "space": r" \t\r\n\v\f",
    "upper": r"A-Z",
    "xdigit": r"0-9A-Fa-f",
}
_CLASS_RE = re.compile(r"\[:(" + "|".join(_CLASSES) + r"):\]")


def translate(pattern: str) -> str:
    return _CLASS_RE.sub(lambda m: _CLASSES[m.group(1)], pattern)


def compile_posix(pattern: str) -> re.Pattern[str]:
    """Compile once (load time); raises re.error on a bad pattern."""
    return re.compile(translate(pattern), re.IGNORECASE)


@lru_cache(maxsize=256)
def compile_dynamic(pattern: str) -> re.Pattern[str] | None:
    """For patterns only known at run time ($var =~ $var); None when the pattern is invalid."""
    try:
        return compile_posix(pattern)
    except re.error:
        return None
