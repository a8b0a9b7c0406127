"""Value semantics of script expressions: comparisons, arithmetic, truth.

OpenSIPS compares two integers as integers and two strings as strings, case-insensitively
(`$rm == "invite"` holds). Many of its pseudo-variables carry both an integer and a string form
($rs, $sp ...); pysips values carry one, so an integer meets a numeric string as integers and a
non-numeric string as strings. NULL equals only NULL.
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
    """`op` in == != < <= > >=; returns 1/0, or -1 when the operands cannot be compared."""
    if left is None or right is None:
        both = left is None and right is None
        if op == "==":
            return 1 if both else 0
        if op == "!=":
            return 0 if both else 1
        return 0
    if isinstance(left, int) and isinstance(right, int):
        c = _cmp_int(left, right)
    elif isinstance(left, str) and isinstance(right, str):
        if op == "==":
            return 1 if left.lower() == right.lower() else 0
        if op == "!=":
            return 0 if left.lower() == right.lower() else 1
        c = _cmp_str(left, right)
    else:
        li, ri = as_int(left), as_int(right)
        c = _cmp_int(li, ri) if li is not None and ri is not None else _cmp_str(str(left), str(right))
    if op == "==":
        return 1 if c == 0 else 0
    if op == "!=":
        return 1 if c != 0 else 0
    return _order(op, c)


def arith(op: str, left: Value, right: Value) -> Value:
    """Binary arithmetic/bitwise/concatenation as in OpenSIPS assignments; None on error."""
    if op == "+" and (isinstance(left, str) or (left is None and isinstance(right, str))):
        return (left or "") + ("" if right is None else str(right))
    li = as_int(left) if left is not None else None
    if li is None:
        log.error("invalid numeric operand %r for %r", left, op)
        return None
    ri = 0 if right is None else as_int(right)
    if ri is None:
        log.error("invalid numeric operand %r for %r", right, op)
        return None
    return int_op(op, li, ri)


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
        r = a << b
    elif op == ">>":
        r = a >> b
    else:
        log.error("invalid integer operator %r", op)
        return None
    # OpenSIPS integers are C ints: wrap to 32 bits signed
    r &= 0xFFFFFFFF
    return r - 0x100000000 if r & 0x80000000 else r
