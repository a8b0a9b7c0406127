"""OpenSIPS's core_hash(): the string hash its modules use for hash tables and derived values
(uac_auth's cnonce, dispatcher's hashing algorithms, usrloc's contact ids). Reproduced bit for bit,
so that values a peer sees are the ones OpenSIPS would send.

C adds up the string 4 bytes at a time; so does this, a word per loop step (the words unpacked by
struct in one call), never a Python step per byte. Arithmetic on 32-bit values is the expensive
part in Python, so the ASCII strings SIP mostly hashes skip the signed-char correction."""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF

# the sign bit of each byte of a word (or of a 1-3 byte tail), by byte count
_SIGN_BITS = (0, 0x80, 0x8080, 0x808080, 0x80808080)

# unpackers of n big-endian 32-bit words from the start of a buffer, made once for usual lengths
_WORDS = tuple(struct.Struct(f">{n}I").unpack_from for n in range(64))


def _signed_sum(word: int, length: int) -> int:
    """C's `(p[0] << 24) + (p[1] << 16) + ...` over `length` bytes read big-endian as `word`,
    modulo 2**32. C's `char` is signed on the platforms OpenSIPS runs on: a byte above 127 adds
    b - 256, that is 256 << its shift less than its unsigned value; the sign bits, doubled, are
    those amounts (a top byte's one is 2**32, which the mask drops)."""
    return (word - ((word & _SIGN_BITS[length]) << 1)) & _MASK


def _mix(h: int, data: bytes) -> int:
    end = len(data)
    count = end >> 2
    if count:
        words = _WORDS[count](data) if count < 64 else struct.unpack_from(f">{count}I", data)
        if data.isascii():
            # no byte counts negative (the usual AOR, Call-ID, URI): each word is its C sum as is
            for v in words:
                h += v ^ (v >> 3)
        else:
            for word in words:
                v = (word - ((word & 0x80808080) << 1)) & _MASK  # _signed_sum(word, 4), inlined
                h += v ^ (v >> 3)
    rest = end & 3
    if rest:  # C mixes the tail's sum in even when there is no tail, but 0 adds nothing
        v = _signed_sum(int.from_bytes(data[end - rest:], "big"), rest)
        h += v ^ (v >> 3)
    return h & _MASK


def core_hash(first: bytes, second: bytes | None = None, size: int = 0) -> int:
    """core_hash(s1, s2, size): the hash of one or two strings; `size` (a power of two) masks it,
    0 keeps all 32 bits."""
    h = _mix(0, first)
    if second is not None:
        h = _mix(h, second)
    h = ((h + (h >> 11)) + ((h >> 13) + (h >> 23))) & _MASK
    return h & (size - 1) if size else h
