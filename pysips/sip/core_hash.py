"""OpenSIPS's core_hash(): the string hash its modules use for hash tables and derived values
(uac_auth's cnonce, dispatcher's hashing algorithms). Reproduced bit for bit, so that values a
peer sees are the ones OpenSIPS would send."""

from __future__ import annotations

_MASK = 0xFFFFFFFF


def _signed(byte: int) -> int:
    # C's `char` is signed on the platforms OpenSIPS runs on: bytes above 127 count negative
    return byte - 256 if byte > 127 else byte


def _mix(h: int, data: bytes) -> int:
    end = len(data)
    p = 0
    while p <= end - 4:
        v = ((_signed(data[p]) << 24) + (_signed(data[p + 1]) << 16) + (_signed(data[p + 2]) << 8)
             + _signed(data[p + 3])) & _MASK
        h = (h + (v ^ (v >> 3))) & _MASK
        p += 4
    v = 0
    while p < end:
        v = ((v << 8) + _signed(data[p])) & _MASK
        p += 1
    return (h + (v ^ (v >> 3))) & _MASK


def core_hash(first: bytes, second: bytes | None = None, size: int = 0) -> int:
    """core_hash(s1, s2, size): the hash of one or two strings; `size` (a power of two) masks it,
    0 keeps all 32 bits."""
    h = _mix(0, first)
    if second is not None:
        h = _mix(h, second)
    h = ((h + (h >> 11)) + ((h >> 13) + (h >> 23))) & _MASK
    return h & (size - 1) if size else h
