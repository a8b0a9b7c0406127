"""The Route entries of a request with their byte positions, and removing some of them as lumps.

A Route header field may hold several comma-separated entries; loose routing removes entries, not
fields, so each entry is located in the received bytes once and removals are written as one lump
per touched field (the whole field when nothing of it remains, else the field rewritten with the
remaining entries).
"""

from __future__ import annotations

from collections.abc import Iterable

from pysips.script.pv_sipparse import split_commas
from pysips.sip.message import SipMessage
from pysips.sip.nameaddr import NameAddr, parse_name_addr


class RouteEntry:
    __slots__ = ("addr", "field", "text")

    def __init__(self, addr: NameAddr, field: int, text: str) -> None:
        self.addr = addr
        self.field = field  # index into the list of Route field spans
        self.text = text  # the entry as written

    @property
    def uri(self) -> str:
        return self.addr.uri


def _split_entries(body: str) -> list[str]:
    """Comma-separated entries outside quotes and angle brackets."""
    if '"' not in body:
        parts = body.split(",")
        if all(p.count("<") == p.count(">") for p in parts):
            return [p.strip() for p in parts]  # the usual case: no comma inside <>
    return split_commas(body)  # empty entries are dropped, as route_set skips them anyway


class RouteSet:
    """Every Route entry, top first, and the spans of the fields holding them."""

    __slots__ = ("entries", "names", "spans")

    def __init__(self, spans: list[tuple[int, int]], names: list[str], entries: list[RouteEntry]) -> None:
        self.spans = spans
        self.names = names
        self.entries = entries


def route_set(msg: SipMessage) -> RouteSet | None:
    """The Route entries; None when one does not parse (loose_route then fails, as OpenSIPS)."""
    spans = msg.header_spans("route")
    raw = msg.raw
    names: list[str] = []
    entries: list[RouteEntry] = []
    for index, (start, end) in enumerate(spans):
        line = raw[start:end].decode("utf-8", "surrogateescape")
        name, colon, body = line.partition(":")
        if not colon:
            return None
        names.append(name.strip())
        folded = body.splitlines()
        # unfold; the usual field is one line
        body = folded[0].strip() if len(folded) == 1 else " ".join(part.strip() for part in folded)
        for item in _split_entries(body):
            if not item:
                continue
            parsed = parse_name_addr(item)
            if not isinstance(parsed, NameAddr):
                return None
            entries.append(RouteEntry(parsed, index, item))
    return RouteSet(spans, names, entries)


def remove_entries(msg: SipMessage, routes: RouteSet, removed: Iterable[RouteEntry]) -> None:
    gone = {id(e) for e in removed}
    if not gone:
        return
    by_field: dict[int, list[RouteEntry]] = {}
    for entry in routes.entries:
        by_field.setdefault(entry.field, []).append(entry)
    for field, entries in by_field.items():
        left = [e for e in entries if id(e) not in gone]
        if len(left) == len(entries):
            continue
        start, end = routes.spans[field]
        if not left:
            msg.add_lump(start, end, b"")
            continue
        text = f"{routes.names[field]}: {', '.join(e.text for e in left)}\r\n"
        msg.add_lump(start, end, text.encode("utf-8", "surrogateescape"))
