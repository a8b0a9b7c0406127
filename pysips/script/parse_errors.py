"""Lark's parse errors, told in the script writer's words.

Lark knows which terminals it expected; a VoIP engineer wants "missing ';'", "this ')' closes
nothing", "the string that starts on line 47 is never closed". The expected set is collapsed into
categories (a statement, a value, an operator) before it is spelled out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr, TerminalDef

from pysips.script.ast import Pos, SyntaxProblem

_NAMED = {
    "NAME": "a name",
    "STRING": "a quoted string",
    "PVAR": "a pseudo-variable ($var(x), $ru...)",
    "NUMBER": "a number",
    "PARAM_NAME": "a global parameter (name=value)",
    "IPADDR": "an IP address",
    "IPV6": "an IPv6 address",
    "HOSTNAME": "a host name",
    "ENVVAR": "a ${VARIABLE}",
    "MSGLEN": "msg:len",
    "$END": "the end of the file",
}

_ROUTE_KINDS = frozenset({"ROUTE", "FAILURE_ROUTE", "ONREPLY_ROUTE", "BRANCH_ROUTE", "ERROR_ROUTE",
                          "LOCAL_ROUTE", "STARTUP_ROUTE", "TIMER_ROUTE", "EVENT_ROUTE"})
_STATEMENT_WORDS = frozenset({"IF", "SWITCH", "WHILE", "FOR", "RETURN", "EXIT", "DROP", "BREAK", "ASYNC",
                              "LAUNCH", "ASSERT", "ROUTE", "INCLUDE_FILE", "IMPORT_FILE", "LBRACE"})
_VALUE_STARTS = frozenset({"HOSTNAME", "IPADDR", "IPV6", "MSGLEN", "LSQB", "BANG", "NOT", "TILDE", "MINUS",
                           "PLUS"})
_ASSIGN_OPS = frozenset({f"__ANON_{i}" for i in range(9)} | {"EQUAL"})

# (terminals that must all be expected, terminals the phrase also covers, the phrase)
_CATEGORIES: tuple[tuple[frozenset[str], frozenset[str], str], ...] = (
    (frozenset({"PARAM_NAME", "LOADMODULE", "MODPARAM", "ROUTE"}),
     _ROUTE_KINDS | {"INCLUDE_FILE", "IMPORT_FILE", "SEMICOLON", "$END"},
     "a global parameter, loadmodule, modparam or a route block"),
    (frozenset({"IF", "SWITCH", "WHILE", "PVAR", "NAME", "RETURN"}),
     _STATEMENT_WORDS | {"CASE", "DEFAULT", "ELSE", "$END"}, "a statement"),
    (frozenset({"PVAR", "NUMBER", "STRING", "NAME", "LPAR"}), _VALUE_STARTS,
     "a value (a quoted string, a number, a pseudo-variable or a function call)"),
    (frozenset({"PLUS", "MINUS", "STAR", "SLASH"}),
     frozenset({f"__ANON_{i}" for i in range(9, 19)}
               | {"STAR", "SLASH", "PERCENT", "VBAR", "AMPERSAND", "CIRCUMFLEX", "LESSTHAN", "MORETHAN",
                  "AND", "OR"}),
     "an operator"),
    (frozenset({"__ANON_0", "__ANON_1", "EQUAL"}), _ASSIGN_OPS, "an assignment operator (=, +=, := ...)"),
)


class ErrorWording:
    """Describes terminals by their spelling; built once from the parser's terminal table."""

    def __init__(self, terminals: Iterable[TerminalDef]) -> None:
        self._spelling: dict[str, str] = {}
        for term in terminals:
            if term.name in _NAMED:
                self._spelling[term.name] = _NAMED[term.name]
            elif isinstance(term.pattern, PatternStr):
                self._spelling[term.name] = f"'{term.pattern.value}'"
            else:
                self._spelling[term.name] = term.name.lower()
        self._spelling.update({k: v for k, v in _NAMED.items() if k not in self._spelling})

    def expected(self, names: Iterable[str]) -> str:
        remaining = {n for n in names if not n.startswith("_IGNORE")}
        phrases: list[str] = []
        for members, implied, phrase in _CATEGORIES:
            if members <= remaining:
                phrases.append(phrase)
                remaining -= members | implied
        words = sorted(self._spelling.get(n, n) for n in remaining)
        items = phrases + words
        if len(items) > 8:
            items = [*items[:8], "..."]
        if not items:
            return "something else"
        if len(items) == 1:
            return items[0]
        return ", ".join(items[:-1]) + " or " + items[-1]

    def token(self, token: Token) -> str:
        if token.type == "$END":
            return "end of file"
        spelled = self._spelling.get(token.type, "")
        if spelled.startswith("'"):
            return spelled
        value = str(token.value)
        if len(value) > 40:
            value = value[:37] + "..."
        kind = spelled.removeprefix("a ").removeprefix("an ").split(" (")[0]
        return f"{kind} {value!r}" if kind else repr(value)


_ROUTE_START = re.compile(
    r"^\s*(route|failure_route|onreply_route|branch_route|error_route|local_route|startup_route|"
    r"timer_route|event_route)\s*[\[{]"
)


def _source_line(lines: list[str], line: int) -> str:
    return lines[line - 1].rstrip("\r\n").expandtabs(1) if 0 < line <= len(lines) else ""


def _first_on_line(lines: list[str], line: int, col: int) -> bool:
    """Whether nothing but blanks precedes column `col` of `line`."""
    return 0 < line <= len(lines) and not lines[line - 1][: max(col - 1, 0)].strip()


def _end_of_previous_code(lines: list[str], line: int) -> tuple[int, int] | None:
    """Line and column just after the last code before `line` (comments and blank lines skipped)."""
    for number in range(line - 1, 0, -1):
        text = lines[number - 1].rstrip("\r\n")
        hash_at = text.find("#")
        if hash_at != -1 and '"' not in text[hash_at:] and "'" not in text[hash_at:]:
            text = text[:hash_at]
        text = text.rstrip()
        if text:
            return number, len(text) + 1
    return None


def describe(
    error: UnexpectedInput,
    wording: ErrorWording,
    filename: str,
    lines: list[str],
    open_string: Token | None,
    unclosed_brace: Token | None = None,
) -> SyntaxProblem:
    """One SyntaxProblem for a Lark error. `open_string` is the last string token seen that ran over
    several lines: when the error comes right after it, the string was probably never closed."""
    line = getattr(error, "line", 0) or len(lines)
    col = getattr(error, "column", 0) or 1
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        line, col = len(lines) or 1, 1

    if open_string is not None and open_string.end_line is not None:
        start = open_string.line or 0
        if start < line <= open_string.end_line + 1:
            return SyntaxProblem(
                Pos(filename, start, open_string.column or 1),
                f"the string that starts here is not closed on its line; it runs on to line "
                f"{open_string.end_line} and the script stops making sense at line {line}",
                _source_line(lines, start),
                ("a missing closing quote (\") is the likely cause",),
            )

    if isinstance(error, UnexpectedCharacters):
        char = error.char
        message = f"unexpected character {char!r}"
        if char == '"':
            message += " (a string that is never closed?)"
        allowed = getattr(error, "allowed", None) or ()
        if allowed:
            message += f"; expected {wording.expected(allowed)}"
        return SyntaxProblem(Pos(filename, line, col), message, _source_line(lines, line))

    if isinstance(error, UnexpectedToken):
        token = error.token
        expected = set(error.expected)
        starter = _ROUTE_START.match(_source_line(lines, line))
        if starter and token.type in ("LSQB", "LBRACE") and "RBRACE" not in expected:
            return SyntaxProblem(
                Pos(filename, line, starter.start(1) + 1),
                f"'{starter.group(1)}' starts a new route block, but the block above is still open: "
                "a '}' is missing before this line",
                _source_line(lines, line),
            )
        if token.type == "$END" and "RBRACE" in expected and unclosed_brace is not None:
            at = unclosed_brace.line or 1
            return SyntaxProblem(
                Pos(filename, at, unclosed_brace.column or 1),
                "this '{' is never closed: the file ends before its '}'",
                _source_line(lines, at),
            )
        if token.type == "$END":
            missing = "'}'" if "RBRACE" in expected else wording.expected(expected)
            return SyntaxProblem(
                Pos(filename, line, col),
                f"unexpected end of file; expected {missing} (a block is not closed?)",
                _source_line(lines, line),
            )
        if token.type == "RPAR" and "RPAR" not in expected:
            return SyntaxProblem(
                Pos(filename, line, col),
                "unbalanced parentheses: this ')' has no matching '('",
                _source_line(lines, line),
            )
        if token.type == "RBRACE" and "RBRACE" not in expected and "SEMICOLON" in expected:
            first = _first_on_line(lines, line, col)
            spot = (_end_of_previous_code(lines, line) if first else None) or (line, col)
            return SyntaxProblem(
                Pos(filename, *spot),
                "missing ';' at the end of this statement",
                _source_line(lines, spot[0]),
            )
        if token.type in _ROUTE_KINDS | {"LOADMODULE", "MODPARAM", "PARAM_NAME"} and "RBRACE" in expected:
            return SyntaxProblem(
                Pos(filename, line, col),
                f"{wording.token(token)} starts a new top-level item, but the block above is still "
                "open: a '}' is missing before this line",
                _source_line(lines, line),
            )
        starts_statement = token.type in _STATEMENT_WORDS | {"NAME", "PVAR", "ELSE", "RBRACE"}
        if "SEMICOLON" in expected and (len(expected) <= 6 or starts_statement):
            previous = _end_of_previous_code(lines, line) if _first_on_line(lines, line, col) else None
            if previous is not None and previous[0] < line:
                return SyntaxProblem(
                    Pos(filename, *previous),
                    f"missing ';' at the end of this line (the next line starts with {wording.token(token)})",
                    _source_line(lines, previous[0]),
                )
            return SyntaxProblem(
                Pos(filename, line, col),
                f"unexpected {wording.token(token)}; missing ';' before it?",
                _source_line(lines, line),
            )
        return SyntaxProblem(
            Pos(filename, line, col),
            f"unexpected {wording.token(token)}; expected {wording.expected(expected)}",
            _source_line(lines, line),
        )

    if isinstance(error, UnexpectedEOF):
        return SyntaxProblem(
            Pos(filename, line, col),
            f"unexpected end of file; expected {wording.expected(error.expected)}",
            _source_line(lines, line),
        )
    return SyntaxProblem(Pos(filename, line, col), str(error).splitlines()[0], _source_line(lines, line))
