"""The slice of the SIP message API the transaction layer reads.

Structural types, so any message object with these attributes works (pysips.sip.message.SipMessage
does); the transaction layer never imports the parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class ViaLike(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    @property
    def branch(self) -> str | None: ...


class CSeqLike(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def method(self) -> str: ...


class NameAddrLike(Protocol):
    @property
    def tag(self) -> str | None: ...


class MessageLike(Protocol):
    """A parsed request or response."""

    @property
    def is_request(self) -> bool: ...
    @property
    def method(self) -> str: ...
    @property
    def ruri(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def call_id(self) -> str: ...
    @property
    def cseq(self) -> CSeqLike: ...
    @property
    def from_(self) -> NameAddrLike: ...
    @property
    def to(self) -> NameAddrLike: ...
    @property
    def vias(self) -> Sequence[ViaLike]: ...
    def header(self, name: str) -> str | None: ...
    def headers(self, name: str) -> list[str]: ...


class OutgoingResponse(Protocol):
    """A response the TU hands to a server transaction, when it is not already bytes."""

    @property
    def status(self) -> int: ...
    def serialize(self) -> bytes: ...
