"""From bytes to SipMessage: the routing-level parse (RFC 3261 section 7).

The first line is read, the header section split once (continuation lines joined only when present)
and only what routing needs is interpreted; the rest is left to SipMessage's lazy accessors.
"""

from __future__ import annotations

import re
from operator import itemgetter
from typing import cast

from pysips.sip.errors import ParseError
from pysips.sip.headers import KNOWN_KEYS, CSeq, is_token, key_for_bytes, parse_cseq, split_commas
from pysips.sip.headertable import Field, HeaderTable
from pysips.sip.message import SipMessage, _decode
from pysips.sip.nameaddr import NameAddr, parse_name_addr
from pysips.sip.via import parse_via

_SINGLE_VALUED = ("call-id", "cseq", "from", "to", "max-forwards")
_REQUIRED = ("via", "from", "to", "call-id", "cseq")
_REQUIRED_SET = frozenset(_REQUIRED)
_DIGITS = frozenset(b"0123456789")
# a continuation line; one regex pass beats two substring searches that stall at every CRLF
_FOLDED = re.compile(rb"\r\n[ \t]").search


# After ";tag=": a tag free of quotes, spaces, ';' and '>' (a '>' may open it) and a remainder with
# no quote or '>', i.e. nothing the name-addr parser could read differently.
_PLAIN_TAG = re.compile(rb'([^;" \t][^;"> \t]*)(?:;[^">]*)?').fullmatch


def _quick_tag(value: bytes) -> bytes | None:
    """The tag parameter of a From/To value by string search: the tag, None when there is none,
    or b"" when the value needs the full name-addr parser to tell (odd spelling, LWS, quotes)."""
    i = value.find(b";tag=")
    if i < 0:
        return b"" if b"tag" in value.lower() else None
    match = _PLAIN_TAG(value, i + 5)
    if match is None:
        return b""
    end = match.end(1)
    if end < len(value):
        if b"tag" in value[end:].lower():
            return b""  # a second tag parameter (any case): the full parser's last-one-wins decides
    else:
        last = value[-1]
        if (chr(last) if last < 0x80 else value.decode("utf-8", "surrogateescape")[-1]).isspace():
            return b""  # the full parser strips trailing whitespace (LF, VT, Unicode spaces) off a tag
    return match.group(1)


def parse_message(data: bytes) -> SipMessage | ParseError:
    """Parse one SIP message. Never raises: failures come back as ParseError values."""
    try:
        return _parse(bytes(data))
    except Exception as exc:  # a parser bug must not take the server down; fuzzing hunts these
        return ParseError(f"internal parser error: {exc!r}", None)


def _unfold(lines: list[bytes], pos: int) -> tuple[list[bytes], list[Field] | None, ParseError | None]:
    """Join continuation lines; returns logical lines and, since offsets then differ, the spans."""
    logical: list[bytes] = []
    spans: list[tuple[int, int]] = []
    error: ParseError | None = None
    for line in lines:
        end = pos + len(line) + 2
        c0 = line[:1]
        if c0 == b" " or c0 == b"\t":
            if logical:
                prev = logical[-1]
                more = line.strip(b" \t")
                logical[-1] = prev + b" " + more if prev.rstrip(b" \t")[-1:] != b":" else prev + more
                spans[-1] = (spans[-1][0], end)
            elif error is None:
                error = ParseError("continuation line before the first header")
        else:
            logical.append(line)
            spans.append((pos, end))
        pos = end
    fields: list[Field] = []
    for line, (start, end) in zip(logical, spans, strict=True):
        name, _, value = line.partition(b":")
        fields.append(("", name, value.strip(b" \t"), start, end))
    return logical, fields, error


def _parse(data: bytes) -> SipMessage | ParseError:
    error: ParseError | None = None
    head_end = data.find(b"\r\n\r\n")
    terminated = head_end >= 0
    if terminated:
        body_start = head_end + 4
    else:
        head_end = len(data) - 2 if data.endswith(b"\r\n") else len(data)
        body_start = len(data) + 2  # where the missing empty line would be
    head = data[:head_end]
    lines = head.split(b"\r\n")
    first = lines[0]
    if not first:
        return ParseError("empty first line", None)

    msg = SipMessage.__new__(SipMessage)
    msg.raw = data
    msg._lumps = []
    msg._cache = None
    msg._uri = None
    msg._new_ruri = None
    msg._new_body = None
    msg._new_ctype = None
    msg._pushed_vias = []
    msg._vias_popped = 0
    msg._vias = None
    msg._body_start = body_start

    if first[:4] == b"SIP/":
        msg.is_request = False
        msg.method = msg.ruri = ""
        msg._ruri_span = (0, 0)
        parts = first.split(b" ", 2)
        if parts[0] != b"SIP/2.0":
            return ParseError(f"unsupported version {parts[0][:20]!r} in status line", None)
        code = parts[1] if len(parts) > 1 else b""
        if len(code) != 3 or not _DIGITS.issuperset(code) or code[0] == 0x30:
            return ParseError(f"bad status code {code[:20]!r}", None)
        msg.status = int(code)
        msg.reason = _decode(parts[2]) if len(parts) == 3 else ""
    else:
        msg.is_request = True
        msg.status = 0
        msg.reason = ""
        parts = first.split(b" ")
        method = parts[0]
        known = _KNOWN_METHODS.get(method)
        msg.method = known if known is not None else method.decode("latin-1")
        if len(parts) >= 2:
            msg._ruri_span = (len(method) + 1, len(method) + 1 + len(parts[1]))
            msg.ruri = _decode(parts[1])
        else:
            msg.ruri = ""
            msg._ruri_span = (len(first), len(first))
        if len(parts) != 3 or not parts[1] or not parts[2]:
            error = ParseError("malformed Request-Line (want METHOD SP URI SP SIP/2.0)")
        elif parts[2] != b"SIP/2.0":
            if parts[2].startswith(b"SIP/"):
                error = ParseError(f"unsupported SIP version {parts[2][:20]!r}", 505)
            else:
                error = ParseError("malformed Request-Line version")
        elif known is None and not is_token(msg.method):
            error = ParseError(f"bad method {msg.method[:40]!r}")

    # Split every line at its first colon and look its name up among the spellings met before. A
    # continuation line starts with SP/HTAB, which no known name does: it lands in the slow path
    # like a line without a colon or a name never seen, so folding needs no search of its own here.
    header_lines = lines[1:]
    split = [line.partition(b":") for line in header_lines]
    keys = [_KEY_OF(p[0]) for p in split]
    if None in keys or not all(map(_SEPARATOR, split)):
        table, error = _table_of_unclean_head(lines, head, error)
    else:
        table = HeaderTable(split, cast("list[str]", keys), len(first), None, header_lines)
    msg._table = table

    error = _interpret(msg, data, body_start, error, table)
    if error is None and not terminated:
        error = ParseError("headers not terminated by an empty line")
    if error is None:
        return msg
    error.partial = msg
    if not msg.is_request or "via" not in table.first:
        error.status = None  # nothing to answer, or nowhere to send the answer
    return error


def _table_of_unclean_head(
    lines: list[bytes], head: bytes, error: ParseError | None
) -> tuple[HeaderTable, ParseError | None]:
    """The header table of a head with names not met before, continuation lines or bad lines (for
    the last two, spans are computed now since lines and fields no longer match), and the first
    error (the given one wins)."""
    first_len = len(lines[0])
    lines = lines[1:]
    fields: list[Field] | None = None
    if _FOLDED(head) is not None:
        lines, fields, fold_error = _unfold(lines, first_len + 2)
        error = error or fold_error
    split = [line.partition(b":") for line in lines]
    keys = [(key_for_bytes(p[0]) or "") if p[1] else "" for p in split]
    if "" in keys:
        if error is None:
            bad = lines[keys.index("")]
            error = ParseError(f"bad header line {bad[:40]!r}")
        keep = [i for i, k in enumerate(keys) if k]
        split = [split[i] for i in keep]
        keys = [keys[i] for i in keep]
        if fields is not None:
            fields = [fields[i] for i in keep]
        else:
            # spans must still count the dropped lines: compute them now
            fields = _spans_with_gaps(lines, first_len + 2, keep, split, keys)
    if fields is None:
        return HeaderTable(split, keys, first_len, None, lines), error
    fields = [(keys[i], f[1], f[2], f[3], f[4]) for i, f in enumerate(fields)]
    return HeaderTable(split, keys, first_len, fields), error


def _spans_with_gaps(
    lines: list[bytes], pos: int, keep: list[int], split: list[tuple[bytes, bytes, bytes]], keys: list[str]
) -> list[Field]:
    spans = []
    for line in lines:
        spans.append((pos, pos + len(line) + 2))
        pos += len(line) + 2
    return [
        (keys[n], split[n][0], split[n][2].strip(b" \t"), spans[i][0], spans[i][1])
        for n, i in enumerate(keep)
    ]


for _name in (
    "Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Max-Forwards", "Route",
    "Record-Route", "Content-Length", "l", "Content-Type", "c", "Expires", "Allow", "Supported", "k",
    "User-Agent", "Server", "Authorization", "Proxy-Authorization", "WWW-Authenticate", "Proxy-Authenticate",
    "Require", "Proxy-Require", "Accept", "Event", "Subscription-State", "Path", "Session-Expires", "Min-SE",
    "Date", "Timestamp", "Allow-Events", "Call-Id", "Cseq", "Content-type", "Content-length", "Max-forwards",
    "Record-route", "Call-id", "User-agent",
):
    for _spelling in (_name, _name.lower(), _name.upper()):
        key_for_bytes(_spelling.encode())
# every spelling met so far (the common ones above, then what peers send) -> canonical key
_KEY_OF = KNOWN_KEYS.get
_SEPARATOR = itemgetter(1)

_NO_CSEQ = CSeq(0, "")


def _interpret(
    msg: SipMessage, data: bytes, body_start: int, error: ParseError | None, table: HeaderTable
) -> ParseError | None:
    """Read the routing headers; returns the first error (the given one wins)."""
    is_request = msg.is_request
    parts = table.parts
    first = table.first
    keys = table.keys

    if error is None:
        if len(first) != len(keys):
            for key in _SINGLE_VALUED:
                if key in first and keys.count(key) > 1:
                    error = ParseError(f"several {key} headers")
                    break
        if error is None and is_request and not first.keys() >= _REQUIRED_SET:
            for key in _REQUIRED:
                if key not in first:
                    error = ParseError(f"missing {key} header")
                    break

    get = first.get
    i = get("call-id")
    if i is not None:
        msg.call_id = call_id = parts[i][2].strip(b" \t").decode("utf-8", "surrogateescape")
        if not call_id and error is None:
            error = ParseError("empty Call-ID")
    else:
        msg.call_id = ""
        if error is None and not is_request:
            error = ParseError("missing call-id header")

    i = get("cseq")
    cseq = _NO_CSEQ
    if i is not None:
        value_b = parts[i][2]
        words = value_b.split()
        method = _KNOWN_METHODS.get(words[1]) if len(words) == 2 else None
        if method is not None and 0 < len(words[0]) < 10 and _DIGITS.issuperset(words[0]):
            cseq = CSeq(int(words[0]), method)
        else:
            parsed_cseq = parse_cseq(_decode(value_b))
            if isinstance(parsed_cseq, ParseError):
                if error is None:
                    error = parsed_cseq
            else:
                cseq = parsed_cseq
        if not is_request:
            msg.method = cseq.method
        elif cseq.method != msg.method and error is None and cseq is not _NO_CSEQ:
            error = ParseError(f"CSeq method {cseq.method!r} does not match {msg.method!r}")
    elif error is None and not is_request:
        error = ParseError("missing cseq header")
    msg.cseq = cseq

    msg._from = msg._to = None
    msg.from_tag = msg.to_tag = None
    i = get("from")
    if i is not None:
        value_b = parts[i][2].strip(b" \t")
        tag = _quick_tag(value_b)
        if tag == b"":
            msg._from = parsed = parse_name_addr(_decode(value_b))
            if isinstance(parsed, NameAddr):
                msg.from_tag = parsed.tag
            elif error is None:
                error = ParseError(f"from: {parsed.reason}")
        elif tag is not None:
            msg.from_tag = tag.decode("utf-8", "surrogateescape")
    elif error is None and not is_request:
        error = ParseError("missing from header")

    i = get("to")
    if i is not None:
        value_b = parts[i][2].strip(b" \t")
        tag = _quick_tag(value_b)
        if tag == b"":
            msg._to = parsed = parse_name_addr(_decode(value_b))
            if isinstance(parsed, NameAddr):
                msg.to_tag = parsed.tag
            elif error is None:
                error = ParseError(f"to: {parsed.reason}")
        elif tag is not None:
            msg.to_tag = tag.decode("utf-8", "surrogateescape")
    elif error is None and not is_request:
        error = ParseError("missing to header")

    i = get("via")
    msg.top_via = None
    if i is not None:
        value = parts[i][2].strip(b" \t").decode("utf-8", "surrogateescape")
        if "," in value:
            value = split_commas(value)[0]
        top = parse_via(value)
        if isinstance(top, ParseError):
            if error is None:
                error = top
        else:
            msg.top_via = top
    elif error is None and not is_request:
        error = ParseError("missing via header")

    i = get("max-forwards")
    msg.max_forwards = None
    if i is not None:
        value_b = parts[i][2].strip(b" \t")
        if value_b and _DIGITS.issuperset(value_b):
            # RFC 4475 3.1.2.4: an overlarge value may be treated as absent
            number = int(value_b) if len(value_b) < 6 else 256
            msg.max_forwards = number if number <= 255 else None
        elif error is None:
            error = ParseError("bad Max-Forwards")

    i = get("content-length")
    available = len(data) - body_start if body_start <= len(data) else 0
    length = available
    msg.content_length = None
    if i is not None:
        value_b = parts[i][2].strip(b" \t")
        if len(first) != len(keys) and keys.count("content-length") > 1 and len(
            {parts[n][2].strip(b" \t") for n, key in enumerate(keys) if key == "content-length"}
        ) > 1:
            if error is None:
                error = ParseError("conflicting Content-Length values")
        elif not value_b or not _DIGITS.issuperset(value_b) or len(value_b) > 10:
            if error is None:
                error = ParseError(f"bad Content-Length {value_b[:20]!r}")
        else:
            length = int(value_b)
            msg.content_length = length
            if length > available:
                if error is None:
                    error = ParseError(f"Content-Length {length} exceeds the {available} body bytes")
                length = available
    msg.body = data[body_start : body_start + length] if length else b""
    msg._end = min(body_start + length, len(data))
    return error


_KNOWN_METHODS: dict[bytes, str] = {
    m.encode(): m
    for m in (
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH",
        "INFO", "REFER", "MESSAGE", "UPDATE",
    )
}
