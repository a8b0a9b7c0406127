"""The AVP operations of 2.x avpops (3.x scripts use assignments, transformations and `if`):
avp_printf, avp_subst, avp_check, avp_copy, avp_pushto, avp_op, avp_delete, is_avp_set,
avp_shuffle, avp_insert (avp_print() is a core function in pysips, as in OpenSIPS 3.x).

AVP values are newest first (`$avp(x)` is the last added). Without the `g` flag an operation
takes the newest value only; with it, every value.
"""

from __future__ import annotations

import fnmatch
import logging
import random
import re
from dataclasses import dataclass
from typing import Any

from pysips.script.context import MsgContext, Value
from pysips.script.corefuncs import new_branch
from pysips.script.errors import FixupError
from pysips.script.pv_base import PVAccessor
from pysips.script.pv_vars import avp_key
from pysips.script.pvparam import compile_param_pv
from pysips.script.transforms_misc import compile_subst

log = logging.getLogger("pysips.modules.avpops")


# ------------------------------------------------------------------ argument parsing (load time)


def _avp_name(text: str, what: str) -> str:
    token = text.strip()
    if not token.startswith("$avp("):
        raise FixupError(f"{what}: expected $avp(name), got {token!r}")
    compile_param_pv(token, what, writable=True)
    return avp_key(token)


def _split_flags(text: str, allowed: str) -> tuple[str, str]:
    """'body/flags' -> (body, flags) when the part after the last '/' is made of flag letters."""
    body, slash, tail = text.rpartition("/")
    if slash and tail and all(c in allowed for c in tail):
        return body, tail.lower()
    return text, ""


@dataclass(frozen=True, slots=True)
class Operand:
    """The value of an `op/value/flags` argument: a pseudo-variable, `i:N`, `s:text` or text."""

    constant: str | int | None = None
    variable: PVAccessor | None = None

    def value(self, ctx: MsgContext) -> Value:
        return self.variable.get(ctx) if self.variable is not None else self.constant


def _operand(text: str, what: str) -> Operand:
    if text.startswith("$"):
        return Operand(variable=compile_param_pv(text, what))
    if text[:2].lower() == "i:":
        try:
            return Operand(constant=int(text[2:], 0))
        except ValueError:
            raise FixupError(f"{what}: bad integer {text!r}") from None
    if text[:2].lower() == "s:":
        return Operand(constant=text[2:])
    return Operand(constant=text)


@dataclass(frozen=True, slots=True)
class OpValue:
    op: str
    operand: Operand
    flags: str


_CHECK_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "re", "fm", "and", "or", "xor")
_ARITH_OPS = ("add", "sub", "mul", "div", "mod", "and", "or", "xor", "not")


def _op_value(value: Any, ops: tuple[str, ...], flags: str, what: str) -> OpValue:
    text = str(value).strip()
    op, slash, rest = text.partition("/")
    op = op.strip().lower()
    if op not in ops:
        raise FixupError(f"{what}: unknown operator {op!r} (expected {', '.join(ops)})")
    if not slash:
        if op != "not":
            raise FixupError(f"{what}: {op!r} needs a value: {op}/value")
        return OpValue(op, Operand(), "")
    body, found_flags = _split_flags(rest, flags)
    return OpValue(op, _operand(body, what), found_flags)


def fix_check(value: Any, fctx: Any = None) -> OpValue:
    return _op_value(value, _CHECK_OPS, "gGiI", "avp_check")


def fix_arith(value: Any, fctx: Any = None) -> OpValue:
    return _op_value(value, _ARITH_OPS, "gGdD", "avp_op")


def fix_any_pv(value: Any, fctx: Any = None) -> tuple[PVAccessor, str]:
    """'$avp(x)[/g]' or any readable variable ('$fd'), with its flags."""
    body, flags = _split_flags(str(value).strip(), "gG")
    return compile_param_pv(body, "avpops variable"), flags


def fix_writable_pv(value: Any, fctx: Any = None) -> PVAccessor:
    return compile_param_pv(str(value), "avpops destination", writable=True)


@dataclass(frozen=True, slots=True)
class Pair:
    """'$avp(src)[/$avp(dst)][/flags]' of avp_subst, avp_op and avp_copy."""

    src: str
    dst: str | None
    flags: str


def _pair(text: str, flags: str, what: str, need_dst: bool) -> Pair:
    parts = [p.strip() for p in text.split("/")]
    found = ""
    if len(parts) > 1 and not parts[-1].startswith("$"):
        found = parts.pop().lower()
        if any(c not in flags for c in found):
            raise FixupError(f"{what}: unknown flags {found!r} (allowed: {flags})")
    if len(parts) > 2 or (need_dst and len(parts) != 2):
        raise FixupError(f"{what}: expected $avp(src){'/$avp(dst)' if need_dst else '[/$avp(dst)]'}[/flags]")
    src = _avp_name(parts[0], what)
    dst = _avp_name(parts[1], what) if len(parts) == 2 else None
    return Pair(src, dst, found)


def fix_subst_pair(value: Any, fctx: Any = None) -> Pair:
    return _pair(str(value), "gGdD", "avp_subst", need_dst=False)


def fix_op_pair(value: Any, fctx: Any = None) -> Pair:
    return _pair(str(value), "", "avp_op", need_dst=False)


def fix_copy_src(value: Any, fctx: Any = None) -> str:
    return _avp_name(str(value), "avp_copy")


def fix_avp_name(value: Any, fctx: Any = None) -> str:
    """'$avp(x)', or 2.4's bare 'avp(x)'."""
    text = str(value).strip()
    return _avp_name(text if text.startswith("$") else f"${text}", "avp name")


def fix_copy_dst(value: Any, fctx: Any = None) -> Pair:
    body, flags = _split_flags(str(value).strip(), "gGdDnNsS")
    return Pair("", _avp_name(body, "avp_copy"), flags)


@dataclass(frozen=True, slots=True)
class Selection:
    """avp_delete / is_avp_set argument: one AVP, or (None) every AVP; with its flags."""

    avp: str | None
    flags: str


def fix_selection(value: Any, fctx: Any = None) -> Selection:
    body, flags = _split_flags(str(value).strip(), "gGesnESN")
    if body.startswith("$"):
        return Selection(_avp_name(body, "avp name"), flags)
    if body and body[0] in "*sSiIaA":
        return Selection(None, flags)
    raise FixupError(f"expected $avp(name) or one of * s i a, got {body!r}")


@dataclass(frozen=True, slots=True)
class PushTarget:
    where: str  # "ru", "du" or "br"
    part: str  # "", "username" or "domain" (for ru)


def fix_push_target(value: Any, fctx: Any = None) -> PushTarget:
    text = str(value).strip()
    head, _, part = text.partition("/")
    part = part.strip().lower()
    head = head.strip()
    if head not in ("$ru", "$du", "$br") or (part and (head != "$ru" or part not in ("username", "domain"))):
        raise FixupError(f"avp_pushto: destination must be $ru[/username|/domain], $du or $br, got {text!r}")
    return PushTarget(head[1:], part)


# ------------------------------------------------------------------ helpers


def _values(ctx: MsgContext, avp: str, every: bool) -> list[str | int]:
    found = ctx.avps.get(avp) or []
    return list(found) if every else found[:1]


def _add(ctx: MsgContext, avp: str, value: str | int) -> None:
    ctx.avps.setdefault(avp, []).insert(0, value)


def _drop(ctx: MsgContext, avp: str, every: bool) -> None:
    values = ctx.avps.get(avp)
    if not values:
        return
    if every:
        del ctx.avps[avp]
        return
    del values[0]
    if not values:
        del ctx.avps[avp]


def _as_int(value: Value) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            return None
    return None


# ------------------------------------------------------------------ functions


def w_avp_printf(ctx: MsgContext, dest: PVAccessor, text: str) -> int:
    dest.set(ctx, text)
    return 1


def w_avp_subst(ctx: MsgContext, pair: Pair, subst: str) -> int:
    compiled = compile_subst(subst)
    if compiled is None:
        log.error("avp_subst: bad substitution %r (expected /regex/replacement/flags)", subst)
        return -1
    pattern, repl, count = compiled
    every = "g" in pair.flags
    values = ctx.avps.get(pair.src) or []
    done = 0
    for index, value in enumerate(list(values[: None if every else 1])):
        if not isinstance(value, str):
            continue
        try:
            result, n = pattern.subn(repl, value, count=count)
        except (re.error, IndexError) as exc:
            log.error("avp_subst: %s", exc)
            return -1
        if not n:
            continue
        done += 1
        if pair.dst is None or pair.dst == pair.src:
            values[index] = result
        else:
            _add(ctx, pair.dst, result)
    if done and "d" in pair.flags and pair.dst not in (None, pair.src):
        _drop(ctx, pair.src, every)
    return 1 if done else -1


def _check_one(check: OpValue, value: str | int, other: Value) -> bool:
    ignore_case = "i" in check.flags
    if check.op in ("re", "fm"):
        if other is None:
            return False
        text, pattern = str(value), str(other)
        if check.op == "fm":
            return fnmatch.fnmatchcase(text.lower(), pattern.lower()) if ignore_case \
                else fnmatch.fnmatchcase(text, pattern)
        try:
            return re.search(pattern, text, re.IGNORECASE if ignore_case else 0) is not None
        except re.error as exc:
            log.error("avp_check: bad regular expression %r: %s", pattern, exc)
            return False
    a: str | int
    b: str | int
    left, right = _as_int(value), _as_int(other)
    if (isinstance(value, int) or isinstance(other, int)) and left is not None and right is not None:
        a, b = left, right
    elif check.op in ("and", "or", "xor"):
        return False  # bitwise on text is meaningless
    elif isinstance(value, int) or isinstance(other, int) or other is None:
        return False  # a number against a text that is not one
    else:
        a, b = (str(value).lower(), str(other).lower()) if ignore_case else (str(value), str(other))
    if check.op == "eq":
        return a == b
    if check.op == "ne":
        return a != b
    if isinstance(a, int) and isinstance(b, int):
        if check.op == "and":
            return (a & b) != 0
        if check.op == "or":
            return (a | b) != 0
        if check.op == "xor":
            return (a ^ b) != 0
    return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[check.op]  # type: ignore[operator]


def w_avp_check(ctx: MsgContext, subject: tuple[PVAccessor, str], check: OpValue) -> int:
    variable, name_flags = subject
    every = "g" in check.flags or "g" in name_flags
    values = variable.get_all(ctx) if every else [variable.get(ctx)]
    other = check.operand.value(ctx)
    for value in values:
        if value is not None and _check_one(check, value, other):
            return 1
    return -1


def w_avp_copy(ctx: MsgContext, src: str, dst: Pair) -> int:
    every = "g" in dst.flags
    values = _values(ctx, src, every)
    if not values or dst.dst is None:
        return -1
    for value in values:  # newest first, each put in front: a list comes out reversed, as in OpenSIPS
        if "n" in dst.flags:
            number = _as_int(value)
            if number is None:
                log.error("avp_copy: %r is not a number", value)
                return -1
            value = number
        elif "s" in dst.flags:
            value = str(value)
        _add(ctx, dst.dst, value)
    if "d" in dst.flags and dst.dst != src:
        _drop(ctx, src, every)
    return 1


_RURI = compile_param_pv("$ru", "R-URI", writable=True)
_RURI_USER = compile_param_pv("$rU", "R-URI user", writable=True)
_RURI_HOST = compile_param_pv("$rd", "R-URI domain", writable=True)
_DST_URI = compile_param_pv("$du", "destination URI", writable=True)


def _ruri_with(ctx: MsgContext, part: str, value: str) -> str | None:
    """The R-URI as it would be with its user or domain replaced (the R-URI itself unchanged)."""
    before = _RURI.get(ctx)
    (_RURI_USER if part == "username" else _RURI_HOST).set(ctx, value)
    after = _RURI.get(ctx)
    if before is not None:
        _RURI.set(ctx, before)
    return None if after is None else str(after)


def w_avp_pushto(ctx: MsgContext, target: PushTarget, source: tuple[PVAccessor, str]) -> int:
    variable, flags = source
    values = variable.get_all(ctx) if "g" in flags else [variable.get(ctx)]
    values = [v for v in values if v is not None]
    if not values:
        return -1
    for position, raw in enumerate(values):
        value = str(raw)
        if target.where == "du":
            _DST_URI.set(ctx, value)
        elif target.where == "br":
            ctx.branches.append(new_branch(ctx, value, None))
        elif position == 0:
            if target.part == "username":
                _RURI_USER.set(ctx, value)
            elif target.part == "domain":
                _RURI_HOST.set(ctx, value)
            else:
                _RURI.set(ctx, value)
        else:
            # further values of a /g push become branches, as OpenSIPS appends them
            uri = _ruri_with(ctx, target.part, value) if target.part else value
            if uri is not None:
                ctx.branches.append(new_branch(ctx, uri, None))
    return 1


def _arith(op: str, a: int, b: int) -> int | None:
    if op in ("div", "mod") and b == 0:
        return None
    return {
        "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
        "div": lambda: int(a / b), "mod": lambda: a % b,
        "and": lambda: a & b, "or": lambda: a | b, "xor": lambda: a ^ b, "not": lambda: ~a,
    }[op]()


def w_avp_op(ctx: MsgContext, pair: Pair, arith: OpValue) -> int:
    every = "g" in arith.flags
    other = _as_int(arith.operand.value(ctx)) if arith.op != "not" else 0
    if other is None:
        log.error("avp_op: the operand is not an integer")
        return -1
    values = ctx.avps.get(pair.src) or []
    if not values:
        return -1
    results: list[int] = []
    for index, value in enumerate(list(values[: None if every else 1])):
        number = _as_int(value)
        if number is None:
            log.error("avp_op: %r is not an integer", value)
            return -1
        result = _arith(arith.op, number, other)
        if result is None:
            log.error("avp_op: division by zero")
            return -1
        if pair.dst is None or pair.dst == pair.src:
            values[index] = result
        else:
            results.append(result)
    for result in results:
        _add(ctx, pair.dst or pair.src, result)
    if "d" in arith.flags and pair.dst not in (None, pair.src):
        _drop(ctx, pair.src, every)
    return 1


def w_avp_delete(ctx: MsgContext, selection: Selection) -> int:
    if selection.avp is None:
        ctx.avps.clear()
    else:
        _drop(ctx, selection.avp, "g" in selection.flags)
    return 1


def w_is_avp_set(ctx: MsgContext, selection: Selection) -> int:
    names = [selection.avp] if selection.avp is not None else list(ctx.avps)
    for name in names:
        for value in ctx.avps.get(name) or []:
            if "e" in selection.flags and value != "":
                continue
            if "s" in selection.flags and not isinstance(value, str):
                continue
            if "n" in selection.flags and not isinstance(value, int):
                continue
            return 1
    return -1


def w_avp_shuffle(ctx: MsgContext, avp: str) -> int:
    """The AVP's values in a random order."""
    values = ctx.avps.get(avp)
    if values:
        random.shuffle(values)
    return 1


def w_avp_insert(ctx: MsgContext, avp: str, value: str, index: int) -> int:
    """2.4's avp_insert(): the value at position `index` (0 = newest), at the end past the last."""
    values = ctx.avps.setdefault(avp, [])
    values.insert(max(0, min(index, len(values))), value)
    return 1
