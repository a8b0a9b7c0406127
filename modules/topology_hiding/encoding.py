"""The bytes topology hiding hides things in: the Contact parameter of dialog-less calls and the
masked Call-ID. Pure functions, no I/O.

Dialog-less mode keeps every routing fact of one side in a parameter of the Contact we advertise
to the other side (OpenSIPS's `thinfo`): the route set, the party's real Contact URI, the flags
and the socket we talk to that party from. Each field is a 2-byte length (host byte order, as
OpenSIPS writes a C `short` on x86: little endian) followed by its bytes; the whole is XORed with
th_contact_encode_passwd and written in "word64" (base64 with `+` `.` and `-` as padding, safe in a
URI parameter) or "word32" (base32 with `-` padding). The same layout as OpenSIPS, so a contact
one of them encoded is decoded by the other with the same password.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

_SHORT = struct.Struct("<h")


@dataclass(frozen=True, slots=True)
class HiddenInfo:
    """What a dialog-less Contact parameter carries about one party."""

    routes: str  # the route set towards the party, "<sip:a;lr>,<sip:b;lr>" ("" none)
    contact: str  # the party's Contact URI (the next R-URI)
    flags: int  # topology_hiding()'s flags (TOPOH_* bits)
    socket: str  # our socket towards the party, "udp:IP:PORT"


class DecodeError(ValueError):
    pass


def xor(data: bytes, password: bytes) -> bytes:
    if not password:
        return data
    n = len(password)
    return bytes(b ^ password[i % n] for i, b in enumerate(data))


def word64_encode(data: bytes) -> str:
    return base64.b64encode(data, altchars=b"+.").decode("ascii").replace("=", "-")


def word64_decode(text: str) -> bytes:
    cleaned = text.replace("-", "=")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"+.")
    except (binascii.Error, ValueError) as err:
        raise DecodeError(f"bad word64 text: {err}") from None


def word32_encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").replace("=", "-")


def word32_decode(text: str) -> bytes:
    cleaned = text.replace("-", "=").upper()
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError) as err:
        raise DecodeError(f"bad word32 text: {err}") from None


def _field(text: str) -> bytes:
    data = text.encode("utf-8", "surrogateescape")
    if len(data) > 0x7FFF:
        raise ValueError(f"{len(data)} bytes do not fit the encoded contact")
    return _SHORT.pack(len(data)) + data


def encode_info(info: HiddenInfo, password: str, scheme: str) -> str:
    """The parameter value for `info` (scheme "base64" or "base32")."""
    plain = b"".join(_field(t) for t in (info.routes, info.contact, str(info.flags), info.socket))
    masked = xor(plain, password.encode("utf-8"))
    return word32_encode(masked) if scheme == "base32" else word64_encode(masked)


def decode_info(value: str, password: str, scheme: str) -> HiddenInfo:
    """The inverse of encode_info(); DecodeError when the text is not one of ours."""
    raw = word32_decode(value) if scheme == "base32" else word64_decode(value)
    plain = xor(raw, password.encode("utf-8"))
    fields: list[str] = []
    pos = 0
    for _ in range(4):
        if pos + 2 > len(plain):
            raise DecodeError("encoded contact too short")
        (length,) = _SHORT.unpack_from(plain, pos)
        pos += 2
        if length < 0 or pos + length > len(plain):
            raise DecodeError(f"bad length {length} in encoded contact")
        fields.append(plain[pos : pos + length].decode("utf-8", "surrogateescape"))
        pos += length
    routes, contact, flags_text, socket = fields
    flags = int(flags_text) if flags_text.isdigit() else 0
    return HiddenInfo(routes, contact, flags, socket)


def encode_callid(callid: str, password: str, prefix: str) -> str:
    """topology_hiding("C"): the Call-ID the callee side sees (prefix + word64 of callid XOR pw)."""
    return prefix + word64_encode(xor(callid.encode("utf-8", "surrogateescape"), password.encode("utf-8")))


def decode_callid(masked: str, password: str, prefix: str) -> str | None:
    """The caller's Call-ID back from a masked one; None when it does not carry our prefix."""
    if len(masked) <= len(prefix) or not masked.startswith(prefix):
        return None
    try:
        raw = word64_decode(masked[len(prefix) :])
    except DecodeError:
        return None
    return xor(raw, password.encode("utf-8")).decode("utf-8", "surrogateescape")
