"""OpenSIPS's .allow/.deny rule files (allow_routing, allow_register, allow_uri).

A line is `LEFT [EXCEPT list] : RIGHT [EXCEPT list]`, each side `ALL` or a comma-separated list of
(optionally double-quoted) POSIX extended regular expressions, matched case-insensitively and
unanchored; `#` starts a comment outside quotes. A rule applies when both sides match and neither
exception list does. A line that does not parse is logged and skipped; a missing file is an empty
rule set (which allows everything).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pysips.script.posixre import compile_posix

log = logging.getLogger("pysips.modules.permissions")

Expressions = tuple[re.Pattern[str], ...] | None  # None: ALL


@dataclass(frozen=True, slots=True)
class Rule:
    left: Expressions
    left_except: tuple[re.Pattern[str], ...]
    right: Expressions
    right_except: tuple[re.Pattern[str], ...]

    def applies(self, left: str, right: str) -> bool:
        return (_any(self.left, left, True) and not _any(self.left_except, left, False)
                and _any(self.right, right, True) and not _any(self.right_except, right, False))


def _any(exprs: Expressions, text: str, all_value: bool) -> bool:
    if exprs is None:
        return all_value
    return any(e.search(text) for e in exprs)


class RuleError(ValueError):
    pass


def _split_unquoted(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _expression_list(text: str) -> tuple[re.Pattern[str], ...]:
    out = []
    for word in _split_unquoted(text, ","):
        word = word.strip(" \t")
        if word.startswith('"'):
            word = word[1:]
        if word.endswith('"'):
            word = word[:-1]
        if not word:
            raise RuleError(f"empty expression in {text!r}")
        try:
            out.append(compile_posix(word))
        except re.error as exc:
            raise RuleError(f"bad regular expression {word!r}: {exc}") from None
    return tuple(out)


def _side(text: str) -> tuple[Expressions, tuple[re.Pattern[str], ...]]:
    main, sep, exceptions = text.partition(" EXCEPT ")
    excepted = _expression_list(exceptions) if sep else ()
    main = main.strip()
    return (None if main == "ALL" else _expression_list(main)), excepted


def parse_line(line: str) -> Rule | None:
    """The rule of one line; None for a blank or comment line; RuleError when it is malformed."""
    quoted, colon, end = False, -1, len(line)
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            colon = i
        elif ch in "#\n" and not quoted:
            end = i
            break
    body = line[:end]
    if not body.strip():
        return None
    if colon <= 0 or colon >= end - 1:
        raise RuleError("expected LEFT : RIGHT")
    left, left_except = _side(body[:colon])
    right, right_except = _side(body[colon + 1:])
    return Rule(left, left_except, right, right_except)


def parse_rules(text: str, name: str = "") -> list[Rule]:
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            rule = parse_line(line)
        except RuleError as exc:
            log.error("permissions: %s:%d: %s, line ignored", name, number, exc)
            continue
        if rule is not None:
            rules.append(rule)
    return rules


def load_rules(path: Path) -> list[Rule] | None:
    """The rules of a file; None when it does not exist (OpenSIPS: empty rule set)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        log.info("permissions: file (%s) not found => empty rule set", path)
        return None
    return parse_rules(text, str(path))


def search(rules: list[Rule] | None, left: str, right: str) -> bool:
    return bool(rules) and any(r.applies(left, right) for r in rules or ())


@dataclass(frozen=True, slots=True)
class RulePair:
    """The allow and deny files of one basename."""

    allow: list[Rule] | None
    deny: list[Rule] | None

    @property
    def empty(self) -> bool:
        return not self.allow and not self.deny
