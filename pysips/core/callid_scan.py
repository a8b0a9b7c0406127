"""The Call-ID of a raw SIP message, found without parsing it: what the main process hashes to
pick the worker that handles the message (pysips.core.workers).

Only the header section is scanned, line by line, for `Call-ID:` or its compact form `i:`
(names case-insensitive, spaces before the colon allowed, folded continuation lines ignored).
Anything odd gives None and the caller falls back to the source address: the worker it picks
parses the message properly and answers 400 when it must.
"""

from __future__ import annotations

_NAMES = (b"call-id", b"i")


def call_id_of(data: bytes) -> bytes | None:
    """The Call-ID value (stripped), or None when the message has none we can find."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = len(data)
    # fast path: the usual spellings, found by one search each
    for marker in (b"\r\nCall-ID:", b"\r\ni:", b"\r\nCall-Id:"):
        at = data.find(marker, 0, end)
        if at >= 0:
            start = at + len(marker)
            stop = data.find(b"\r\n", start, end + 2)
            value = data[start:stop if stop >= 0 else end].strip()
            return value or None
    pos = data.find(b"\r\n", 0, end)
    while 0 <= pos < end:
        nxt = data.find(b"\r\n", pos + 2, end + 2)
        line = data[pos + 2:nxt if nxt >= 0 else end]
        colon = line.find(b":")
        if colon > 0 and line[:colon].strip().lower() in _NAMES and line[:1] not in (b" ", b"\t"):
            value = line[colon + 1:].strip()
            return value or None
        pos = nxt
    return None
