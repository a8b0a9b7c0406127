"""The header section as a table: every line's name, value and canonical key, built once per message
by the parser and shared by the message's copies (tm's branches), with the derived views
(byte spans, every position per key) built on first need.
"""

from __future__ import annotations

from itertools import accumulate, repeat
from operator import add

# (canonical key, name as written, value bytes unfolded and stripped, start offset, end offset)
Field = tuple[str, bytes, bytes, int, int]
# a header line split at its first colon: (name as written, b":", value as written)
Part = tuple[bytes, bytes, bytes]

class HeaderTable:
    """`parts[i]`/`keys[i]` describe header line i; `first` maps a key to its first line.
    `lines` is the head split at CRLF (the first line included) when the head has no continuation or
    bad lines, and byte spans come from it; otherwise the parser gives `fields` (spans included)."""

    __slots__ = ("fields", "first", "index", "keys", "lines", "parts", "starts")

    def __init__(
        self, parts: list[Part], keys: list[str], lines: list[bytes] | None, fields: list[Field] | None
    ) -> None:
        self.parts = parts
        self.keys = keys
        # reversed, so that earlier positions overwrite later ones: the first occurrence wins
        self.first: dict[str, int] = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))
        self.lines = lines
        self.fields = fields
        self.index: dict[str, list[int]] | None = None
        self.starts: list[int] | None = None

    def span(self, i: int) -> tuple[int, int]:
        """Byte offsets of header line i in the message, its CRLF included."""
        fields = self.fields
        if fields is not None:
            field = fields[i]
            return field[3], field[4]
        starts = self.starts
        if starts is None:
            # where each line starts: the running sum of the line lengths plus their CRLFs
            lengths = map(add, map(len, self.lines or ()), repeat(2))
            starts = self.starts = list(accumulate(lengths, initial=0))
        return starts[i + 1], starts[i + 2]
