"""name-addr / addr-spec values: From, To, Contact, Route, Record-Route (RFC 3261 section 20)."""

from __future__ import annotations

import re

from pysips.sip.errors import ParseError
from pysips.sip.headers import closing_quote, is_token, parse_header_params, split_commas, unquote
from pysips.sip.uri import SipUri, parse_uri

_MAX_EXPIRES = 2**32 - 1


class NameAddr:
    """`display` is as written (quotes kept, "" if absent); `uri` is the URI text."""

    __slots__ = ("_parsed", "display", "params", "text", "uri")

    def __init__(self, display: str, uri: str, params: dict[str, str | None], text: str) -> None:
        self.display = display
        self.uri = uri
        self.params = params
        self.text = text
        self._parsed: SipUri | ParseError | None = None

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def display_text(self) -> str:
        """The display name without quotes and escapes."""
        return unquote(self.display)

    def parsed_uri(self) -> SipUri | ParseError:
        if self._parsed is None:
            self._parsed = parse_uri(self.uri)
        return self._parsed

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"


def _has_space(text: str) -> bool:
    return " " in text or "\t" in text


def parse_name_addr(text: str) -> NameAddr | ParseError:
    """Parse `"Display" <uri>;params`, `Display <uri>;params` or `uri;params`."""
    parts = _name_addr_parts(text)
    return parts if isinstance(parts, ParseError) else NameAddr(*parts)


_TOKEN = r"[A-Za-z0-9.!%*_+`'~-]+"
# The usual shapes in one match: `"Display" <uri>;params`, `Display Name <uri>;params`, `<uri>`, with a
# display free of backslashes, a URI free of whitespace, parameters free of quotes and whitespace.
# It accepts a subset of what the code below accepts, with the same result; the rest goes there.
_COMMON_NAME_ADDR = re.compile(
    rf'(?:("[^"\\]*")[ \t]*|((?:{_TOKEN}[ \t]+)*{_TOKEN})[ \t]*)?<([^>\s]+)>((?:;{_TOKEN}(?:=[^;"\s]+)?)*)'
).fullmatch


def _name_addr_parts(text: str) -> tuple[str, str, dict[str, str | None], str] | ParseError:
    value = text.strip()
    match = _COMMON_NAME_ADDR(value)
    if match is not None:
        quoted, plain, uri, param_text = match.groups()
        if ":" in uri:
            params: dict[str, str | None] = {}
            if param_text:
                for item in param_text[1:].split(";"):
                    name, eq, param = item.partition("=")
                    params[name.lower()] = param if eq else None
            return quoted or plain or "", uri, params, value
    if not value:
        return ParseError("empty name-addr")
    display = ""
    if value[0] == '"':
        close = closing_quote(value, 0)
        if close < 0:
            return ParseError("unterminated quoted display name")
        display = value[: close + 1]
        rest = value[close + 1 :].lstrip()
        if not rest.startswith("<"):
            return ParseError("quoted display name not followed by <uri>")
        lt = 0
    else:
        rest = value
        lt = value.find("<")
        if lt > 0:
            display = value[:lt].strip()
            # an unquoted display name is tokens separated by LWS (RFC 3261 section 25.1)
            for word in display.split():
                if not is_token(word):
                    return ParseError(f"display name must be quoted: {display!r}")
    if lt >= 0:
        gt = rest.find(">", lt)
        if gt < 0:
            return ParseError("'<' without '>'")
        uri = rest[lt + 1 : gt]
        if not uri or _has_space(uri):
            return ParseError("whitespace inside <addr-spec>")
        after = rest[gt + 1 :].lstrip()
    else:
        semi = value.find(";")
        uri = (value if semi < 0 else value[:semi]).strip()
        after = "" if semi < 0 else value[semi:]
        if not uri or _has_space(uri):
            return ParseError("addr-spec with whitespace (missing <>)")
        # RFC 3261 section 20: a URI holding ',', '?' or ';' must be enclosed in <>
        if "?" in uri or "," in uri:
            return ParseError("URI with headers or commas must be enclosed in <>")
    if ":" not in uri:
        return ParseError(f"URI without scheme: {uri[:60]!r}")
    params = {}
    if after:
        if after[0] != ";":
            return ParseError(f"junk after URI: {after[:40]!r}")
        parsed = parse_header_params(after[1:])
        if isinstance(parsed, ParseError):
            return parsed
        params = parsed
    return display, uri, params, value


def parse_name_addr_list(values: list[str]) -> list[NameAddr] | ParseError:
    """Route / Record-Route / Path: every comma-separated entry across the given header fields."""
    out: list[NameAddr] = []
    for value in values:
        for item in split_commas(value):
            parsed = parse_name_addr(item)
            if isinstance(parsed, ParseError):
                return parsed
            out.append(parsed)
    return out


class Contact(NameAddr):
    """A Contact entry; `star` is the REGISTER wildcard `Contact: *`."""

    __slots__ = ("star",)

    def __init__(
        self, display: str, uri: str, params: dict[str, str | None], text: str, star: bool = False
    ) -> None:
        super().__init__(display, uri, params, text)
        self.star = star

    @property
    def expires(self) -> int | None:
        """The expires parameter, or None when absent or out of range (then the default applies)."""
        value = self.params.get("expires")
        if value is None or not value.isdigit() or not value.isascii() or len(value) > 10:
            return None
        number = int(value)
        return number if number <= _MAX_EXPIRES else None

    @property
    def q(self) -> float | None:
        value = self.params.get("q")
        if value is None:
            return None
        try:
            q = float(value)
        except ValueError:
            return None
        return q if 0.0 <= q <= 1.0 else None

    @property
    def instance(self) -> str | None:
        value = self.params.get("+sip.instance")
        return unquote(value) if value else None

    @property
    def reg_id(self) -> int | None:
        value = self.params.get("reg-id")
        return int(value) if value is not None and value.isdigit() and len(value) < 10 else None


def parse_contacts(values: list[str]) -> list[Contact] | ParseError:
    out: list[Contact] = []
    for value in values:
        if value.strip() == "*":
            out.append(Contact("", "*", {}, "*", star=True))
            continue
        for item in split_commas(value):
            parts = _name_addr_parts(item)
            if isinstance(parts, ParseError):
                return parts
            out.append(Contact(*parts))
    return out
