"""The NG command for one operation on one message: flags + message facts -> dictionary.

Pure (no sockets, no script context) so the tag rules can be tested on their own. The rules are
OpenSIPS's: the party that sent the SDP is the "from-tag". For requests (other than an answer) and
for replies carrying an answer or asking for a delete, that is the From tag; a reply carrying an
offer (late SDP in a 200 OK) or a request carrying an answer (late SDP in the ACK) swaps the tags.
"""

from __future__ import annotations

from dataclasses import dataclass

from .bencode import BValue
from .flags import ANSWER, DELETE, OFFER, ParsedFlags


class CommandError(ValueError):
    """The message lacks what the command needs (Call-ID, tags, a Via branch)."""


@dataclass(frozen=True, slots=True)
class MsgFacts:
    """What a command takes from the SIP message."""

    is_request: bool
    call_id: str
    from_tag: str | None
    to_tag: str | None
    src_ip: str | None = None  # the SIP source address, for "received-from"


def effective_op(op: str, parsed: ParsedFlags) -> str:
    if parsed.force_answer:
        if op != OFFER:
            raise CommandError("cannot force answer in non-offer command")
        return ANSWER
    return op


def build_command(
    op: str,
    parsed: ParsedFlags,
    facts: MsgFacts,
    sdp: str | None = None,
    via_branch: str | None = None,
) -> dict[str, BValue]:
    """The dictionary to send; `op` must already be effective_op(). Raises CommandError."""
    cmd: dict[str, BValue] = {}
    media = op in (OFFER, ANSWER)
    if media and sdp is not None:
        cmd["sdp"] = sdp
    for key, value in parsed.entries:
        cmd[key] = value
    if media and parsed.direction:
        cmd["direction"] = list(parsed.direction)
    if parsed.flags:
        cmd["flags"] = list(parsed.flags)
    if media and parsed.replace:
        cmd["replace"] = list(parsed.replace)
    protocol = parsed.transport_protocol
    if protocol is not None:
        cmd["transport-protocol"] = protocol
    if media and parsed.rtcp_mux:
        cmd["rtcp-mux"] = list(parsed.rtcp_mux)
    if parsed.sdes:
        cmd["SDES"] = list(parsed.sdes)

    call_id = parsed.call_id or facts.call_id
    if not call_id:
        raise CommandError("can't get Call-Id field")
    from_tag = parsed.from_tag or facts.from_tag
    if not from_tag:
        raise CommandError("can't get From tag")
    to_tag = parsed.to_tag or facts.to_tag or ""
    cmd["call-id"] = call_id
    if via_branch is not None:
        if not via_branch:
            raise CommandError("can't get Via branch/extra ID")
        cmd["via-branch"] = via_branch
    received = parsed.received_from or facts.src_ip
    if received:
        cmd["received-from"] = ["IP6" if ":" in received else "IP4", received]

    send_to_tag = op != DELETE or parsed.force_to_tag
    as_written = (
        parsed.directional
        or (facts.is_request and op != ANSWER)
        or (not facts.is_request and op in (DELETE, ANSWER))
    )
    if as_written:
        cmd["from-tag"] = from_tag
        if send_to_tag and to_tag:
            cmd["to-tag"] = to_tag
    else:
        if not to_tag:
            raise CommandError("No to-tag present")
        cmd["from-tag"] = to_tag
        cmd["to-tag"] = from_tag
    cmd["command"] = op
    return cmd
