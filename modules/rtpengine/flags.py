"""Script flag strings -> the NG command dictionary, as OpenSIPS's rtpengine module translates them.

A flag string is a space-separated list of `word` or `key=value` items. A few are understood here
(transport protocols, `replace-*`, `rtcp-mux-*`, `in-iface`/`out-iface`, tags, `via-branch` ...);
every other word goes to the "flags" list and every other `key=value` becomes a dictionary key, so
flags newer than pysips reach the daemon untouched (`ICE=force` -> "ICE": "force", `DTLS=passive`
-> "DTLS": "passive"). Beyond OpenSIPS, and as Kamailio does, `SDES-<x>` words fill the "SDES" list
and repeated `direction=<iface>` items the "direction" list (the daemon reads both forms).

A value in square brackets is a list, or a dictionary when an item at its top level holds `=`;
inside brackets `..` stands for a space and `--` for `=`.

Parsing happens once per distinct string: constants at load time (a bad flag is a load error),
strings built from variables on first use, then from a small cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pysips.script.errors import FixupError

from .bencode import BValue

# NG command names by operation.
OFFER = "offer"
ANSWER = "answer"
DELETE = "delete"
QUERY = "query"
START_RECORDING = "start recording"
STOP_RECORDING = "stop recording"
PAUSE_RECORDING = "pause recording"

# Transport protocol bits: SRTP (1), AVPF (2), DTLS over UDP (4); 0x100 means "a protocol was given".
_GIVEN = 0x100
_TRANSPORTS = {
    0: "RTP/AVP",
    1: "RTP/SAVP",
    2: "RTP/AVPF",
    3: "RTP/SAVPF",
    4: "UDP/TLS/RTP/SAVP",
    5: "UDP/TLS/RTP/SAVPF",
}
_EXPLICIT_TRANSPORT = {name: bits | _GIVEN for bits, name in _TRANSPORTS.items()}

_REPLACE = {
    "replace-origin": "origin",
    "replace-session-connection": "session-connection",
    "replace-username": "username",
    "replace-SDP-version": "SDP version",
    "replace-zero-address": "zero address",
    "replace-session-name": "session name",
}
_RTCP_MUX = {
    "rtcp-mux-demux": "demux",
    "rtcp-mux-offer": "offer",
    "rtcp-mux-reject": "reject",
    "rtcp-mux-accept": "accept",
    "rtcp-mux-require": "require",
}

# via-branch= values.
VIA_NONE = 0
VIA_FIRST = 1
VIA_SECOND = 2
VIA_AUTO = 3
VIA_PARAM = 4  # via-branch-param=<value>
VIA_EXTRA = -1  # the extra_id_pv parameter

BRACKET_MAX_DEPTH = 8
BRACKET_MAX_LEN = 4096
CACHE_SIZE = 256


class FlagError(FixupError):
    """A flag string the module refuses (the same cases OpenSIPS refuses)."""


@dataclass(slots=True)
class ParsedFlags:
    """What a flag string asks for, independent of the message it is applied to."""

    entries: list[tuple[str, BValue]] = field(default_factory=list)  # key=value items, in order
    flags: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    rtcp_mux: list[str] = field(default_factory=list)
    direction: list[str] = field(default_factory=list)
    sdes: list[str] = field(default_factory=list)  # SDES-off -> "off", SDES-no-AES_CM_128 ...
    transport: int = 0
    via: int = VIA_NONE
    via_value: str = ""
    call_id: str | None = None
    from_tag: str | None = None
    to_tag: str | None = None
    force_to_tag: bool = False  # the bare `to-tag` word: send the To tag even in a delete
    received_from: str | None = None
    directional: bool = False
    force_answer: bool = False

    @property
    def transport_protocol(self) -> str | None:
        if not self.transport & _GIVEN:
            return None
        return _TRANSPORTS[self.transport & 0x7]


_cache: dict[str, ParsedFlags] = {}


def parse_cached(text: str) -> ParsedFlags:
    """parse_flags() with a bounded cache: scripts use a handful of distinct strings."""
    parsed = _cache.get(text)
    if parsed is None:
        parsed = parse_flags(text)
        if len(_cache) >= CACHE_SIZE:
            _cache.clear()
        _cache[text] = parsed
    return parsed


def _split(text: str) -> list[tuple[str, str | None]]:
    """Items as (key, value or None); a bracketed value may hold spaces."""
    items: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] not in " =":
            i += 1
        key = text[start:i]
        if i < n and text[i] == "=":
            i += 1
            vstart = i
            if i < n and text[i] == "[":
                depth = 0
                while i < n:
                    if text[i] == "[":
                        depth += 1
                    elif text[i] == "]":
                        depth -= 1
                        if depth == 0:
                            i += 1
                            break
                    i += 1
                if depth != 0:
                    raise FlagError(f"flag {key!r}: unmatched bracket in {text[vstart:]!r}")
            else:
                while i < n and text[i] != " ":
                    i += 1
            if not key:
                raise FlagError(f"flag value {text[vstart:i]!r} without a name")
            items.append((key, text[vstart:i]))
        else:
            items.append((key, None))
    return items


def parse_flags(text: str) -> ParsedFlags:
    out = ParsedFlags()
    in_iface: str | None = None
    out_iface: str | None = None
    for key, val in _split(text):
        if key == "RTP":
            out.transport = (out.transport | _GIVEN) & ~0x1
        elif key == "AVP":
            out.transport = (out.transport | _GIVEN) & ~0x2
        elif key == "SRTP":
            out.transport |= _GIVEN | 0x1
        elif key == "AVPF":
            out.transport |= _GIVEN | 0x2
        elif key in _EXPLICIT_TRANSPORT:
            out.transport = _EXPLICIT_TRANSPORT[key]
        elif key in _REPLACE:
            out.replace.append(_REPLACE[key])
        elif key in _RTCP_MUX:
            out.rtcp_mux.append(_RTCP_MUX[key])
        elif key.startswith("SDES-") and val is None and len(key) > 5:
            out.sdes.append(key[5:])
        elif key == "direction" and val:
            out.direction.append(val)
        elif key == "to-tag":
            if val is not None:
                out.to_tag = val
            out.force_to_tag = True
        elif key in ("call-id", "callid"):
            if val is None:
                if key == "callid":
                    out.flags.append(key)
                    continue
                raise FlagError("flag 'call-id' needs a value")
            out.call_id = val
        elif key == "from-tag":
            if val is None:
                raise FlagError("flag 'from-tag' needs a value")
            out.from_tag = val
            out.directional = True
        elif key in ("internal", "external"):
            if in_iface is None:
                in_iface = key
            else:
                out_iface = key
        elif key == "in-iface" and val is not None:
            in_iface = val
        elif key == "out-iface" and val is not None:
            out_iface = val
        elif key == "via-branch":
            out.via = _via_mode(val)
        elif key == "via-branch-param":
            out.via = VIA_PARAM
            out.via_value = val or ""
        elif key == "repacketize":
            ms = _leading_int(key, val)
            if ms <= 0:
                raise FlagError(f"flag 'repacketize': invalid value {val!r}")
            out.entries.append(("repacketize", ms))
        elif key == "directional" and val is None:
            out.directional = True
            out.flags.append(key)
        elif key == "force-answer" and val is None:
            out.force_answer = True
        elif key == "delete-delay":
            out.entries.append(("delete-delay", _leading_int(key, val)))
        elif key == "media-address" and val is None:
            raise FlagError("flag 'media-address' needs a value")
        elif key == "received-from":
            if val:
                out.received_from = val
        elif key == "address-family":
            if val not in ("IP4", "IP6"):
                raise FlagError(f"flag 'address-family': invalid value {val!r} (IP4 or IP6)")
            out.entries.append(("address family", val))
        elif val is None:
            out.flags.append(key)
        elif len(val) >= 2 and val[0] == "[" and val[-1] == "]":
            out.entries.append((key, parse_bracket(val[1:-1], 0)))
        else:
            out.entries.append((key, val))
    if in_iface is not None and out_iface is not None:
        out.direction += [in_iface, out_iface]
    elif in_iface is not None:
        raise FlagError("in-iface value without out-iface")
    elif out_iface is not None:
        raise FlagError("out-iface value without in-iface")
    return out


def _via_mode(val: str | None) -> int:
    if val is None:
        raise FlagError("flag 'via-branch' needs a value (1, 2, auto or extra)")
    if val[:1] in ("1", "2"):
        return int(val[0])
    if val == "auto":
        return VIA_AUTO
    if val == "extra":
        return VIA_EXTRA
    raise FlagError(f"flag 'via-branch': invalid value {val!r} (1, 2, auto or extra)")


def _leading_int(key: str, val: str | None) -> int:
    if val is None:
        raise FlagError(f"flag {key!r} needs a value")
    text = val.strip()
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    digits = body[: len(body) - len(body.lstrip("0123456789"))]
    if not digits:
        raise FlagError(f"flag {key!r}: invalid value {val!r}")
    return sign * int(digits)


def _unescape(token: str) -> str:
    if ".." not in token and "--" not in token:
        return token
    out: list[str] = []
    i, n = 0, len(token)
    while i < n:
        pair = token[i : i + 2]
        if pair == "--":
            out.append("=")
            i += 2
        elif pair == "..":
            out.append(" ")
            i += 2
        else:
            out.append(token[i])
            i += 1
    return "".join(out)


def _bracket_end(text: str, i: int) -> int:
    """Index just past the `]` matching the `[` at i."""
    depth = 0
    n = len(text)
    while i < n:
        if text[i] == "[":
            depth += 1
        elif text[i] == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise FlagError(f"unmatched bracket in {text!r}")


def parse_bracket(text: str, depth: int) -> BValue:
    """The inside of `[...]`: a dictionary when `=` appears outside nested brackets, else a list."""
    if depth > BRACKET_MAX_DEPTH:
        raise FlagError(f"brackets nested deeper than {BRACKET_MAX_DEPTH} levels")
    if len(text) > BRACKET_MAX_LEN:
        raise FlagError(f"bracket value longer than {BRACKET_MAX_LEN} characters")
    level = 0
    is_dict = False
    for ch in text:
        if ch == "[":
            level += 1
        elif ch == "]":
            level -= 1
            if level < 0:
                raise FlagError(f"stray ']' in {text!r}")
        elif ch == "=" and level == 0:
            is_dict = True
            break
    items: list[BValue] = []
    entries: dict[str, BValue] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            break
        if is_dict:
            kstart = i
            while i < n and text[i] not in "= ":
                i += 1
            key = text[kstart:i]
            if not key or i >= n or text[i] != "=":
                # a bare word where key=value is expected: OpenSIPS skips it too
                while i < n and text[i] != " ":
                    i += 1
                continue
            i += 1
            if i < n and text[i] == "[":
                end = _bracket_end(text, i)
                entries[key] = parse_bracket(text[i + 1 : end - 1], depth + 1)
                i = end
            else:
                vstart = i
                while i < n and text[i] != " ":
                    i += 1
                if i > vstart:
                    entries[key] = _unescape(text[vstart:i])
        elif text[i] == "[":
            end = _bracket_end(text, i)
            items.append(parse_bracket(text[i + 1 : end - 1], depth + 1))
            i = end
        else:
            vstart = i
            while i < n and text[i] != " ":
                i += 1
            items.append(_unescape(text[vstart:i]))
    return entries if is_dict else items
