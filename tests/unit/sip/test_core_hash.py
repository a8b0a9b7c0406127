"""core_hash() against a byte-by-byte transcription of OpenSIPS's hash_func.h: the word-at-a-time
arithmetic must give the same value for every length (tails of 1-3 bytes) and every byte (the
ones above 127 count negative, as C's signed char)."""

from __future__ import annotations

import random

from pysips.sip.core_hash import core_hash


def _char(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


def _reference_mix(h: int, data: bytes) -> int:
    p, end = 0, len(data)
    while p <= end - 4:
        v = ((_char(data[p]) << 24) + (_char(data[p + 1]) << 16) + (_char(data[p + 2]) << 8)
             + _char(data[p + 3])) & 0xFFFFFFFF
        h = (h + (v ^ (v >> 3))) & 0xFFFFFFFF
        p += 4
    v = 0
    while p < end:
        v = ((v << 8) + _char(data[p])) & 0xFFFFFFFF
        p += 1
    return (h + (v ^ (v >> 3))) & 0xFFFFFFFF


def _reference(first: bytes, second: bytes | None, size: int) -> int:
    h = _reference_mix(0, first)
    if second is not None:
        h = _reference_mix(h, second)
    h = ((h + (h >> 11)) + ((h >> 13) + (h >> 23))) & 0xFFFFFFFF
    return h & (size - 1) if size else h


def test_core_hash_equals_the_byte_by_byte_definition() -> None:
    rnd = random.Random(22)
    for i in range(3000):
        # every length 0-39 and some past the unpackers made in advance (63 words); ASCII text
        # (no sign bits) or bytes drawn mostly from the high half, so tails carry sign bits too
        length = rnd.randrange(40) if i % 10 else rnd.randrange(240, 300)
        if i % 2:
            first = bytes(rnd.randrange(128) for _ in range(length))
        else:
            first = bytes(rnd.choice((rnd.randrange(128, 256), rnd.randrange(256))) for _ in range(length))
        second = None if rnd.random() < 0.5 else bytes(rnd.randrange(256) for _ in range(rnd.randrange(9)))
        size = rnd.choice((0, 4, 512, 1 << 16))
        assert core_hash(first, second, size) == _reference(first, second, size), (first, second, size)


def test_tails_of_high_bytes() -> None:
    for tail in (b"\x80", b"\xff", b"\x80\x80", b"\xff\x01", b"\x7f\x80\xff", b"\xff\xff\xff"):
        for head in (b"", b"abcd", b"\xff\xff\xff\xff"):
            assert core_hash(head + tail) == _reference(head + tail, None, 0)
