"""Contact ids as OpenSIPS builds them (usrloc `contact_id`, MI `ContactID`).

64 bits: bits 0-13 a per-record contact label that rotates, 14-45 a record label handed out by
the record's hash slot, 46-63 the low 16 bits of the AOR hash. Tools that decode ids from an
OpenSIPS `location` table read ours the same way.
"""

from __future__ import annotations

import random

CLABEL_MASK = (1 << 14) - 1
RLABEL_MASK = 0xFFFFFFFF
_U32 = 0xFFFFFFFF


def core_hash(text: str, size: int = 0) -> int:
    """OpenSIPS's core_hash() over one string (bytes read as signed chars, as on x86)."""
    data = text.encode("utf-8", "surrogateescape")
    h = 0
    n = len(data)
    end4 = n - n % 4
    for i in range(0, end4, 4):
        v = (_sc(data[i]) << 24) + (_sc(data[i + 1]) << 16) + (_sc(data[i + 2]) << 8) + _sc(data[i + 3])
        v &= _U32
        h = (h + (v ^ (v >> 3))) & _U32
    v = 0
    for b in data[end4:]:
        v = ((v << 8) + _sc(b)) & _U32
    h = (h + (v ^ (v >> 3))) & _U32
    h = ((h + (h >> 11)) + ((h >> 13) + (h >> 23))) & _U32
    return h & (size - 1) if size else h


def _sc(b: int) -> int:
    return b - 256 if b > 127 else b


def pack(aorhash: int, rlabel: int, clabel: int) -> int:
    return (clabel & CLABEL_MASK) + ((rlabel & RLABEL_MASK) << 14) + ((aorhash & 0xFFFF) << 46)


def unpack(contact_id: int) -> tuple[int, int, int]:
    """(aorhash, record label, contact label)"""
    return (contact_id >> 46) & 0xFFFF, (contact_id >> 14) & RLABEL_MASK, contact_id & CLABEL_MASK


class SlotLabels:
    """The record-label counters of a table's hash slots (OpenSIPS hslot next_label)."""

    __slots__ = ("_next", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._next: dict[int, int] = {}  # slot -> next record label; slots are filled on first use

    def next_record_label(self, aorhash: int) -> int:
        slot = aorhash & (self.size - 1)
        label = self._next.get(slot)
        if label is None:
            label = random.getrandbits(31) or 1
        self._next[slot] = (label + 1) & RLABEL_MASK
        return label

    def seen(self, aorhash: int, rlabel: int) -> None:
        """A record label read from the database: later labels of its slot come after it."""
        slot = aorhash & (self.size - 1)
        if self._next.get(slot, 0) <= rlabel:
            self._next[slot] = (rlabel + 1) & RLABEL_MASK
