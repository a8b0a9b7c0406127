"""The header section as a table: every line's name, value and canonical key, built once per message
by the parser and shared by the message's copies (tm's branches), with the derived views
(byte spans, every position per key) built on first need.
"""

from __future__ import annotations

# (canonical key, name as written, value bytes unfolded and stripped, start offset, end offset)
Field = tuple[str, bytes, bytes, int, int]
# a header line split at its first colon: (name as written, b":", value as written)
Part = tuple[bytes, bytes, bytes]

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
