"""Header names (full and compact forms) and the small shared pieces of header-value syntax."""

from __future__ import annotations

import re

from pysips.sip.errors import ParseError

# Canonical header keys are lower-case full names; compact forms (RFC 3261 section 7.3.3 and the
# extensions that define one) map onto them.
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type", "d": "request-disposition",
    "e": "content-encoding", "f": "from", "i": "call-id", "j": "reject-contact", "k": "supported",
    "l": "content-length", "m": "contact", "n": "identity-info", "o": "event", "r": "refer-to",
    "s": "subject", "t": "to", "u": "allow-events", "v": "via", "x": "session-expires", "y": "identity",
}

# How each canonical key is spelt when we write the header ourselves.
DISPLAY_NAMES: dict[str, str] = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
}

_TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)


def is_token(text: str) -> bool:
    return bool(text) and _TOKEN_CHARS.issuperset(text)


# names asked for so far -> key; accessors are called with a handful of names, again and again
_KEY_OF_NAME: dict[str, str] = {}


def header_key(name: str) -> str:
    """The canonical key of a header name as written ('v', 'VIA ', 'Via' -> 'via')."""
    key = _KEY_OF_NAME.get(name)
    if key is None:
        lowered = name.strip().lower()
        key = COMPACT_FORMS.get(lowered, lowered)
        if len(_KEY_OF_NAME) < 4096:  # bounded: names may come from peers' input
            _KEY_OF_NAME[name] = key
    return key


def display_name(key: str) -> str:
    return DISPLAY_NAMES.get(key) or "-".join(part.capitalize() for part in key.split("-"))


# Byte-level lookup used by the message scanner: every spelling seen on the wire maps to its key.
KNOWN_KEYS: dict[bytes, str] = {}


def key_for_bytes(name: bytes) -> str | None:
    """Canonical key for a raw header name, or None if the name is not a token."""
    key = KNOWN_KEYS.get(name)
    if key is not None:
        return key
    text = name.rstrip(b" \t").decode("latin-1")
    if not is_token(text):
        return None
    key = header_key(text)
    if len(KNOWN_KEYS) < 4096:  # bounded: hostile peers may send endless distinct names
        KNOWN_KEYS[name] = key
    return key


_SPECIALS = re.compile(r'[",<>\\]')  # compiled once; finds the few characters that matter


def split_commas(text: str) -> list[str]:
    """Split a header value on commas outside quotes and <...>; items stripped."""
    if "," not in text:
        return [text.strip()]
    if '"' not in text and "<" not in text:
        return [item.strip() for item in text.split(",")]
    items: list[str] = []
    start = 0
    in_quote = False
    in_angle = False
    skip_until = -1
    for match in _SPECIALS.finditer(text):
        i = match.start()
        if i < skip_until:
            continue
        ch = text[i]
        if in_quote:
            if ch == "\\":
                skip_until = i + 2
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return items


def closing_quote(text: str, start: int) -> int:
    """Index of the '"' closing the quoted string opened at `start`, or -1."""
    j = text.find('"', start + 1)
    while j > 0:
        backslashes = 0
        k = j - 1
        while k > start and text[k] == "\\":
            backslashes += 1
            k -= 1
        if backslashes % 2 == 0:
            return j
        j = text.find('"', j + 1)
    return -1


def find_unquoted(text: str, char: str, start: int = 0) -> int:
    """Index of `char` outside double quotes, or -1 (or -2 if a quote is left open)."""
    while True:
        at = text.find(char, start)
        quote = text.find('"', start)
        if quote < 0 or (0 <= at < quote):
            return at
        end = closing_quote(text, quote)
        if end < 0:
            return -2
        start = end + 1


def parse_header_params(text: str) -> dict[str, str | None] | ParseError:
    """Parameters after a header value: `; name = value ; flag`, LWS allowed around ; and =.

    `text` starts after the first ';'. Names are lowercased; values are kept as written (quoted
    strings keep their quotes).
    """
    params: dict[str, str | None] = {}
    if '"' not in text and " " not in text and "\t" not in text:
        # the common case: no quoting, no LWS
        token_chars = _TOKEN_CHARS
        for item in text.split(";"):
            name, eq, value = item.partition("=")
            if not name or not token_chars.issuperset(name):
                return ParseError(f"bad parameter name {name!r}")
            if eq:
                if not value:
                    return ParseError(f"parameter {name!r} without a value")
                params[name.lower()] = value
            else:
                params[name.lower()] = None
        return params
    if '"' not in text:
        items = text.split(";")
    elif "\\" not in text:
        # without escapes, a ';' is inside quotes exactly when an odd number of quotes precede it
        items = []
        pending = ""
        for piece in text.split(";"):
            pending = piece if not pending else pending + ";" + piece
            if pending.count('"') % 2 == 0:
                items.append(pending)
                pending = ""
        if pending:
            return ParseError("unterminated quoted string in parameter")
    else:
        items = []
        start = 0
        while True:
            semi = find_unquoted(text, ";", start)
            if semi == -2:
                return ParseError("unterminated quoted string in parameter")
            if semi < 0:
                items.append(text[start:])
                break
            items.append(text[start:semi])
            start = semi + 1
    for item in items:
        pname, eq, pvalue = item.partition("=")
        pname = pname.strip()
        if not is_token(pname):
            return ParseError(f"bad parameter name {pname!r}")
        if eq:
            pvalue = pvalue.strip()
            if not pvalue:
                return ParseError(f"parameter {pname!r} without a value")
            params[pname.lower()] = pvalue
        else:
            params[pname.lower()] = None
    return params


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if "\\" not in inner:
            return inner
        out = []
        i = 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                i += 1
            out.append(inner[i])
            i += 1
        return "".join(out)
    return value


class CSeq:
    __slots__ = ("method", "number")

    def __init__(self, number: int, method: str) -> None:
        self.number = number
        self.method = method

    def __str__(self) -> str:
        return f"{self.number} {self.method}"

    def __repr__(self) -> str:
        return f"CSeq({self.number}, {self.method!r})"


_MAX_CSEQ = 2**31 - 1


def parse_cseq(text: str) -> CSeq | ParseError:
    parts = text.split()
    if len(parts) != 2:
        return ParseError("CSeq needs a number and a method")
    number, method = parts
    if not number.isdigit() or not number.isascii():
        return ParseError(f"bad CSeq number {number!r}")
    if len(number) > 10 or int(number) > _MAX_CSEQ:
        return ParseError("CSeq number out of range (RFC 3261: below 2**31)")
    if not is_token(method):
        return ParseError(f"bad CSeq method {method!r}")
    return CSeq(int(number), method)


_MAX_DELTA = 2**32 - 1


def parse_delta_seconds(text: str) -> int | ParseError:
    """Expires, Min-Expires, Retry-After values: digits up to 2**32-1."""
    text = text.strip()
    end = text.find("(")  # Retry-After may carry a comment and params
    if end >= 0:
        text = text[:end].strip()
    semi = text.find(";")
    if semi >= 0:
        text = text[:semi].strip()
    if not text or not text.isdigit() or not text.isascii():
        return ParseError(f"bad delta-seconds {text[:40]!r}")
    if len(text) > 10 or int(text) > _MAX_DELTA:
        return ParseError("delta-seconds out of range")
    return int(text)


def parse_option_tags(values: list[str]) -> list[str]:
    """Supported, Require, Proxy-Require, Unsupported: option tags across all header fields."""
    tags: list[str] = []
    for value in values:
        for item in value.split(","):
            tag = item.strip()
            if tag:
                tags.append(tag)
    return tags


class ContentType:
    __slots__ = ("params", "subtype", "type")

    def __init__(self, type_: str, subtype: str, params: dict[str, str | None]) -> None:
        self.type = type_
        self.subtype = subtype
        self.params = params

    @property
    def media_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def boundary(self) -> str | None:
        value = self.params.get("boundary")
        return unquote(value) if value else None


def parse_content_type(text: str) -> ContentType | ParseError:
    semi = text.find(";")
    main = text if semi < 0 else text[:semi]
    slash = main.find("/")
    if slash < 0:
        return ParseError("Content-Type without '/'")
    type_, subtype = main[:slash].strip().lower(), main[slash + 1 :].strip().lower()
    if not is_token(type_) or not is_token(subtype):
        return ParseError(f"bad media type {main!r}")
    params: dict[str, str | None] = {}
    if semi >= 0:
        parsed = parse_header_params(text[semi + 1 :])
        if isinstance(parsed, ParseError):
            return parsed
        params = parsed
    return ContentType(type_, subtype, params)
