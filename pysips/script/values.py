"""Value semantics of script expressions: comparisons, arithmetic, truth.

OpenSIPS values carry flags: an integer (`5`, an integer `$var`) is "typed int" and also has a
string face; a string has only its string face. pysips values carry one type, int or str, and
follow OpenSIPS's rules (route.c comp_scriptvar/eval_elem, action.c do_assign), checked against
OpenSIPS 3.6 by tests/differential:
- against an integer constant, a string is an error (the condition is false either way);
  against a string constant an integer compares by its decimal text; two variables compare as
  integers when both are integers, else as strings (case-insensitively); NULL equals only NULL;
- `+` on a string concatenates (NULL reads as empty; an integer *literal* is refused); on an
  integer it adds, and a string operand is an error; a failed expression assigns nothing.
"""

from __future__ import annotations

import logging

from pysips.script.context import Value

log = logging.getLogger("pysips.script.core")

# eval results (OpenSIPS eval_expr): 1 true, 0 false, -1 error; EXPR_DROP ends the script.
EXPR_DROP = -127


def as_int(value: Value) -> int | None:
    """The integer a value stands for, or None (a NULL or a non-numeric string)."""
    if isinstance(value, int):
        return value
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return int(text, 10)
    except ValueError:
        return None


def to_str(value: Value) -> str:
    if value is None:
        return "<null>"
    return value if isinstance(value, str) else str(value)


def truth(value: Value) -> int:
    """A value alone in a condition: set and non-zero/non-empty."""
    if value is None:
        return 0
    if isinstance(value, int):
        return 1 if value != 0 else 0
    return 1 if value else 0


def _order(op: str, c: int) -> int:
    if op == "<":
        return 1 if c < 0 else 0
    if op == "<=":
        return 1 if c <= 0 else 0
    if op == ">":
        return 1 if c > 0 else 0
    return 1 if c >= 0 else 0


def _cmp_int(a: int, b: int) -> int:
    return (a > b) - (a < b)


def _cmp_str(a: str, b: str) -> int:
    la, lb = a.lower(), b.lower()
    return (la > lb) - (la < lb)


def compare(op: str, left: Value, right: Value) -> int:
    """`op` in == != < <= > >= between two variables; 1/0 (OpenSIPS comp_scriptvar)."""
    if left is None or right is None:
        both = left is None and right is None
        if op == "==":
            return 1 if both else 0
        if op == "!=":
            return 0 if both else 1
        return 0
    if isinstance(left, int) and isinstance(right, int):
        c = _cmp_int(left, right)
    else:
        # one of them has only a string face: both compare as strings
        c = _cmp_str(str(left), str(right))
    if op == "==":
        return 1 if c == 0 else 0
    if op == "!=":
        return 1 if c != 0 else 0
    return _order(op, c)


def compare_const(op: str, left: Value, const: str | int) -> int:
    """`$x op CONSTANT`: NULL is only different; a string against an integer constant is an
    error (-1, false whatever the operator); an integer against a string constant compares
    by its text."""
    if left is None:
        return 1 if op == "!=" else 0
    if isinstance(const, int):
        if not isinstance(left, int):
            log.warning("invalid %s operation: left is a string (%r), right is an integer", op, left)
            return -1
        c = _cmp_int(left, const)
    else:
        c = _cmp_str(str(left), const)
    if op == "==":
        return 1 if c == 0 else 0
    if op == "!=":
        return 1 if c != 0 else 0
    return _order(op, c)


class ExprError(Exception):
    """An expression with no value (bad operands): the assignment it feeds does nothing."""


def arith(op: str, left: Value, right: Value, right_literal: bool = False) -> Value:
    """Binary arithmetic/bitwise/concatenation as OpenSIPS eval_elem; ExprError when it fails.

    `right_literal`: the right operand is an integer written in the script, which (unlike an
    integer variable) has no string face to concatenate."""
    if isinstance(left, int):
        if right is None:
            right = 0
        if not isinstance(right, int):
            log.error("invalid numeric operands")
            raise ExprError(op)
        result = int_op(op, left, right)
        # OpenSIPS has already typed the result as an integer (0) when it meets a division by 0
        return 0 if result is None else result
    if op == "+":
        if right is None:
            right = ""
        if isinstance(right, int) and right_literal:
            log.error("invalid string operands")
            raise ExprError(op)
        return ("" if left is None else left) + str(right)
    if op in ("&", "|", "^") and left is not None and right is not None and not right_literal:
        a, b = left.encode("utf-8", "surrogateescape"), str(right).encode("utf-8", "surrogateescape")
        if len(a) != len(b):
            log.error("Different length string operands")
            raise ExprError(op)
        fn = {"&": int.__and__, "|": int.__or__, "^": int.__xor__}[op]
        return bytes(fn(x, y) for x, y in zip(a, b, strict=True)).decode("utf-8", "surrogateescape")
    log.error("invalid operator %r on string operands", op)
    raise ExprError(op)


def compound(op: str, current: Value, operand: Value) -> Value:
    """`x op= y` as OpenSIPS do_assign: NULL on either side is an error; two strings only
    concatenate (`+=`); two integers do arithmetic; mixed types are an error. None on error."""
    if current is None or operand is None:
        log.error("NULL value(s) in complex assignment expressions (+=, -=, etc.)")
        return None
    if isinstance(current, str) and isinstance(operand, str):
        if op != "+":
            log.error("only += applies to strings")
            return None
        return current + operand
    if isinstance(current, int) and isinstance(operand, int):
        return int_op(op, current, operand)
    log.error("invalid operands for %s=: %r and %r", op, current, operand)
    return None


def int_op(op: str, a: int, b: int) -> int | None:
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
    elif op in ("/", "%"):
        if b == 0:
            log.error("divide by 0")
            return None
        # C semantics: truncation toward zero
        q = abs(a) // abs(b)
        q = q if (a >= 0) == (b >= 0) else -q
        r = q if op == "/" else a - q * b
    elif op == "&":
        r = a & b
    elif op == "|":
        r = a | b
    elif op == "^":
        r = a ^ b
    elif op == "<<":
        r = a << (b & 31)  # the shift count is taken modulo 32, as x86 does for a C int
    elif op == ">>":
        r = a >> (b & 31)
    else:
        log.error("invalid integer operator %r", op)
        return None
    return wrap32(r)


def wrap32(n: int) -> int:
    """OpenSIPS integers are C ints: wrap to 32 bits signed."""
    n &= 0xFFFFFFFF
    return n - 0x100000000 if n & 0x80000000 else n
