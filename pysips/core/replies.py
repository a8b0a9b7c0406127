"""Replies the engine builds itself: reason phrases, the stateless To tag, the last error.

The To tag of a stateless reply is a salted hash of what identifies the request (Call-ID, top Via
branch), so a retransmitted request gets the same tag, and the ACK to that reply can be
recognised (sl drops it) without keeping any state.
"""

from __future__ import annotations

import hashlib
import os

from pysips.script.context import RURI_Q_KEY, MsgContext
from pysips.sip.message import SipMessage
from pysips.sip.qvalue import q_text

REASONS: dict[int, str] = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 477: "Send Failed", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

# ctx.extra keys the engine reads
LAST_ERROR = "core.last_error"  # (status, reason) of the last failure, for sl_reply_error()
REPLY_HEADERS = "core.reply_headers"  # list[str]: headers every local reply carries (append_to_reply)
RURI_Q = RURI_Q_KEY  # float: the q of the R-URI the script set (lookup() sets the contact's)

_SECRET = os.urandom(16)
# The fixed part of every stateless To tag of this process: a 16-hex prefix, a dash, a suffix.
SL_TAG_PREFIX = hashlib.blake2b(b"sl", key=_SECRET, digest_size=8).hexdigest() + "-"
_SALT = _SECRET.hex()


def relayed_status(data: bytes, translate_503: bool) -> bytes:
    """A reply we relay, as OpenSIPS relays it: a 503 goes up as 500 (RFC 3261 16.7 step 6: the
    503 was about us, not about the caller), only the code, the reason phrase kept; the core
    parameter disable_503_translation turns this off."""
    if translate_503 and data.startswith(b"SIP/2.0 503"):
        return b"SIP/2.0 500" + data[11:]
    return data


def reason_for(status: int) -> str:
    return REASONS.get(status) or REASONS.get(status - status % 100, "Unknown")


def set_last_error(ctx: MsgContext, status: int, reason: str) -> None:
    """Record why processing failed, for a later sl_reply_error()."""
    ctx.extra[LAST_ERROR] = (status, reason)


def last_error(ctx: MsgContext) -> tuple[int, str]:
    found = ctx.extra.get(LAST_ERROR)
    if isinstance(found, tuple):
        return found
    # OpenSIPS's text for an unspecified internal error (E_UNSPEC, -1), signed by sl
    return 500, "Server error occurred (1/SL)"




def destination_set_header(ctx: MsgContext) -> str | None:
    """The Contact header a 3xx we send carries (OpenSIPS print_dset): the R-URI the script set,
    then every branch, each with its q when it has one."""
    parts: list[str] = []
    if ctx.new_ruri is not None:
        q = ctx.extra.get(RURI_Q)
        parts.append(f"<{ctx.new_ruri}>" + (f";q={q_text(q)}" if isinstance(q, float | int) else ""))
    for branch in ctx.branches:
        uri = branch.get("uri")
        if not uri:
            continue
        q = branch.get("q")
        parts.append(f"<{uri}>" + (f";q={q_text(q)}" if isinstance(q, float | int) else ""))
    return "Contact: " + ", ".join(parts) if parts else None


def add_reply_headers(ctx: MsgContext, lines: list[str]) -> None:
    """Headers (reply lumps) for every local reply to this request from now on."""
    queued = ctx.extra.get(REPLY_HEADERS)
    if not isinstance(queued, list):
        queued = ctx.extra[REPLY_HEADERS] = []
    queued.extend(lines)


def stateless_to_tag(msg: SipMessage) -> str:
    # Call-ID and top branch name the request (its retransmissions and, for a non-2xx reply, its
    # ACK share both); the process-salted built-in hash is enough within one worker and costs
    # nothing next to a keyed digest.
    via = msg.vias[0] if msg.vias else None
    branch = via.branch if via is not None and via.branch else ""
    return f"{SL_TAG_PREFIX}{hash((_SALT, msg.call_id, branch)) & 0xFFFFFFFF:08x}"


def is_stateless_tag(tag: str | None) -> bool:
    return tag is not None and tag.startswith(SL_TAG_PREFIX)
