"""Message-level tests of sipmsgops: method, To tag, body and its content type."""

from __future__ import annotations

from typing import Any

from pysips.script.context import MsgContext
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext
from pysips.sip.message import SipMessage

_KNOWN = frozenset(
    ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH",
     "INFO", "REFER", "MESSAGE", "UPDATE")
)


class MethodSet:
    """is_method()'s argument after the fixup: exact names first (the common case), then the
    case-insensitive comparison OpenSIPS applies to methods it does not know."""

    __slots__ = ("exact", "other")

    def __init__(self, names: list[str]) -> None:
        self.exact = frozenset(n.upper() if n.upper() in _KNOWN else n for n in names)
        self.other = frozenset(n.upper() for n in names if n.upper() not in _KNOWN)


def fix_methods(value: Any, fctx: FixupContext) -> MethodSet:
    names = [part.strip() for part in str(value).split("|")]
    if not names or any(not n for n in names):
        raise FixupError(f"bad method list {value!r} (want e.g. \"INVITE|BYE\")")
    return MethodSet(names)


def is_method(ctx: MsgContext, methods: MethodSet) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    method = msg.method  # for replies, the CSeq method
    if method in methods.exact:
        return 1
    if methods.other and method.upper() not in _KNOWN and method.upper() in methods.other:
        return 1
    return -1


def has_totag(ctx: MsgContext) -> int:
    msg = ctx.msg
    return 1 if isinstance(msg, SipMessage) and msg.to_tag else -1


def fix_mime(value: Any, fctx: FixupContext) -> str:
    text = str(value).strip().lower()
    if not text:
        return ""
    if "/" not in text or "," in text or ";" in text or " " in text:
        raise FixupError(f"unsupported mime type {value!r} (one type/subtype)")
    return text


def _boundary(msg: SipMessage) -> str | None:
    value = msg.header("content-type")
    if value is None:
        return None
    for param in value.split(";")[1:]:
        name, _, arg = param.partition("=")
        if name.strip().lower() == "boundary":
            return arg.strip().strip('"')
    return None


def _part_types(body: bytes, boundary: str) -> list[str]:
    """Media types of the parts of a multipart body (RFC 2046 section 5.1)."""
    out: list[str] = []
    delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, _ = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        found = "text/plain"
        for line in head.split(b"\r\n"):
            name, colon, rest = line.partition(b":")
            if colon and name.strip().lower() in (b"content-type", b"c"):
                found = rest.split(b";")[0].strip().lower().decode("latin-1")
        out.append(found)
    return out


def has_body(ctx: MsgContext, mime: str | None = None) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.body:
        return -1
    if not mime:
        return 1
    ctype = msg.content_type
    if ctype is None:
        return 1 if mime == "application/sdp" else -1  # OpenSIPS's default body type
    if ctype == mime:
        return 1
    if ctype.startswith("multipart/") and not mime.startswith("multipart/"):
        boundary = _boundary(msg)
        if boundary and mime in _part_types(msg.body, boundary):
            return 1
    return -1
