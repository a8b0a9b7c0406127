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
_PLUS_CRLF = (2).__add__

class HeaderTable:
    """`parts[i]`/`keys[i]` describe header line i; `first` maps a key to its first line. Byte spans
    come from the lengths of the raw header `lines` (one per part) after a first line of
    `first_len` bytes, or, when the parser had to join or drop lines, from the `fields` it gives."""

    __slots__ = ("fields", "first", "first_len", "index", "keys", "lines", "parts", "starts")

    def __init__(
        self,
        parts: list[Part],
        keys: list[str],
        first_len: int,
        fields: list[Field] | None,
        lines: list[bytes] | None = None,
    ) -> None:
        self.parts = parts
        self.lines = lines
        self.keys = keys
        # reversed, so that earlier positions overwrite later ones: the first occurrence wins
        self.first: dict[str, int] = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=False))
        self.first_len = first_len
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
            # where each line starts: a running sum of line lengths plus CRLFs. The raw lines'
            # lengths cost one C-level pass; the parts' (partition keeps every byte) three per line
            lines = self.lines
            if lines is not None:
                lengths = map(_PLUS_CRLF, map(len, lines))
            elif i < 4:
                # the top lines (Via, mostly, for pop_via/push_via): a short sum beats the table
                start = self.first_len + 2
                for name, sep, value in self.parts[:i]:
                    start += len(name) + len(sep) + len(value) + 2
                name, sep, value = self.parts[i]
                return start, start + len(name) + len(sep) + len(value) + 2
            else:
                lengths = map(add, map(sum, map(map, repeat(len), self.parts)), repeat(2))
            starts = self.starts = list(accumulate(lengths, initial=self.first_len + 2))
        return starts[i], starts[i + 1]
