"""maxfwd: Max-Forwards processing (OpenSIPS module `maxfwd`).

mf_process_maxfwd_header(limit): when the request has no Max-Forwards, adds one with `limit` and
returns 2; when it is 0, returns -1 (the script then answers 483); otherwise decrements it (values
above `max_limit` are first lowered to it) and returns 1. is_maxfwd_lt(limit): true when the
header is present and below `limit`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ParamExport,
    ParamType,
)
from pysips.sip.message import SipMessage

log = logging.getLogger("pysips.modules.maxfwd")

UPPER_LIMIT = 256
_DIGITS = re.compile(rb"\d+").search
_STATE = "maxfwd"  # ctx.extra key: the value after our change, so a second call sees it


def _check_limit(value: Any) -> int:
    n = int(value)
    if not 1 <= n <= UPPER_LIMIT:
        raise FixupError(f"max_limit must be within [1, {UPPER_LIMIT}] (got {n})")
    return n


def _fix_limit(value: Any, fctx: FixupContext) -> int:
    n = int(value)
    max_limit = int(fctx.params.get("max_limit", UPPER_LIMIT))
    if not 1 <= n <= UPPER_LIMIT:
        raise FixupError(f"invalid Max-Forwards value {n} (must be within [1, {UPPER_LIMIT}])")
    if n > max_limit:
        raise FixupError(f"value {n} is bigger than max_limit ({max_limit})")
    return n


def _present(ctx: MsgContext) -> int:
    """The current value; -1 when the header is absent, -2 when it cannot be read."""
    cached = ctx.extra.get(_STATE)
    if cached is not None:
        return int(cached)
    msg = ctx.msg
    if msg is None:
        return -2
    if msg.max_forwards is not None:
        return msg.max_forwards  # 0-255, read by the parser from the same first header
    text = msg.header("Max-Forwards")
    if text is None:
        return -1
    text = text.strip()
    if not text.isdigit() or len(text) > 5:
        log.error("unable to parse the max forwards number %r", text)
        return -2
    return int(text)


def mf_process_maxfwd_header(ctx: MsgContext, limit: int) -> int:
    msg = ctx.msg
    if msg is None or not msg.is_request:
        return -2
    value = _present(ctx)
    if value == -1:
        msg.insert_header(f"Max-Forwards: {limit}")
        ctx.extra[_STATE] = limit
        return 2
    if value == -2:
        return -2
    if value == 0:
        return -1
    max_limit = int(ctx.process.modules.get("maxfwd", UPPER_LIMIT) or UPPER_LIMIT)
    if value > max_limit:
        value = max_limit + 1
    value -= 1
    _rewrite_in_place(msg, value)
    ctx.extra[_STATE] = value
    return 1


def _rewrite_in_place(msg: SipMessage, value: int) -> None:
    """Write the new value over the old digits, right-aligned and space-padded to their width,
    as OpenSIPS does: the header keeps its place and the message its length."""
    spans = msg.header_spans("Max-Forwards")
    if not spans:
        return
    start, end = spans[0]
    line = msg.raw[start:end]
    colon = line.find(b":")
    digits = _DIGITS(line, colon + 1) if colon >= 0 else None
    if digits is None:
        return
    at = digits.start()
    width = digits.end() - at
    text = str(value).encode().rjust(width)
    msg.add_lump(start + at, start + at + width, text)


def is_maxfwd_lt(ctx: MsgContext, limit: int) -> int:
    value = _present(ctx)
    if value < 0:
        return value - 1
    return -1 if value >= limit else 1


def _init(ictx: Any, params: dict[str, Any]) -> object:
    return int(params["max_limit"])


_LIMIT = ArgSpec(ArgKind.INT, "limit", fixup=_fix_limit)

exports = ModuleExports(
    "maxfwd",
    functions=(
        FunctionExport(
            "mf_process_maxfwd_header",
            mf_process_maxfwd_header,
            (_LIMIT,),
            RouteType.REQUEST,
            doc="add Max-Forwards (returns 2) or decrement it (1); -1 when it reached 0",
        ),
        FunctionExport(
            "is_maxfwd_lt",
            is_maxfwd_lt,
            (_LIMIT,),
            RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH,
            doc="true when Max-Forwards is present and lower than limit",
        ),
    ),
    params=(
        ParamExport(
            "max_limit",
            ParamType.INT,
            UPPER_LIMIT,
            check=_check_limit,
            doc="values above it are lowered to it before decrementing",
        ),
    ),
    init=_init,
    doc="Max-Forwards header processing.",
)
