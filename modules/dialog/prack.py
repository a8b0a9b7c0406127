"""RFC 3262 (reliable provisional replies) as the dialog sees them: which replies are reliable,
and the RAck header a PRACK for one carries. Pure functions of a message; no I/O."""

from __future__ import annotations

from pysips.sip.message import SipMessage

# (RSeq, CSeq number, CSeq method) of a reliable provisional reply: what a PRACK's RAck repeats
Reliable = tuple[int, int, str]


def reliable_of(reply: SipMessage) -> Reliable | None:
    """The RAck triple of a reliable provisional reply (101-199 with `Require: 100rel` and an
    RSeq, RFC 3262 section 3); None for any other reply or a malformed RSeq."""
    if not 100 < reply.status < 200:
        return None
    raw = reply.header("RSeq")  # first: most provisionals have none, and it is the cheap test
    if raw is None:
        return None
    if "100rel" not in (tag.lower() for tag in reply.option_tags("Require")):
        return None
    text = raw.strip()
    if not text.isdigit() or not 0 < int(text) < 2**32:
        return None
    return int(text), reply.cseq.number, reply.cseq.method


def rack_header(reliable: Reliable) -> str:
    """The RAck header line of a PRACK for that reply (RFC 3262 section 7.2)."""
    rseq, cseq, method = reliable
    return f"RAck: {rseq} {cseq} {method}"
