"""textops: regular-expression search and replace over the message (OpenSIPS module `textops`).

search(re) looks at the whole received message, search_body(re) at the body. Edits (replace,
replace_all, search_append, subst and their _body forms) start after the first line, are lumps
over the received bytes, and return 1 when something changed, -1 otherwise. subst_uri/subst_user
rewrite the R-URI. Regexes are POSIX extended, case-insensitive, `^`/`$` at line boundaries;
subst expressions take their own flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pysips.script.context import MsgContext, RouteType
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    fallback_alias,
)
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

from .subst import SubstExpr, fix_subst

_ALL = RouteType.REQUEST | RouteType.ONREPLY | RouteType.FAILURE | RouteType.BRANCH | RouteType.LOCAL
_RURI = RouteType.REQUEST | RouteType.ONREPLY | RouteType.FAILURE | RouteType.BRANCH


def _fix_lines(value: Any, fctx: FixupContext) -> re.Pattern[str]:
    """REG_NEWLINE: `^`/`$` match at line boundaries (the compiler gives the case-insensitive
    pattern)."""
    pattern: re.Pattern[str] = value
    return re.compile(pattern.pattern, pattern.flags | re.MULTILINE)


_RE = ArgSpec(ArgKind.REGEX, "re", fixup=_fix_lines)
_TXT = ArgSpec(ArgKind.STR, "text")
_SUBST = ArgSpec(ArgKind.STR, "subst", static=True, fixup=fix_subst)


def _text(msg: SipMessage, start: int, end: int) -> str:
    # latin-1 keeps one character per byte, so match offsets are buffer offsets
    return msg.raw[start:end].decode("latin-1")


def _enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _body_start(msg: SipMessage) -> int:
    return msg.raw.find(b"\r\n\r\n") + 4


def _headers_region(msg: SipMessage) -> tuple[int, int]:
    """After the first line, to the end of the message (the body included)."""
    return msg.raw.find(b"\r\n") + 2, _body_start(msg) + len(msg.body)


def _body_region(msg: SipMessage) -> tuple[int, int] | None:
    if not msg.body:
        return None
    start = _body_start(msg)
    return start, start + len(msg.body)


def _msg(ctx: MsgContext) -> SipMessage | None:
    msg = ctx.msg
    return msg if isinstance(msg, SipMessage) else None


def search(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    msg = _msg(ctx)
    if msg is None:
        return -1
    return 1 if pattern.search(msg.raw.decode("latin-1")) else -1


def search_body(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    msg = _msg(ctx)
    if msg is None or not msg.body:
        return -1
    return 1 if pattern.search(msg.body.decode("latin-1")) else -1


Region = tuple[int, int] | None


def _matches(msg: SipMessage, region: Region, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
    if region is None:
        return iter(())
    return pattern.finditer(_text(msg, *region))


def _append_after_first(msg: SipMessage, region: Region, pattern: re.Pattern[str], text: str) -> int:
    for match in _matches(msg, region, pattern):
        assert region is not None
        at = region[0] + match.end()
        msg.add_lump(at, at, _enc(text))
        return 1
    return -1


def _replace(
    msg: SipMessage, region: tuple[int, int] | None, pattern: re.Pattern[str], text: str, every: bool
) -> int:
    done = 0
    for match in _matches(msg, region, pattern):
        assert region is not None
        if match.end() == match.start():
            continue  # an empty match would insert text at every position
        msg.add_lump(region[0] + match.start(), region[0] + match.end(), _enc(text))
        done += 1
        if not every:
            break
    return 1 if done else -1


def search_append(ctx: MsgContext, pattern: re.Pattern[str], text: str) -> int:
    msg = _msg(ctx)
    return -1 if msg is None else _append_after_first(msg, _headers_region(msg), pattern, text)


def search_append_body(ctx: MsgContext, pattern: re.Pattern[str], text: str) -> int:
    msg = _msg(ctx)
    return -1 if msg is None else _append_after_first(msg, _body_region(msg), pattern, text)


def replace(ctx: MsgContext, pattern: re.Pattern[str], text: str) -> int:
    msg = _msg(ctx)
    return -1 if msg is None else _replace(msg, _headers_region(msg), pattern, text, False)


def replace_all(ctx: MsgContext, pattern: re.Pattern[str], text: str) -> int:
    msg = _msg(ctx)
    return -1 if msg is None else _replace(msg, _headers_region(msg), pattern, text, True)


def replace_body(ctx: MsgContext, pattern: re.Pattern[str], text: str) -> int:
    msg = _msg(ctx)
    return -1 if msg is None else _replace(msg, _body_region(msg), pattern, text, False)


def replace_body_all(ctx: MsgContext, pattern: re.Pattern[str], text: str) -> int:
    msg = _msg(ctx)
    return -1 if msg is None else _replace(msg, _body_region(msg), pattern, text, True)


def _current_ruri(ctx: MsgContext, msg: SipMessage) -> str:
    return ctx.new_ruri or msg.ruri


def _subst_region(ctx: MsgContext, expr: SubstExpr, region: tuple[int, int] | None) -> int:
    msg = _msg(ctx)
    if msg is None or region is None:
        return -1
    ruri = _current_ruri(ctx, msg) if msg.is_request else ""
    done = 0
    for match in _matches(msg, region, expr.pattern):
        msg.add_lump(region[0] + match.start(), region[0] + match.end(), _enc(expr.expand(match, ruri)))
        done += 1
        if not expr.replace_all:
            break
    return 1 if done else -1


def subst(ctx: MsgContext, expr: SubstExpr) -> int:
    msg = _msg(ctx)
    return -1 if msg is None else _subst_region(ctx, expr, _headers_region(msg))


def subst_body(ctx: MsgContext, expr: SubstExpr) -> int:
    msg = _msg(ctx)
    return -1 if msg is None else _subst_region(ctx, expr, _body_region(msg))


def subst_uri(ctx: MsgContext, expr: SubstExpr) -> int:
    msg = _msg(ctx)
    if msg is None or not msg.is_request:
        return -1
    ruri = _current_ruri(ctx, msg)
    result, count = expr.apply(ruri, ruri)
    if not count:
        return -1
    ctx.new_ruri = result
    return 1


def subst_user(ctx: MsgContext, expr: SubstExpr) -> int:
    msg = _msg(ctx)
    if msg is None or not msg.is_request:
        return -1
    ruri = _current_ruri(ctx, msg)
    uri = parse_uri(ruri)
    if not isinstance(uri, SipUri) or uri.scheme == "tel":
        return -1
    user, count = expr.apply(uri.user or "", ruri)
    if not count:
        return -1
    ctx.new_ruri = uri.replace(user=user or None).text
    return 1


def _functions() -> tuple[FunctionExport, ...]:
    two = (_RE, _TXT)
    return (
        FunctionExport("search", search, (_RE,), _ALL, doc="the message matches the regex"),
        FunctionExport("search_body", search_body, (_RE,), _ALL, doc="the body matches the regex"),
        FunctionExport("search_append", search_append, two, _ALL, doc="insert text after the first match"),
        FunctionExport(
            "search_append_body", search_append_body, two, _ALL, doc="insert text after the first body match"
        ),
        FunctionExport("replace", replace, two, _ALL, doc="replace the first match (not in the first line)"),
        FunctionExport("replace_all", replace_all, two, _ALL, doc="replace every match (not the first line)"),
        FunctionExport("replace_body", replace_body, two, _ALL, doc="replace the first body match"),
        FunctionExport("replace_body_all", replace_body_all, two, _ALL, doc="replace every body match"),
        FunctionExport(
            "replace_body_atonce", replace_body_all, two, _ALL, doc="replace every match in the body"
        ),
        FunctionExport("subst", subst, (_SUBST,), _ALL, doc="sed-like '/re/repl/flags' on the headers"),
        FunctionExport("subst_uri", subst_uri, (_SUBST,), _RURI, doc="sed-like substitution on the R-URI"),
        FunctionExport("subst_user", subst_user, (_SUBST,), _RURI, doc="sed-like substitution on the user"),
        FunctionExport("subst_body", subst_body, (_SUBST,), _ALL, doc="sed-like substitution on the body"),
    )


# OpenSIPS 1.x (up to 1.7) exported these from textops; 1.8 moved them to sipmsgops. Old scripts
# that load only textops.so still call them.
_MOVED_TO_SIPMSGOPS = (
    "append_hf", "append_time", "append_to_reply", "append_urihf", "codec_delete",
    "codec_delete_except_re", "codec_delete_re", "codec_exists", "codec_exists_re", "codec_move_down",
    "codec_move_down_re", "codec_move_up", "codec_move_up_re", "has_body", "insert_hf",
    "is_audio_on_hold", "is_method", "is_present_hf", "is_privacy", "remove_hf",
)

exports = ModuleExports(
    "textops",
    functions=(*_functions(), *(fallback_alias(name, "sipmsgops") for name in _MOVED_TO_SIPMSGOPS)),
    doc="Text operations on the message. Also answers to the 1.x textops functions that moved to "
    "sipmsgops, when sipmsgops is not loaded.",
)
