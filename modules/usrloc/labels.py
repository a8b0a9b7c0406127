"""Contact ids as OpenSIPS builds them (usrloc `contact_id`, MI `ContactID`).

64 bits: bits 0-13 a per-record contact label that rotates, 14-45 a record label handed out by
the record's hash slot, 46-63 the low 16 bits of the AOR hash. Tools that decode ids from an
OpenSIPS `location` table read ours the same way.
"""

from __future__ import annotations

import random

from pysips.sip.core_hash import core_hash as _core_hash

CLABEL_MASK = (1 << 14) - 1
RLABEL_MASK = 0xFFFFFFFF


def core_hash(text: str, size: int = 0) -> int:
    """OpenSIPS's core_hash() over one string, as usrloc keys its records (the AOR's bytes)."""
    return _core_hash(text.encode("utf-8", "surrogateescape"), None, size)


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
