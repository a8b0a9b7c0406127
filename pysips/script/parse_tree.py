"""Lark tree -> syntax tree (ast.py) for one file.

Every node gets the file, line and column of its first token. Errors found here (a malformed
pseudo-variable, a bad socket spec, two `default:` in a switch) are collected so that one run
reports them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from lark import Token, Tree

from pysips.script import ast as A
from pysips.script.parse_pv import PVSyntaxError, parse_pv_token, string_value
from pysips.script.parse_values import (
    NO_WORDS,
    YES_WORDS,
    ValueSyntaxError,
    ip_literal,
    param_value,
    parse_int,
)

if TYPE_CHECKING:
    from lark.tree import Meta

Node = Tree[Token]
Child = Tree[Token] | Token

# Bare words that name a message property in old-style conditions (`uri == myself`).
CORE_KEYWORDS = frozenset(
    {"method", "uri", "from_uri", "to_uri", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "af",
     "status", "retcode", "max_len"}
)

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", '"': '"', "\\": "\\"}

_ROUTE_KINDS = {kind.value: kind for kind in A.RouteKind}


class TreeError(Exception):
    def __init__(self, pos: A.Pos, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


class IncludeContext(Protocol):
    def include(self, target: str, pos: A.Pos, once: bool, as_statements: bool) -> list[object]: ...


def unescape(raw: str) -> tuple[str, list[int]]:
    """A STRING token's value, and for each character of it the offset in `raw` it came from.

    Double quotes take OpenSIPS's escapes (\\" \\\\ \\n \\r \\t \\a \\xHH \\NNN, and a backslash
    before a line end joins the lines); any other backslash stays, so regular expressions keep
    theirs. Single quotes take nothing.
    """
    body = raw[1:-1]
    if raw[0] == "'" or "\\" not in body:
        return body, list(range(1, len(body) + 1))
    out: list[str] = []
    where: list[int] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == "\\" and i + 1 < n:
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                where.append(i + 1)
                i += 2
                continue
            if nxt == "\n":
                i += 2
                continue
            if nxt == "\r" and i + 2 < n and body[i + 2] == "\n":
                i += 3
                continue
            if nxt == "x":
                j = i + 2
                while j < n and j < i + 4 and body[j] in "0123456789abcdefABCDEF":
                    j += 1
                if j > i + 2:
                    out.append(chr(int(body[i + 2 : j], 16)))
                    where.append(i + 1)
                    i = j
                    continue
            j = i + 1
            while j < n and j < i + 4 and body[j] in "01234567":
                j += 1
            if j - (i + 1) >= 2:
                out.append(chr(int(body[i + 1 : j], 8) & 0xFF))
                where.append(i + 1)
                i = j
                continue
        out.append(c)
        where.append(i + 1)
        i += 1
    return "".join(out), where


class Builder:
    """Converts the Lark tree of one file."""

    def __init__(self, filename: str, text: str, includes: IncludeContext) -> None:
        self.file = filename
        self.text = text
        self.includes = includes
        self.problems: list[A.SyntaxProblem] = []
        self._lines: list[str] | None = None
        self._stmt: dict[str, Callable[[Node], A.Stmt | list[A.Stmt] | None]] = {
            "if_stmt": self._if,
            "while_stmt": self._while,
            "foreach_stmt": self._foreach,
            "switch_stmt": self._switch,
            "block": self._block,
            "assign": self._assign,
            "call_stmt": self._call_stmt,
            "return_plain": lambda t: A.Return(None, self._pos(t)),
            "return_value": lambda t: A.Return(self.expr(t.children[0]), self._pos(t)),
            "return_many": self._return_many,
            "exit_stmt": lambda t: A.Exit(self._pos(t)),
            "drop_stmt": lambda t: A.Drop(self._pos(t)),
            "break_stmt": lambda t: A.Break(self._pos(t)),
            "async_stmt": self._async,
            "launch_stmt": self._launch,
            "assert_stmt": self._assert,
            "empty_stmt": lambda t: None,
            "include": self._include_stmts,
        }
        self._expr: dict[str, Callable[[Node], A.Expr]] = {
            "binop": self._binop,
            "not_op": lambda t: A.UnOp("!", self.expr(t.children[-1]), self._pos(t)),
            "bitnot_op": lambda t: A.UnOp("~", self.expr(t.children[0]), self._pos(t)),
            "neg_op": self._neg,
            "pvar": lambda t: self._pvar(_tok(t.children[0])),
            "number": lambda t: A.IntLit(parse_int(str(t.children[0])), self._pos(t)),
            "string": self._string,
            "word": lambda t: self._word(_tok(t.children[0]), in_args=False),
            "hostname": lambda t: A.StrLit(str(t.children[0]), self._pos(t)),
            "ipaddr": self._ipaddr,
            "msglen": lambda t: A.CoreKeyword("msg:len", self._pos(t)),
            "call": self._call,
            "route_call": self._route_call,
            "socket_arg": self._socket_arg,
        }

    # ------------------------------------------------------------------------------- helpers

    def _pos(self, node: Child) -> A.Pos:
        if isinstance(node, Token):
            return A.Pos(self.file, node.line or 0, node.column or 0)
        meta: Meta = node.meta
        if getattr(meta, "empty", True):
            return A.Pos(self.file, 0, 0)
        return A.Pos(self.file, meta.line, meta.column)

    def _line(self, number: int) -> str:
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines[number - 1].expandtabs(1) if 0 < number <= len(self._lines) else ""

    def problem(self, pos: A.Pos, message: str) -> None:
        self.problems.append(A.SyntaxProblem(pos, message, self._line(pos.line)))

    def _pos_in(self, token: Token, offset: int) -> A.Pos:
        """Position of the character `offset` characters into a token's text."""
        raw = str(token)
        line = token.line or 0
        col = token.column or 0
        newline = raw.rfind("\n", 0, offset)
        if newline == -1:
            return A.Pos(self.file, line, col + offset)
        return A.Pos(self.file, line + raw.count("\n", 0, offset), offset - newline)

    # ------------------------------------------------------------------------------- top level

    @staticmethod
    def script(items: list[object], files: list[str], warnings: list[A.SyntaxProblem]) -> A.Script:
        top = tuple(i for i in items if isinstance(i, A.GlobalParam | A.LoadModule | A.ModParam | A.Route))
        return A.Script(top, tuple(files), tuple(warnings))

    def items(self, tree: Node) -> list[object]:
        """The items of a parsed file: top-level items, or statements for a file included inside a
        route block."""
        out: list[object] = []
        if tree.data == "stmts":
            out.extend(self._stmts(tree.children))
            return out
        handlers: dict[str, Callable[[Node], object]] = {
            "param": self._param,
            "loadmodule": lambda t: A.LoadModule(self._str_token(_tok(t.children[0])), self._pos(t)),
            "modparam": self._modparam,
            "route_def": self._route_def,
        }
        for child in tree.children:
            if not isinstance(child, Tree):
                continue
            try:
                if child.data == "include":
                    out.extend(self._include(child, as_statements=False))
                else:
                    out.append(handlers[child.data](child))
            except TreeError as error:
                self.problem(error.pos, error.message)
        return out

    def _include(self, tree: Node, *, as_statements: bool) -> list[object]:
        from pysips.script.parse import ScriptSyntaxError

        keyword = _tok(tree.children[0])
        target = self._str_token(_tok(tree.children[1]))
        try:
            once = str(keyword) == "import_file"
            return self.includes.include(target, self._pos(tree), once, as_statements)
        except ScriptSyntaxError as error:
            self.problems.extend(error.problems)
            return []

    def _include_stmts(self, tree: Node) -> list[A.Stmt]:
        return [s for s in self._include(tree, as_statements=True) if isinstance(s, A.Stmt)]

    def _param(self, tree: Node) -> A.GlobalParam:
        name = _tok(tree.children[0])
        atoms = [_tok(c.children[0]) for c in tree.children[1:] if isinstance(c, Tree)]
        start = atoms[0].start_pos or 0
        end = atoms[-1].end_pos or start
        raw = self.text[start:end].strip()
        kinds = [a.type for a in atoms]
        values = [self._str_token(a) if a.type == "STRING" else str(a) for a in atoms]
        pos = self._pos(name)
        if str(name).lower() not in ("alias", "auto_scaling_profile"):
            first_line = atoms[0].line
            stray = next((a for a in atoms if a.line != first_line), None)
            if stray is not None:
                raise TreeError(self._pos(stray), f"unexpected {str(stray)!r}: '{name}=' takes one value "
                                                  "and the next line should start a new item")
        try:
            value = param_value(str(name), raw, kinds, values, self._pos(atoms[0]))
        except ValueSyntaxError as error:
            raise TreeError(self._pos(atoms[0]), f"{name}: {error.message}") from None
        return A.GlobalParam(str(name), value, pos)

    def _modparam(self, tree: Node) -> A.ModParam:
        module, name, value_tree = (c for c in tree.children if isinstance(c, Tree))
        value: int | str
        kind = value_tree.data
        if kind == "modparam_value":
            value = self._folded(_node(value_tree.children[0]))
        elif kind == "mp_number":
            value = parse_int(str(value_tree.children[-1]))
        elif kind == "mp_negative":
            value = -parse_int(str(value_tree.children[-1]))
        elif kind == "mp_pvar":
            value = str(value_tree.children[0])
        else:
            word = str(value_tree.children[0]).lower()
            if word in YES_WORDS:
                value = 1
            elif word in NO_WORDS:
                value = 0
            else:
                raise TreeError(
                    self._pos(value_tree),
                    f"a modparam value is a quoted string or a number, not the bare word {word!r}",
                )
        return A.ModParam(self._folded(module), self._folded(name), value, self._pos(tree))

    def _route_def(self, tree: Node) -> A.Route:
        kind_token = _tok(_node(tree.children[0]).children[0])
        kind = _ROUTE_KINDS[str(kind_token)]
        name: str | None = None
        options: list[int | str] = []
        body: A.Block | None = None
        for child in tree.children[1:]:
            if isinstance(child, Token):
                continue
            if child.data == "route_name":
                name = self._route_name(_tok(child.children[0]))
            elif child.data == "route_option":
                tok = _tok(child.children[0])
                options.append(parse_int(str(tok)) if tok.type == "NUMBER" else self._route_name(tok))
            elif child.data == "block":
                body = self._block(child)
        pos = self._pos(tree)
        if kind is A.RouteKind.REQUEST and name == "0":
            name = None  # route[0] is the main route in OpenSIPS
        if name is None and kind in (A.RouteKind.FAILURE, A.RouteKind.BRANCH, A.RouteKind.TIMER,
                                     A.RouteKind.EVENT):
            raise TreeError(pos, f"{kind.value} needs a name: {kind.value}[name] {{ ... }}")
        if kind is A.RouteKind.TIMER and (len(options) != 1 or not isinstance(options[0], int)):
            raise TreeError(pos, "timer_route takes a name and an interval in seconds: timer_route[name, 60]")
        if kind is A.RouteKind.EVENT and options and options != ["async"] and options != ["sync"]:
            raise TreeError(pos, "event_route takes a mode of 'sync' or 'async' after the event name")
        if kind not in (A.RouteKind.TIMER, A.RouteKind.EVENT) and options:
            raise TreeError(pos, f"{kind.value}[...] takes only a name")
        if kind in (A.RouteKind.ERROR, A.RouteKind.LOCAL, A.RouteKind.STARTUP) and name is not None:
            raise TreeError(pos, f"{kind.value} takes no name")
        return A.Route(kind, name, body or A.Block((), pos), tuple(options), pos)

    def _route_name(self, token: Token) -> str:
        if token.type == "STRING":
            return self._str_token(token)
        if token.type == "NUMBER":
            return str(parse_int(str(token)))
        return str(token)

    # ------------------------------------------------------------------------------- statements

    def _stmts(self, children: list[Child]) -> list[A.Stmt]:
        out: list[A.Stmt] = []
        for child in children:
            if not isinstance(child, Tree):
                continue
            try:
                result = self.stmt(child)
            except TreeError as error:
                self.problem(error.pos, error.message)
                continue
            if result is None:
                continue
            if isinstance(result, list):
                out.extend(result)
            else:
                out.append(result)
        return out

    def stmt(self, tree: Node) -> A.Stmt | list[A.Stmt] | None:
        return self._stmt[tree.data](tree)

    def _as_block(self, tree: Node) -> A.Block:
        result = self.stmt(tree)
        if isinstance(result, A.Block):
            return result
        if result is None:
            return A.Block((), self._pos(tree))
        stmts = tuple(result) if isinstance(result, list) else (result,)
        return A.Block(stmts, self._pos(tree))

    def _block(self, tree: Node) -> A.Block:
        return A.Block(tuple(self._stmts(tree.children)), self._pos(tree))

    def _if(self, tree: Node) -> A.If:
        parts = [c for c in tree.children if isinstance(c, Tree)]
        cond = self.expr(parts[0])
        then = self._as_block(parts[1])
        orelse = self._as_block(parts[2]) if len(parts) > 2 else None
        return A.If(cond, then, orelse, self._pos(tree))

    def _while(self, tree: Node) -> A.While:
        parts = [c for c in tree.children if isinstance(c, Tree)]
        return A.While(self.expr(parts[0]), self._as_block(parts[1]), self._pos(tree))

    def _foreach(self, tree: Node) -> A.ForEach:
        var, iterable = (self._pvar(_tok(c)) for c in tree.children[:2])
        return A.ForEach(var, iterable, self._as_block(_node(tree.children[2])), self._pos(tree))

    def _switch(self, tree: Node) -> A.Switch:
        subject = self.expr(_node(tree.children[0]))
        cases: list[A.Case] = []
        default: tuple[A.Stmt, ...] | None = None
        default_index = -1
        for item in tree.children[1:]:
            if not isinstance(item, Tree):
                continue
            if item.data == "default_item":
                if default is not None:
                    raise TreeError(self._pos(item), "a switch has more than one 'default:'")
                default = tuple(self._stmts(item.children))
                default_index = len(cases)
                continue
            value_tree = _node(item.children[0])
            value = self._case_value(value_tree)
            cases.append(A.Case(value, tuple(self._stmts(item.children[1:])), self._pos(item)))
        return A.Switch(subject, tuple(cases), default, default_index, self._pos(tree))

    def _case_value(self, tree: Node) -> A.Expr:
        token = _tok(tree.children[-1])
        pos = self._pos(tree)
        if tree.data == "case_string":
            return A.StrLit(self._str_token(token), pos)
        if tree.data == "case_number":
            return A.IntLit(parse_int(str(token)), pos)
        if tree.data == "case_negative":
            return A.IntLit(-parse_int(str(token)), pos)
        return A.Ident(str(token), pos)

    def _assign(self, tree: Node) -> A.Assign:
        target = self._pvar(_tok(tree.children[0]))
        op = str(_tok(_node(tree.children[1]).children[0]))
        value = self.expr(_node(tree.children[2]))
        if target.transforms:
            raise TreeError(target.pos, "a pseudo-variable with transformations cannot be assigned to")
        return A.Assign(target, op, value, self._pos(tree))

    def _call_stmt(self, tree: Node) -> A.ExprStmt:
        return A.ExprStmt(self.expr(_node(tree.children[0])), self._pos(tree))

    def _return_many(self, tree: Node) -> A.Return:
        values = [self.expr(c) for c in tree.children if isinstance(c, Tree)]
        return A.Return(values[0], self._pos(tree), extra=tuple(values[1:]))

    def _async(self, tree: Node) -> A.Async:
        parts = [c for c in tree.children if isinstance(c, Tree)]
        call = self._call(parts[0])
        route = self._route_name(_tok(parts[1].children[0]))
        timeout = self.expr(parts[2]) if len(parts) > 2 else None
        return A.Async(call, route, timeout, self._pos(tree))

    def _launch(self, tree: Node) -> A.Launch:
        parts = [c for c in tree.children if isinstance(c, Tree)]
        call = self._call(parts[0])
        route = self._route_name(_tok(parts[1].children[0])) if len(parts) > 1 else None
        param = self.expr(parts[2]) if len(parts) > 2 else None
        return A.Launch(call, route, param, self._pos(tree))

    def _assert(self, tree: Node) -> A.Assert:
        parts = [c for c in tree.children if isinstance(c, Tree)]
        message = self.expr(parts[1]) if len(parts) > 1 else None
        return A.Assert(self.expr(parts[0]), message, self._pos(tree))

    # ------------------------------------------------------------------------------- expressions

    def expr(self, tree: Child) -> A.Expr:
        if isinstance(tree, Token):
            raise TreeError(self._pos(tree), f"unexpected {tree.value!r}")
        return self._expr[tree.data](tree)

    def _binop(self, tree: Node) -> A.BinOp:
        left, op_tree, right = tree.children
        op = str(_tok(_node(op_tree).children[0]))
        op = {"and": "&&", "or": "||"}.get(op, op)
        return A.BinOp(op, self.expr(left), self.expr(right), self._pos(tree))

    def _neg(self, tree: Node) -> A.Expr:
        operand = self.expr(tree.children[0])
        if isinstance(operand, A.IntLit):
            return A.IntLit(-operand.value, self._pos(tree))
        return A.UnOp("-", operand, self._pos(tree))

    def _pvar(self, token: Token) -> A.PVar:
        try:
            return parse_pv_token(str(token), self._pos(token))
        except PVSyntaxError as error:
            raise TreeError(self._pos_in(token, error.offset), f"bad pseudo-variable {str(token)!r}: "
                                                              f"{error.message}") from None

    def _str_token(self, token: Token) -> str:
        return unescape(str(token))[0]

    def _folded(self, tree: Node) -> str:
        return "".join(self._str_token(_tok(c)) for c in tree.children)

    def _string(self, tree: Node) -> A.StrLit | A.StrTemplate:
        tokens = [_tok(c) for c in tree.children]
        first = tokens[0]
        pos = self._pos(first)
        if len(tokens) > 1:  # "a" "b": OpenSIPS folds adjacent strings
            return string_value("".join(self._str_token(t) for t in tokens), pos, lambda k: pos)
        value, where = unescape(str(first))

        def pos_at(k: int) -> A.Pos:
            return self._pos_in(first, where[k] if k < len(where) else len(str(first)) - 1)

        return string_value(value, pos, pos_at)

    def _word(self, token: Token, *, in_args: bool) -> A.Expr:
        word = str(token)
        pos = self._pos(token)
        lower = word.lower()
        if word in ("NULL", "null"):
            return A.NullLit(pos)
        if lower in YES_WORDS:
            return A.IntLit(1, pos)
        if lower in NO_WORDS:
            return A.IntLit(0, pos)
        if not in_args:
            if word == "myself":
                return A.Myself(pos)
            if word in CORE_KEYWORDS:
                return A.CoreKeyword(word, pos)
        return A.Ident(word, pos)

    def _ipaddr(self, tree: Node) -> A.Expr:
        token = _tok(tree.children[0])
        ip = ip_literal(str(token), self._pos(token))
        if ip is None:
            raise TreeError(self._pos(token), f"{str(token)!r} is not a valid IP address or network")
        return ip

    def _call(self, tree: Node) -> A.Call:
        name = _tok(tree.children[0])
        args: list[A.Expr] = []
        if len(tree.children) > 1:
            slots: list[list[Child]] = [[]]
            self._flatten_args(_node(tree.children[1]), slots)
            for slot in slots:
                if not slot:
                    args.append(A.NullLit(self._pos(name)))
                    continue
                item = slot[0]
                if isinstance(item, Tree) and item.data == "word":
                    args.append(self._word(_tok(item.children[0]), in_args=True))
                else:
                    args.append(self.expr(item))
        return A.Call(str(name), tuple(args), self._pos(tree))

    def _flatten_args(self, tree: Node, slots: list[list[Child]]) -> None:
        for child in tree.children:
            if isinstance(child, Token):
                if child.type == "COMMA":
                    slots.append([])
            elif child.data == "arglist":
                self._flatten_args(child, slots)
            else:
                slots[-1].append(child)

    def _socket_arg(self, tree: Node) -> A.StrLit:
        start = tree.meta.start_pos
        end = tree.meta.end_pos
        return A.StrLit(self.text[start:end], self._pos(tree))

    def _route_call(self, tree: Node) -> A.RouteCall:
        parts = [c for c in tree.children if isinstance(c, Tree)]
        token = _tok(parts[0].children[0])
        name = self._route_name(token)
        template: A.StrTemplate | None = None
        if token.type == "STRING":
            value = self._string(Tree("string", [token]))
            if isinstance(value, A.StrTemplate):
                template = value
        args = tuple(self.expr(p) for p in parts[1:])
        return A.RouteCall(name, args, self._pos(tree), name_template=template)


def _tok(child: Child) -> Token:
    if not isinstance(child, Token):
        raise TypeError(f"expected a token, got {child!r}")
    return child


def _node(child: Child) -> Node:
    if not isinstance(child, Tree):
        raise TypeError(f"expected a tree, got {child!r}")
    return child
