"""stream_exists(media_re[, transport_re]) and stream_delete(media_re[, transport_re]): the media
streams of the message's SDP (OpenSIPS sipmsgops, codecs.c handle_streams).

As OpenSIPS walks its stream list, which holds the last m= line first, the stream found is the
LAST one of the SDP whose media (the word after "m=") matches the first regex and, when given,
whose transport ("RTP/AVP" ...) matches the second. stream_delete() removes that stream, from its
m= line up to the next one (or the end of the SDP); like OpenSIPS, which edits the received body,
it keeps finding that same stream afterwards and then answers false. The SDP is the application/sdp
body or multipart part; the result is written into the message body.
"""

from __future__ import annotations

import re
from typing import Any

from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

DELETED_KEY = "sipmsgops.deleted_streams"  # ctx.extra: (message, {start offsets of deleted streams})


def _sdp_span(msg: SipMessage) -> tuple[int, int] | None:
    body = msg.body
    ctype = (msg.header("content-type") or "").strip()
    media = ctype.split(";")[0].strip().lower()
    if not body:
        return None
    if media == "application/sdp":
        return 0, len(body)
    m = re.search(r'(?i)boundary\s*=\s*"?([^";]+)"?', ctype)
    if not media.startswith("multipart/") or m is None:
        return None
    delim = b"--" + m.group(1).encode("latin-1", "replace")
    pos = body.find(delim)
    while pos >= 0:
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end < 0 or body[pos + len(delim):pos + len(delim) + 2] == b"--":
            return None
        nxt = body.find(delim, head_end)
        end = (nxt - 2 if body[nxt - 2:nxt] == b"\r\n" else nxt) if nxt >= 0 else len(body)
        if b"application/sdp" in body[pos:head_end].lower():
            return head_end + 4, end
        pos = nxt
    return None


def _streams(sdp: bytes) -> list[tuple[int, int, str, str]]:
    """(start, end, media, transport) of each m= line's stream, in SDP order."""
    starts = [m.start() for m in re.finditer(rb"(?m)^m=", sdp)]
    out = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(sdp)
        words = sdp[start + 2:sdp.find(b"\n", start) if b"\n" in sdp[start:] else len(sdp)].split()
        media = words[0].decode("utf-8", "replace") if words else ""
        transport = words[2].decode("utf-8", "replace") if len(words) > 2 else ""
        out.append((start, end, media, transport))
    return out


def _find(msg: SipMessage, media_re: re.Pattern[str], transport_re: re.Pattern[str] | None) -> Any:
    span = _sdp_span(msg)
    if span is None:
        return None
    sdp = msg.body[span[0]:span[1]]
    for start, end, media, transport in reversed(_streams(sdp)):
        if media_re.search(media) and (transport_re is None or transport_re.search(transport)):
            return span, start, end
    return None


def stream_exists(
    ctx: MsgContext, media_re: re.Pattern[str], transport_re: re.Pattern[str] | None = None
) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    return 1 if _find(msg, media_re, transport_re) is not None else -1


def stream_delete(
    ctx: MsgContext, media_re: re.Pattern[str], transport_re: re.Pattern[str] | None = None
) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    found = _find(msg, media_re, transport_re)
    if found is None:
        return -1
    span, start, end = found
    state = ctx.extra.get(DELETED_KEY)
    if not isinstance(state, tuple) or state[0] is not msg:
        state = ctx.extra[DELETED_KEY] = (msg, {})
    deleted: dict[int, int] = state[1]
    if start in deleted:
        return -1  # this stream is already gone
    deleted[start] = end
    sdp = msg.body[span[0]:span[1]]
    kept, pos = [], 0
    for s in sorted(deleted):
        kept.append(sdp[pos:s])
        pos = deleted[s]
    kept.append(sdp[pos:])
    msg.set_body(msg.body[:span[0]] + b"".join(kept) + msg.body[span[1]:])
    return 1


RFC2543_HOLD = 1  # a null connection address
RFC3264_HOLD = 2  # a=sendonly or a=inactive


def is_audio_on_hold(ctx: MsgContext) -> int:
    """The hold type (1 or 2) of the first audio stream on hold, in SDP order; -1 when none."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    span = _sdp_span(msg)
    if span is None:
        return -1
    sdp = msg.body[span[0]:span[1]].decode("utf-8", "surrogateescape")
    lines = sdp.replace("\r\n", "\n").split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    session_c = next((line for line in lines[: starts[0] if starts else len(lines)]
                      if line.startswith("c=")), None)
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        words = lines[start][2:].split()
        if not words or words[0] != "audio":
            continue
        body = lines[start + 1:end]
        hold = 0
        if len(words) > 3:  # modes are read only for a stream with payloads
            for line in body:
                if line[:10].lower() in ("a=inactive", "a=sendonly"):
                    hold = RFC3264_HOLD
        if not hold:
            stream_c = next((line for line in body if line.startswith("c=")), None)
            conn = stream_c or session_c
            if conn is not None and conn.split()[-1:] == ["0.0.0.0"]:
                hold = RFC2543_HOLD
        if hold:
            return hold
    return -1
