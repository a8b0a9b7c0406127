"""Edits over an unchanged original buffer, applied only when the message is written out.

As in OpenSIPS, modules record insertions, deletions and replacements by byte offset into the
received message; nobody sees anyone else's edit until serialization. Rules for overlaps: at one
offset, insertions come before deletions and keep their recording order; an edit that starts inside
a region already deleted is clipped to its end, and dropped if it lies wholly inside it.
"""

from __future__ import annotations

# (start, end, replacement bytes, order): start == end is an insertion, empty data a deletion
Lump = tuple[int, int, bytes, int]


def _order(lump: Lump) -> tuple[int, int, int]:
    start, end, _data, seq = lump
    return (start, 0 if start == end else 1, seq)


def apply_lumps(raw: bytes, end: int, lumps: list[Lump]) -> bytes:
    """raw[:end] with the lumps applied."""
    if not lumps:
        return raw[:end]
    out: list[bytes] = []
    cursor = 0
    for start, stop, data, _seq in sorted(lumps, key=_order):
        if start < cursor:
            if stop <= cursor:
                continue
            start = cursor
        out.append(raw[cursor:start])
        out.append(data)
        cursor = max(cursor, stop)
    out.append(raw[cursor:end])
    return b"".join(out)
