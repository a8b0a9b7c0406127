"""OpenSIPS's core_hash(): the string hash its modules use for hash tables and derived values
(uac_auth's cnonce, dispatcher's hashing algorithms, usrloc's contact ids). Reproduced bit for bit,
so that values a peer sees are the ones OpenSIPS would send."""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF

# the sign bit of each byte of a word (or of a 1-3 byte tail), by byte count
_SIGN_BITS = (0, 0x80, 0x8080, 0x808080, 0x80808080)


def _signed_sum(word: int, length: int) -> int:
    """C's `(p[0] << 24) + (p[1] << 16) + ...` over `length` bytes read big-endian as `word`,
    modulo 2**32. C's `char` is signed on the platforms OpenSIPS runs on: a byte above 127 adds
    b - 256, that is 256 << its shift less than its unsigned value; the sign bits, doubled, are
    those amounts (a top byte's one is 2**32, which the mask drops)."""
    return (word - ((word & _SIGN_BITS[length]) << 1)) & _MASK


def _mix(h: int, data: bytes) -> int:
    end = len(data)
    whole = end & ~3
    if whole:
        # one C loop step per 4-byte word, the words unpacked at once rather than byte by byte
        for word in struct.unpack(f">{whole >> 2}I", data[:whole]):
            v = (word - ((word & 0x80808080) << 1)) & _MASK  # _signed_sum(word, 4), inlined
            h += v ^ (v >> 3)
    v = _signed_sum(int.from_bytes(data[whole:], "big"), end - whole)
    return (h + (v ^ (v >> 3))) & _MASK


def core_hash(first: bytes, second: bytes | None = None, size: int = 0) -> int:
    """core_hash(s1, s2, size): the hash of one or two strings; `size` (a power of two) masks it,
    0 keeps all 32 bits."""
    h = _mix(0, first)
    if second is not None:
        h = _mix(h, second)
    h = ((h + (h >> 11)) + ((h >> 13) + (h >> 23))) & _MASK
    return h & (size - 1) if size else h
