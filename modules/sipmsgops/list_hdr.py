"""list_hdr_has_option(), list_hdr_add_option(), list_hdr_remove_option(): the comma-separated
option lists of headers such as Supported, Require or Allow (OpenSIPS sipmsgops 3.x).

Tokens compare case-insensitively. has_option looks at every instance of the header as received.
add_option appends to the first instance; remove_option drops the last occurrence of the token in
each instance, and the whole header when it was its only token. The edits are lumps over the
received bytes and build on each other: several adds and removes on one header combine, but
`$hdr()` still reads the received value.
"""

from __future__ import annotations

from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage


def _tokens(line: bytes) -> tuple[int, int, list[tuple[int, int]]] | None:
    """(body start, body end, [(start, end) of each non-empty token]) of a `Name: a, b\r\n` line."""
    colon = line.find(b":")
    if colon < 0:
        return None
    end = len(line)
    while end > colon and line[end - 1:end] in (b"\r", b"\n", b" ", b"\t"):
        end -= 1
    start = colon + 1
    while start < end and line[start:start + 1] in (b" ", b"\t"):
        start += 1
    spans: list[tuple[int, int]] = []
    pos = start
    while pos <= end:
        comma = line.find(b",", pos, end)
        stop = end if comma < 0 else comma
        a, b = pos, stop
        while a < b and line[a:a + 1] in (b" ", b"\t", b"\r", b"\n"):
            a += 1
        while b > a and line[b - 1:b] in (b" ", b"\t", b"\r", b"\n"):
            b -= 1
        if b > a:
            spans.append((a, b))
        if comma < 0:
            break
        pos = comma + 1
    return start, end, spans


def _instances(msg: SipMessage, name: str) -> list[tuple[int, int, bytes, bytes]]:
    """Each instance: (start, end, received line, current line after our earlier edits)."""
    out = []
    for start, end in msg.header_spans(name):
        raw = msg.raw[start:end]
        current = msg.lump_at(start, end)
        out.append((start, end, raw, raw if current is None else current))
    return out


def _matches(line: bytes, span: tuple[int, int], option: bytes) -> bool:
    return line[span[0]:span[1]].lower() == option


def list_hdr_has_option(ctx: MsgContext, name: str, option: str) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    wanted = option.encode("utf-8", "surrogateescape").lower()
    for _start, _end, raw, _current in _instances(msg, name):
        parsed = _tokens(raw)
        if parsed is not None and any(_matches(raw, span, wanted) for span in parsed[2]):
            return 1
    return -1


def list_hdr_add_option(ctx: MsgContext, name: str, option: str) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    found = _instances(msg, name)
    if not found:
        return -1  # OpenSIPS does not create the header either
    start, end, raw, current = found[0]
    value = option.encode("utf-8", "surrogateescape")
    if not current:
        # every option was removed: rebuild the header around the new one
        parsed = _tokens(raw)
        if parsed is None:
            return -1
        new = raw[:parsed[0]] + value + raw[parsed[1]:]
    else:
        parsed = _tokens(current)
        if parsed is None:
            return -1
        spans = parsed[2]
        if spans:
            at = spans[-1][1]
            new = current[:at] + b"," + value + current[at:]
        else:
            at = parsed[1]
            new = current[:at] + b" " + value + current[at:]
    msg.set_lump(start, end, new)
    return 1


def list_hdr_remove_option(ctx: MsgContext, name: str, option: str) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    wanted = option.encode("utf-8", "surrogateescape").lower()
    removed = 0
    for start, end, _raw, current in _instances(msg, name):
        if not current:
            continue  # already removed whole
        parsed = _tokens(current)
        if parsed is None:
            return -1
        spans = parsed[2]
        hits = [i for i, span in enumerate(spans) if _matches(current, span, wanted)]
        if not hits:
            continue
        i = hits[-1]
        if len(spans) == 1:
            new = b""
        elif i + 1 < len(spans):
            new = current[:spans[i][0]] + current[spans[i + 1][0]:]  # "tok, " up to the next one
        else:
            new = current[:spans[i - 1][1]] + current[spans[i][1]:]  # ", tok" after the previous
        msg.set_lump(start, end, new)
        removed += 1
    return 1 if removed else -1
