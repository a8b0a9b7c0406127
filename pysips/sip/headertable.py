"""The header section as a table: every line's name, value and canonical key, built once per message.

The routing-level parse does not need it (it reads the few routing headers with one regex pass), so
SipMessage builds it on first use of any other header; messages with continuation lines or broken
header lines have it built by the parser, which must look at every line to judge them.
"""

from __future__ import annotations

from pysips.sip.headers import KNOWN_KEYS, key_for_bytes

# (canonical key, name as written, value bytes unfolded and stripped, start offset, end offset)
Field = tuple[str, bytes, bytes, int, int]
# a header line split at its first colon: (name as written, b":", value as written)
Part = tuple[bytes, bytes, bytes]

_KEY_OF = KNOWN_KEYS.get


class HeaderTable:
    """`parts[i]`/`keys[i]` describe header line i; `first` maps a key to its first line.
    `fields` (with byte spans) and `index` (every line per key) are built on demand."""

    __slots__ = ("fields", "first", "index", "keys", "parts")

    def __init__(self, parts: list[Part], keys: list[str], fields: list[Field] | None) -> None:
        self.parts = parts
        self.keys = keys
        # reversed, so that earlier positions overwrite later ones: the first occurrence wins
        self.first: dict[str, int] = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))
        self.fields = fields
        self.index: dict[str, list[int]] | None = None


def table_of_clean_head(raw: bytes, first_end: int, head_end: int) -> HeaderTable:
    """The table of a head the parser found clean: no continuation lines, every line
    `token [SP/HTAB] ':' value` with CR only in CRLF."""
    if first_end >= head_end:
        return HeaderTable([], [], None)
    parts: list[Part] = [line.partition(b":") for line in raw[first_end + 2 : head_end].split(b"\r\n")]
    keys = [_KEY_OF(p[0]) or key_for_bytes(p[0]) or "" for p in parts]
    return HeaderTable(parts, keys, None)
