"""Bencode, the encoding of the rtpengine NG control protocol.

Four kinds of values: byte strings (`4:spam`), integers (`i42e`), lists (`l...e`) and dictionaries
(`d...e`, keys are strings). We encode `str` as UTF-8 and decode every string to `str` with
`surrogateescape`, so that bytes which are not UTF-8 (an odd SDP) survive a round trip unchanged:
`text.encode("utf-8", "surrogateescape")` gives the original bytes back.

Our own small codec rather than a PyPI package. rtpengine writes dictionary keys in the order it
adds them (`d3:sdp...6:result2:oke`), and the fast compiled decoders (fastbencode 0.3.12, bencode2,
bencode-rs) enforce BEP 3's sorted keys with no option to relax it: they refuse every reply the
daemon sends. The ones that accept any order crashed the process on a 5-byte reply (bencoder.pyx
3.0.3 on `d-9:e`, bencode.cy on a real delete reply), took garbage (fast-bencode: `ie` is 1) or
were no faster (bencode.py). A decoder that refuses malformed input with a position matters here.
Dictionary keys are written in insertion order, as rtpengine's clients do.

`decode_flat` is for the delete's reply: some 260 values of call statistics that a script reads
only through $rtpstat/$rtpquery. It checks them exactly as `decode` does but builds none of them,
in about two thirds of the time (checking, which cannot be skipped, is most of the cost).
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
    try:
        return _Decoder(data).value(start, 0)
    except BencodeError:
        raise
    except ValueError as exc:  # int() refuses more than 4300 digits: malformed, as any other
        raise BencodeError(str(exc), start) from None


def decode_flat(data: bytes) -> dict[str, BValue]:
    """The dictionary `data` holds, without its values that are lists or dictionaries: those are
    checked as `decode` checks them and left out. BencodeError exactly when `decode(data)` would
    raise one or give something other than a dictionary."""
    try:
        return _flat(_Decoder(data))
    except BencodeError:
        raise
    except ValueError as exc:  # as in decode_prefix
        raise BencodeError(str(exc), 0) from None


def _flat(decoder: _Decoder) -> dict[str, BValue]:
    data, size = decoder.data, decoder.size
    if size == 0 or data[0] != 0x64:
        raise BencodeError("not a dictionary", 0)
    entries: dict[str, BValue] = {}
    pos = 1
    while True:
        if pos >= size:
            raise BencodeError("unterminated dictionary", pos)
        if data[pos] == 0x65:
            break
        if not 0x30 <= data[pos] <= 0x39:
            raise BencodeError("dictionary key is not a string", pos)
        key, pos = decoder.string(pos)
        if pos < size and data[pos] in (0x64, 0x6C):
            pos = _skip(data, pos, 1)
            entries.pop(key, None)  # a repeated key: the last value wins, as in decode
        else:
            entries[key], pos = decoder.value(pos, 1)
    if pos + 1 != size:
        raise BencodeError("trailing data after the value", pos + 1)
    return entries


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


def _skip(data: bytes, pos: int, depth: int) -> int:
    """The offset just past the value at `pos` (at nesting `depth`), with every check of
    _Decoder.value and nothing built, in one loop with no Python call per value: that is all of
    decode_flat's gain, so keep it flat (tests check that both refuse the same input)."""
    try:
        return _skip_loop(data, pos, depth)
    except IndexError:  # data[pos] past the end
        raise BencodeError("unexpected end of data", len(data)) from None


def _skip_loop(data: bytes, pos: int, depth: int) -> int:
    size = len(data)
    parents: list[bool] = []  # per enclosing open container: is it a dictionary
    in_dict = False  # the innermost open container is a dictionary
    want_key = False  # ... and its next item is a key
    while True:
        lead = data[pos]
        if 0x30 <= lead <= 0x39:  # a string, key or value
            colon = data.find(b":", pos)
            digits = data[pos:colon]
            if colon < 0 or not digits.isdigit() or (lead == 0x30 and len(digits) > 1):
                raise BencodeError(f"bad string length {digits!r}", pos)
            pos = colon + 1 + int(digits)
            if pos > size:
                raise BencodeError("string runs past the end", colon)
            if want_key:
                want_key = False
                continue
        elif lead == 0x65 and (want_key or (parents and not in_dict)):  # a container ends
            in_dict = parents.pop()
            pos += 1
        elif want_key:
            raise BencodeError("dictionary key is not a string", pos)
        elif lead == 0x69:
            end = data.find(b"e", pos + 1)
            digits = data[pos + 1 : end]
            body = digits[1:] if digits.startswith(b"-") else digits
            if end < 0 or not body.isdigit() or (len(body) > 1 and body[0] == 0x30) or digits == b"-0":
                raise BencodeError(f"bad integer {digits!r}", pos)
            int(digits)  # unused, but refused past 4300 digits as in decode
            pos = end + 1
        elif lead == 0x6C or lead == 0x64:
            # decode refuses any value deeper than MAX_DEPTH: a container there, or an item of
            # one at MAX_DEPTH
            level = depth + len(parents)
            if level > MAX_DEPTH or (level == MAX_DEPTH and data[pos + 1] != 0x65):
                raise BencodeError("nested too deeply", pos)
            parents.append(in_dict)
            in_dict = want_key = lead == 0x64
            pos += 1
            continue
        else:
            raise BencodeError(f"unexpected byte {bytes([lead])!r}", pos)
        if not parents:
            return pos
        want_key = in_dict
