"""Dropping UDP retransmissions unread while the server is behind.

A UDP sender retransmits when its answer is late: an INVITE or BYE after T1 (500 ms) without a
reply, a callee's 200 without its ACK. When the server falls behind by more than T1, every
message it has not read yet is about to be sent again, and each copy costs a whole parse and a
transaction lookup before tm absorbs it. The load grows exactly when there is no CPU left, and
the backlog never drains: a soak at 80 % of the highest rate collapsed into 408s that way.

So while the listener is behind (its previous read batch was full: more datagrams were waiting
than one batch reads), a datagram whose bytes equal one read in the last `window` seconds is
dropped unread. The copy's original was read moments before and its answer is on its way, so
the copy has crossed it and would only have been absorbed. When the server keeps up, nothing is
dropped: a retransmission is handled as RFC 3261 says (tm resends its last reply).
"""

from __future__ import annotations

# Longer than a retransmission interval that matters here (T1 = 0.5 s, then 1 s, 2 s) and short
# enough that a copy sent because the original's answer was really lost is handled again.
WINDOW_S = 2.0


class DuplicateFilter:
    """Remembers the hashes of the datagrams read in the last one to two windows.

    Two generations of sets (the current window and the one before), swapped every window:
    one set insert per datagram, no per-entry expiry."""

    __slots__ = ("_current", "_previous", "_rotate_at", "dropped", "window")

    def __init__(self, window: float = WINDOW_S) -> None:
        self.window = window
        self._current: set[int] = set()
        self._previous: set[int] = set()
        self._rotate_at = 0.0
        self.dropped = 0

    def drop(self, data: bytes, now: float, behind: bool) -> bool:
        """Whether to drop `data` unread: only when `behind` and the same bytes were read lately.
        Every datagram read is remembered, so the original of a later copy is known."""
        if now >= self._rotate_at:
            # a whole window without a datagram empties both generations
            self._previous = self._current if now - self._rotate_at < self.window else set()
            self._current = set()
            self._rotate_at = now + self.window
        key = hash(data)
        if behind and (key in self._current or key in self._previous):
            self.dropped += 1
            return True
        self._current.add(key)
        return False
