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
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

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
        try:
            tree = lark.parse(text, start=start)
        except UnexpectedInput as error:
            lines = text.splitlines()
            at_end = "$END" in str(error) or "end of" in str(error)
            brace = _first_unclosed_brace(lark, text) if at_end else None
            raise ScriptSyntaxError(
                [describe(error, wording, filename, lines, _current.open_string, brace)]
            ) from None
        lines = text.splitlines()
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
