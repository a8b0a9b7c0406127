"""The script front end: source text -> Script (ast.py).

    parse_file(path) / parse_text(text, filename) -> Script, or ScriptSyntaxError listing problems
    as `FILE:LINE:COL: message` with the offending line.

The Lark LALR parser is built once per process. `include_file`/`import_file` are read when met
(relative to the including file, then to the working directory, as OpenSIPS does in the other
order) and their items spliced in place with their own file names and lines.
"""

from __future__ import annotations

import contextlib
import functools
import re
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_interactive_parser import InteractiveParser

from pysips.paths import grammar_dir
from pysips.script.ast import Pos, Script, SyntaxProblem
from pysips.script.parse_errors import ErrorWording, describe
from pysips.script.parse_tree import Builder, IncludeContext, TreeError

__all__ = ["ScriptSyntaxError", "parse_file", "parse_text"]

MAX_INCLUDE_DEPTH = 50


class ScriptSyntaxError(Exception):
    """The script cannot be loaded; `problems` holds every error found (at least one)."""

    def __init__(self, problems: list[SyntaxProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.format() for p in problems))


class _Lexed:
    """What the lexer saw that the parser cannot tell us: skipped stray characters, and the last
    string that ran over a line end (the usual victim of a missing quote)."""

    __slots__ = ("open_string", "strays")

    def __init__(self) -> None:
        self.strays: list[Token] = []
        self.open_string: Token | None = None


_current = _Lexed()


def _on_stray(token: Token) -> Token:
    _current.strays.append(token)
    return token


def _on_string(token: Token) -> Token:
    if "\n" in token.value:
        _current.open_string = token
    return token


@functools.cache
def _parser() -> tuple[Lark, ErrorWording]:
    text = (grammar_dir() / "opensips.lark").read_text(encoding="utf-8")
    lark = Lark(
        text,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        start=["start", "stmts"],
        lexer_callbacks={"STRAY": _on_stray, "STRING": _on_string},
    )
    return lark, ErrorWording(lark.terminals)


def _parse_tree(text: str, filename: str, start: str) -> tuple[Tree[Token], list[SyntaxProblem]]:
    global _current
    lark, wording = _parser()
    saved = _current
    _current = _Lexed()
    try:
        lines = _lines(text)
        problems = _syntax_errors(lark, wording, text, filename, start, lines)
        if isinstance(problems, list):
            raise ScriptSyntaxError(problems)
        tree = problems
        warnings = [
            SyntaxProblem(
                Pos(filename, tok.line or 0, tok.column or 0),
                f"stray character {tok.value!r} ignored (OpenSIPS skips it too)",
                lines[(tok.line or 1) - 1].expandtabs(1) if tok.line and tok.line <= len(lines) else "",
            )
            for tok in _current.strays
        ]
        return tree, warnings
    finally:
        _current = saved


def _lines(text: str) -> list[str]:
    """The lines as Lark counts them: split at "\n" only (splitlines() also splits at form feeds
    and other separators, which would shift every line number after one)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


MAX_SYNTAX_ERRORS = 20

# A line that starts a top-level item at its first column: after a syntax error the rest of the
# file is parsed again from the next such line, so errors in later items are reported too.
_TOP_LEVEL_LINE = re.compile(
    r"^(?:(?:route|failure_route|onreply_route|branch_route|error_route|local_route|startup_route|"
    r"timer_route|event_route)\b|loadmodule\b|modparam\b|[A-Za-z_][A-Za-z0-9_-]*[ \t]*=(?!=))"
)


def _syntax_errors(
    lark: Lark, wording: ErrorWording, text: str, filename: str, start: str, lines: list[str]
) -> Tree[Token] | list[SyntaxProblem]:
    """The tree, or every syntax error found (at most MAX_SYNTAX_ERRORS).

    Two recoveries, both safe: a missing ';' (the parser accepts ';' and then the token it stopped
    at) is reported and parsing goes on as if it were there; any other error is reported and the
    text is parsed again from the next top-level item, with everything before it blanked so that
    lines and columns stay those of the file."""
    problems: list[SyntaxProblem] = []
    source = text
    last_resume = 0
    while True:
        semicolons = _MissingSemicolons(wording, filename, lines, MAX_SYNTAX_ERRORS - 1 - len(problems))
        try:
            tree = lark.parse(source, start=start, on_error=semicolons)
        except UnexpectedInput as error:
            _precise_expectations(error)
            problems.extend(semicolons.found)
            at_end = "$END" in str(error) or "end of" in str(error)
            brace = _first_unclosed_brace(lark, source) if at_end else None
            problems.append(describe(error, wording, filename, lines, _current.open_string, brace))
            if at_end or start != "start" or len(problems) >= MAX_SYNTAX_ERRORS:
                return problems
            resume = _resume_line(error, lines, last_resume)
            if resume is None:
                return problems
            last_resume = resume
            source = _blank_before(text, resume)
            _current.open_string = None
            continue
        problems.extend(semicolons.found)
        return problems if problems else tree


class _MissingSemicolons:
    """Lark's on_error: where the parser stopped at a token that it would take after a ';', the
    ';' is reported missing and parsing goes on as if it were there."""

    def __init__(self, wording: ErrorWording, filename: str, lines: list[str], budget: int) -> None:
        self.wording = wording
        self.filename = filename
        self.lines = lines
        self.budget = budget
        self.found: list[SyntaxProblem] = []

    def __call__(self, error: UnexpectedInput) -> bool:
        if len(self.found) >= self.budget:
            return False
        if not isinstance(error, UnexpectedToken) or error.token.type == "$END":
            return False
        parser = error.interactive_parser
        if parser is None or "SEMICOLON" not in error.expected:
            return False
        _precise_expectations(error)  # before the ';' goes in: the words describe the stop
        problem = describe(error, self.wording, self.filename, self.lines, _current.open_string)
        if "SEMICOLON" in error.expected and _insert_semicolon(parser, error.token):
            self.found.append(problem)
            return True
        return False


def _resume_line(error: UnexpectedInput, lines: list[str], last_resume: int) -> int | None:
    """Where to parse again after `error`: the next line starting a top-level item. When the
    parser was inside a block and the error line itself starts one (`route[b] {` after a block
    left open), that line."""
    line = getattr(error, "line", 0) or 0
    token = getattr(error, "token", None)
    left_open = "RBRACE" in getattr(error, "expected", ()) or (
        # `route[x] {` read as a route(...) call inside the block above
        token is not None and token.type in ("LSQB", "LBRACE") and 0 < line <= len(lines)
        and _TOP_LEVEL_LINE.match(lines[line - 1]) is not None
    )
    resume = _next_top_level(lines, line - 1 if left_open else line)
    if resume is not None and resume <= last_resume:
        resume = _next_top_level(lines, last_resume)
    return resume


def _precise_expectations(error: UnexpectedInput) -> None:
    """LALR merges lookaheads, so the terminals Lark lists as expected may include some the parser
    would refuse (`;` inside `if (...`); ask the parser which it really accepts."""
    parser = getattr(error, "interactive_parser", None)
    if isinstance(error, UnexpectedToken) and parser is not None:
        with contextlib.suppress(Exception):
            accepted = parser.accepts()
            if accepted:
                error.expected = accepted


def _insert_semicolon(parser: InteractiveParser, token: Token) -> bool:
    semicolon = Token.new_borrow_pos("SEMICOLON", ";", token)
    trial = parser.copy(deepcopy_values=False)  # type: ignore[no-untyped-call]
    try:
        trial.feed_token(semicolon)
        trial.feed_token(token)
    except UnexpectedInput:
        return False
    parser.feed_token(semicolon)
    parser.feed_token(token)
    return True


def _next_top_level(lines: list[str], after: int) -> int | None:
    for number in range(max(after, 1) + 1, len(lines) + 1):
        if _TOP_LEVEL_LINE.match(lines[number - 1]):
            return number
    return None


def _blank_before(text: str, line: int) -> str:
    """The text with every character before `line` (1-based) turned into a space, newlines kept."""
    offset = 0
    for _ in range(line - 1):
        offset = text.find("\n", offset) + 1
        if offset == 0:
            return re.sub(r"[^\n]", " ", text)
    return re.sub(r"[^\n]", " ", text[:offset]) + text[offset:]


def _first_unclosed_brace(lark: Lark, text: str) -> Token | None:
    """The outermost '{' left open at the end of the text (strings and comments skipped)."""
    stack: list[Token] = []
    try:
        for token in lark.lex(text, dont_ignore=False):
            if token.type == "LBRACE":
                stack.append(token)
            elif token.type == "RBRACE" and stack:
                stack.pop()
    except UnexpectedInput:
        return None
    return stack[0] if stack else None


def _resolve(target: str, including: str) -> Path | None:
    path = Path(target)
    if path.is_absolute():
        return path if path.is_file() else None
    beside = Path(including).parent / path
    if beside.is_file():
        return beside
    return path if path.is_file() else None


class _Context(IncludeContext):
    """Shared by a file and everything it includes."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.seen: set[Path] = set()
        self.warnings: list[SyntaxProblem] = []
        self.depth = 0

    def include(self, target: str, pos: Pos, once: bool, as_statements: bool) -> list[object]:
        path = _resolve(target, pos.file)
        if path is None:
            raise TreeError(pos, f"cannot find the included file {target!r} (looked beside {pos.file} "
                                 "and in the working directory)")
        key = path.resolve()
        if once and key in self.seen:
            return []
        if self.depth >= MAX_INCLUDE_DEPTH:
            raise TreeError(
                pos, f"includes nest more than {MAX_INCLUDE_DEPTH} deep (a file includes itself?)"
            )
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise TreeError(pos, f"cannot read the included file {str(path)!r}: {error.strerror}") from None
        self.depth += 1
        try:
            return _parse_source(text, str(path), self, "stmts" if as_statements else "start")
        finally:
            self.depth -= 1


def _parse_source(text: str, filename: str, context: _Context, start: str) -> list[object]:
    context.files.append(filename)
    with contextlib.suppress(OSError):
        context.seen.add(Path(filename).resolve())
    tree, warnings = _parse_tree(text, filename, start)
    context.warnings.extend(warnings)
    builder = Builder(filename, text, context)
    items = builder.items(tree)
    if builder.problems:
        raise ScriptSyntaxError(builder.problems)
    return items


def parse_text(text: str, filename: str = "<string>") -> Script:
    """Parse a whole script given as text; includes are looked up relative to `filename`."""
    context = _Context()
    items = _parse_source(text, filename, context, "start")
    return Builder.script(items, context.files, context.warnings)


def parse_file(path: str | Path) -> Script:
    """Parse the script file at `path` and every file it includes."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ScriptSyntaxError(
            [SyntaxProblem(Pos(str(source), 0, 0), f"cannot read the script: {error.strerror}")]
        ) from None
    return parse_text(text, str(source))
