"""The few SIP message facts the test phone needs: parse a datagram, build requests and replies.

Deliberately independent of `pysips.sip`: the phone is a peer that judges the server, so it must not
share the server's parser and its mistakes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
}
_TAG = re.compile(r";\s*tag=([^;>\s]+)")
_URI_IN_BRACKETS = re.compile(r"<([^>]+)>")


def new_token() -> str:
    return secrets.token_hex(6)


@dataclass
class SipMsg:
    first_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0] if self.is_request else self.cseq_method

    @property
    def status(self) -> int:
        return int(self.first_line.split(" ", 2)[1])

    @property
    def cseq_method(self) -> str:
        return self.get("cseq").split()[1].upper()

    @property
    def cseq(self) -> int:
        return int(self.get("cseq").split()[0])

    def get(self, name: str) -> str:
        values = self.get_all(name)
        return values[0] if values else ""

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (for Via, Route, Record-Route)."""
        wanted = name.lower()
        out: list[str] = []
        for key, value in self.headers:
            if key == wanted:
                out.extend(split_commas(value) if wanted in ("via", "route", "record-route") else [value])
        return out

    def serialize(self) -> bytes:
        head = [self.first_line]
        head.extend(f"{_canonical(k)}: {v}" for k, v in self.headers if k != "content-length")
        head.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + self.body


def _canonical(name: str) -> str:
    special = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate"}
    return special.get(name, "-".join(part.capitalize() for part in name.split("-")))


def split_commas(value: str) -> list[str]:
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(value):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


def parse(data: bytes) -> SipMsg | None:
    """A datagram as a message, or None for keepalives and garbage."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("utf-8", "replace").split("\r\n")
    if not lines or "SIP/2.0" not in lines[0]:
        return None
    msg = SipMsg(lines[0])
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and msg.headers:
            key, value = msg.headers[-1]
            msg.headers[-1] = (key, value + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon:
            return None
        key = name.strip().lower()
        msg.headers.append((_COMPACT.get(key, key), value.strip()))
    length = msg.get("content-length")
    msg.body = body[: int(length)] if length.isdigit() else body
    return msg


def tag_of(header_value: str) -> str:
    match = _TAG.search(header_value)
    return match.group(1) if match else ""


def uri_of(header_value: str) -> str:
    """The URI inside a name-addr (`"x" <sip:a@b>;p=1` -> `sip:a@b`) or a bare addr-spec."""
    match = _URI_IN_BRACKETS.search(header_value)
    return match.group(1) if match else header_value.split(";", 1)[0].strip()


def host_port(uri: str) -> tuple[str, int]:
    """Where a sip: URI points (no DNS: the test only uses IP addresses)."""
    rest = uri.split(":", 1)[1]
    hostpart = rest.split("@", 1)[-1].split(";", 1)[0].split("?", 1)[0]
    host, _, port = hostpart.partition(":")
    return host, int(port) if port else 5060


def reply_to(
    request: SipMsg,
    status: int,
    reason: str,
    to_tag: str,
    extra: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> SipMsg:
    """A reply copying Via, From, To (tag added once), Call-ID and CSeq from the request."""
    to = request.get("to")
    if to_tag and not tag_of(to):
        to = f"{to};tag={to_tag}"
    headers = [("via", v) for v in request.get_all("via")]
    headers += [
        ("from", request.get("from")),
        ("to", to),
        ("call-id", request.get("call-id")),
        ("cseq", request.get("cseq")),
    ]
    headers += extra or []
    return SipMsg(f"SIP/2.0 {status} {reason}", headers, body)
