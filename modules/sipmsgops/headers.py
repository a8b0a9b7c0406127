"""Header-field functions of sipmsgops: presence, adding, removing (by name, regex or glob).

Every edit is a lump over the received message: what append_hf() adds is not seen by $hdr() or
is_present_hf() in the same route, and a removed header still reads as present, as in OpenSIPS.
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import re
from typing import Any

from pysips.script.context import MsgContext
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext
from pysips.script.posixre import compile_dynamic
from pysips.sip.headers import header_key
from pysips.sip.message import SipMessage

log = logging.getLogger("pysips.modules.sipmsgops")


def fix_header_name(value: Any, fctx: FixupContext) -> str:
    """A header name, canonicalised once (compact forms and case folded)."""
    name = str(value).strip()
    if not name or ":" in name or " " in name:
        raise FixupError(f"bad header name {value!r}")
    return header_key(name)


def fix_glob(value: Any, fctx: FixupContext) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(str(value)), re.IGNORECASE)


def _msg(ctx: MsgContext) -> SipMessage | None:
    msg = ctx.msg
    return msg if isinstance(msg, SipMessage) else None


def is_present_hf(ctx: MsgContext, key: str) -> int:
    msg = _msg(ctx)
    return 1 if msg is not None and msg.has_header(key) else -1


def _with_crlf(text: str) -> str:
    # OpenSIPS inserts the text verbatim; a missing CRLF would glue two header lines together.
    return text if not text or text.endswith("\r\n") else text + "\r\n"


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _add_next_to(msg: SipMessage, name: str, line: str, after: bool) -> bool:
    """Add `line` after (or before) the first `name` header; False when there is none."""
    spans = msg.header_spans(name)
    if not spans:
        return False
    at = spans[0][1] if after else spans[0][0]
    msg.add_lump(at, at, _encode(line))
    return True


def append_hf(ctx: MsgContext, text: str, after: str | None = None) -> int:
    """Add header line(s) after the last header, or after the first `after` header."""
    msg = _msg(ctx)
    if msg is None or not text:
        return -1
    line = _with_crlf(text)
    if after is None or not _add_next_to(msg, after, line, after=True):
        msg.append_header(line)
    return 1


def insert_hf(ctx: MsgContext, text: str, before: str | None = None) -> int:
    """Add header line(s) before the first header, or before the first `before` header."""
    msg = _msg(ctx)
    if msg is None or not text:
        return -1
    line = _with_crlf(text)
    if before is None or not _add_next_to(msg, before, line, after=False):
        msg.insert_header(line)
    return 1


def append_urihf(ctx: MsgContext, prefix: str, suffix: str) -> int:
    """append_hf(prefix + the received R-URI + suffix)."""
    msg = _msg(ctx)
    if msg is None or not msg.is_request:
        return -1
    msg.append_header(_with_crlf(prefix + msg.original_ruri + suffix))
    return 1


def remove_hf(ctx: MsgContext, key: str) -> int:
    msg = _msg(ctx)
    if msg is None:
        return -1
    return 1 if msg.remove_header(key) > 0 else -1


def _remove_matching(msg: SipMessage, matches: Any) -> int:
    seen: dict[str, int] = {}
    removed = 0
    for name in msg.header_names():
        key = header_key(name)
        nth = seen.get(key, 0)
        seen[key] = nth + 1
        if matches(name) and msg.remove_header_at(key, nth):
            removed += 1
    return removed


def remove_hf_re(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    msg = _msg(ctx)
    if msg is None:
        return -1
    return 1 if _remove_matching(msg, pattern.search) > 0 else -1


def remove_hf_glob(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    msg = _msg(ctx)
    if msg is None:
        return -1
    return 1 if _remove_matching(msg, pattern.match) > 0 else -1


def fix_remove_mode(value: Any, fctx: FixupContext) -> str:
    """The flags of the 2.x remove_hf(name, flags): "r" (a regex), "g" (a glob) or none."""
    mode = str(value or "").strip().lower()
    if mode not in ("", "r", "g"):
        raise FixupError(f'remove_hf() flags are "r" (regex) or "g" (glob), not {value!r}')
    if mode:
        three = "remove_hf_re" if mode == "r" else "remove_hf_glob"
        fctx.warnings.append(f'remove_hf(name, "{mode}") is the 2.x form; OpenSIPS 3.x writes {three}(name)')
    return mode


@functools.lru_cache(maxsize=128)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE)


def remove_hf_flags(ctx: MsgContext, name: str, mode: str) -> int:
    """2.x remove_hf(name, flags)."""
    if mode == "r":
        pattern = compile_dynamic(name)
        if pattern is None:
            log.error("remove_hf(): bad regular expression %r", name)
            return -1
        return remove_hf_re(ctx, pattern)
    if mode == "g":
        return remove_hf_glob(ctx, _glob(name))
    return remove_hf(ctx, header_key(name.strip()))


def append_to_reply(ctx: MsgContext, text: str) -> int:
    """Header line(s) for every reply this server sends to the request from now on."""
    from pysips.core.replies import add_reply_headers

    lines = [line for line in text.split("\r\n") if line]
    if not lines:
        return -1
    add_reply_headers(ctx, lines)
    return 1
