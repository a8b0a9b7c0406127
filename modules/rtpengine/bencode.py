"""Bencode, the encoding of the rtpengine NG control protocol.

Four kinds of values: byte strings (`4:spam`), integers (`i42e`), lists (`l...e`) and dictionaries
(`d...e`, keys are strings). We encode `str` as UTF-8 and decode every string to `str` with
`surrogateescape`, so that bytes which are not UTF-8 (an odd SDP) survive a round trip unchanged:
`text.encode("utf-8", "surrogateescape")` gives the original bytes back.

Our own small codec rather than a PyPI package: the protocol needs ~100 lines, and a decoder that
refuses malformed input with a position (instead of an IndexError deep in a library) matters more
here than speed. Dictionary keys are written in insertion order, as rtpengine's clients do; the
decoder accepts any order.
"""

from __future__ import annotations

from typing import TypeAlias

BValue: TypeAlias = int | str | bytes | list["BValue"] | dict[str, "BValue"]

# Nesting deeper than this is refused: NG messages nest three or four levels, and a bound keeps a
# hostile datagram ("llllll...") from exhausting the stack.
MAX_DEPTH = 64


class BencodeError(ValueError):
    """Malformed bencoded data, or a value that cannot be encoded."""

    def __init__(self, message: str, offset: int = -1) -> None:
        super().__init__(message if offset < 0 else f"{message} at offset {offset}")
        self.offset = offset


# ------------------------------------------------------------------------------------- encoding


def encode(value: BValue) -> bytes:
    out: list[bytes] = []
    _encode(value, out, 0)
    return b"".join(out)


def _encode(value: BValue, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BencodeError("value nested too deeply")
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(value, bool):
        raise BencodeError("booleans have no bencode form")
    elif isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, list | tuple):
        out.append(b"l")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b"e")
    elif isinstance(value, dict):
        out.append(b"d")
        for key, item in value.items():
            if not isinstance(key, str | bytes):
                raise BencodeError(f"dictionary key {key!r} is not a string")
            _encode(key, out, depth + 1)
            _encode(item, out, depth + 1)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot encode {type(value).__name__}")


# ------------------------------------------------------------------------------------- decoding


def decode(data: bytes) -> BValue:
    """The one value `data` holds; BencodeError when it is malformed or followed by garbage."""
    value, end = decode_prefix(data, 0)
    if end != len(data):
        raise BencodeError("trailing data after the value", end)
    return value


def decode_prefix(data: bytes, start: int) -> tuple[BValue, int]:
    """The value starting at `start` and the offset just past it."""
    return _Decoder(data).value(start, 0)


class _Decoder:
    __slots__ = ("data", "size")

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.size = len(self.data)

    def value(self, pos: int, depth: int) -> tuple[BValue, int]:
        if pos >= self.size:
            raise BencodeError("unexpected end of data", pos)
        if depth > MAX_DEPTH:
            raise BencodeError("nested too deeply", pos)
        lead = self.data[pos]
        if lead == 0x69:  # i
            return self.integer(pos)
        if lead == 0x6C:  # l
            items: list[BValue] = []
            pos += 1
            while True:
                if pos >= self.size:
                    raise BencodeError("unterminated list", pos)
                if self.data[pos] == 0x65:  # e
                    return items, pos + 1
                item, pos = self.value(pos, depth + 1)
                items.append(item)
        if lead == 0x64:  # d
            entries: dict[str, BValue] = {}
            pos += 1
            while True:
                if pos >= self.size:
                    raise BencodeError("unterminated dictionary", pos)
                if self.data[pos] == 0x65:
                    return entries, pos + 1
                if not 0x30 <= self.data[pos] <= 0x39:
                    raise BencodeError("dictionary key is not a string", pos)
                key, pos = self.string(pos)
                item, pos = self.value(pos, depth + 1)
                entries[key] = item
        if 0x30 <= lead <= 0x39:
            return self.string(pos)
        raise BencodeError(f"unexpected byte {bytes([lead])!r}", pos)

    def integer(self, pos: int) -> tuple[int, int]:
        end = self.data.find(b"e", pos + 1)
        if end < 0:
            raise BencodeError("unterminated integer", pos)
        digits = self.data[pos + 1 : end]
        body = digits[1:] if digits.startswith(b"-") else digits
        if not body.isdigit() or (len(body) > 1 and body[0] == 0x30) or digits == b"-0":
            raise BencodeError(f"bad integer {digits!r}", pos)
        return int(digits), end + 1

    def string(self, pos: int) -> tuple[str, int]:
        colon = self.data.find(b":", pos)
        if colon < 0:
            raise BencodeError("string length without ':'", pos)
        digits = self.data[pos:colon]
        if not digits.isdigit() or (len(digits) > 1 and digits[0] == 0x30):
            raise BencodeError(f"bad string length {digits!r}", pos)
        length = int(digits)
        start = colon + 1
        end = start + length
        if end > self.size:
            raise BencodeError(f"string of {length} bytes runs past the end", pos)
        return self.data[start:end].decode("utf-8", "surrogateescape"), end
