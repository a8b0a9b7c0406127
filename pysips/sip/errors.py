"""Parse failures as values: what went wrong and which response, if any, a proxy owes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pysips.sip.message import SipMessage


class ParseError:
    """A failed parse. Never raised: returned in place of the parsed value.

    `status` is the response an element should send (400, 416, 420, 505 ...), or None when the input
    cannot be answered (a broken response, a request without enough headers to address a reply) and
    must be dropped and logged. `partial` is the message as far as it was parsed, when the headers
    a response copies (Via, From, To, Call-ID, CSeq) are available: build.make_response accepts it.
    """

    __slots__ = ("partial", "reason", "status")

    def __init__(self, reason: str, status: int | None = 400, partial: SipMessage | None = None) -> None:
        self.reason = reason
        self.status = status
        self.partial = partial

    @property
    def can_answer(self) -> bool:
        return self.status is not None and self.partial is not None

    def __repr__(self) -> str:
        return f"ParseError({self.reason!r}, status={self.status})"
