"""codec_exists/delete/move_up/move_down(name[, clock]), their _re forms and
codec_delete_except_re(): the codecs of the message's SDP (OpenSIPS sipmsgops codecs.c).

Per stream, a codec is a payload number of the m= line with its a=rtpmap name and clock; numbers
without an rtpmap line are known by the static RTP table (0 PCMU, 8 PCMA, 18 G729 ...). Names and
clocks compare case-insensitively, regexes search the name. As OpenSIPS:
- the payloads are walked from the last of the m= line to the first, then the static table, so
  several codecs moved together end up in that order;
- deleting a codec drops its number and its a=rtpmap, a=fmtp and other a=...:<pt> lines, and
  those of the payload that names it with fmtp `apt=`; a stream left without payloads gets
  port 0;
- the calls build on each other over the received SDP (like OpenSIPS's lumps) and the result is
  written into the message body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

from .streams import _sdp_span

STATE_KEY = "sipmsgops.codecs"

STATIC = (
    ("0", "PCMU", "8000"), ("3", "GSM", "8000"), ("4", "G723", "8000"), ("5", "DVI4", "8000"),
    ("6", "DVI4", "16000"), ("7", "LPC", "8000"), ("8", "PCMA", "8000"), ("9", "G722", "8000"),
    ("10", "L16", "44100"), ("11", "L16", "44100"), ("12", "QCELP", "8000"), ("13", "CN", "8000"),
    ("14", "MPA", "90000"), ("15", "G728", "8000"), ("16", "DVI4", "11025"), ("17", "DVI4", "22050"),
    ("18", "G729", "8000"), ("25", "CelB", "8000"), ("26", "JPEG", "90000"), ("28", "nv", "90000"),
    ("31", "H261", "90000"), ("32", "MPV", "90000"), ("33", "MP2T", "90000"), ("34", "H263", "90000"),
    ("t38", "t38", ""),
)
_NOT_CUSTOM = ("rtpmap", "fmtp", "ptime", "rtcp", "accept-types", "accept-wrapped-types", "max-size", "path")


@dataclass(slots=True)
class Payload:
    number: str
    enc: str | None = None
    clock: str | None = None
    lines: list[int] = field(default_factory=list)  # its rtpmap, fmtp and custom a= lines
    linked: Payload | None = None
    static: bool = False


@dataclass(slots=True)
class Stream:
    mline: int  # index of the m= line
    payloads: list[Payload]  # as OpenSIPS walks them: last of the m= line first
    value: list[str]  # the payload numbers still in the m= line, in order
    port_zero: bool = False
    changed: bool = False


class CodecState:
    """The received SDP of one message and the codec edits made to it."""

    def __init__(self, msg: SipMessage, span: tuple[int, int]) -> None:
        self.msg = msg
        self.span = span
        text = msg.body[span[0]:span[1]].decode("utf-8", "surrogateescape")
        self.sep = "\r\n" if "\r\n" in text else "\n"
        self.lines = text.split(self.sep)
        self.deleted: set[int] = set()
        self.streams = _parse_streams(self.lines)

    def write(self) -> None:
        out = []
        for i, line in enumerate(self.lines):
            if i in self.deleted:
                continue
            stream = next((s for s in self.streams if s.mline == i), None)
            if stream is not None and stream.changed:
                words = line.split(" ")
                port = "0" if stream.port_zero else (words[1] if len(words) > 1 else "")
                head = " ".join([words[0], port, *words[2:3]])
                line = head + "".join(" " + n for n in stream.value)
            out.append(line)
        body = self.msg.body
        sdp = self.sep.join(out).encode("utf-8", "surrogateescape")
        self.msg.set_body(body[:self.span[0]] + sdp + body[self.span[1]:])


def _parse_streams(lines: list[str]) -> list[Stream]:
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    streams = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        numbers = lines[start].split()[3:]
        by_number = {n: Payload(n) for n in numbers}
        for i in range(start + 1, end):
            line = lines[i]
            m = re.match(r"a=([^:\s]+):(\S+)(?:\s+(.*))?$", line)
            if m is None:
                continue
            attr, number, rest = m.group(1).lower(), m.group(2), m.group(3) or ""
            payload = by_number.get(number)
            if payload is None:
                continue
            if attr == "rtpmap":
                parts = rest.split("/")
                payload.enc = parts[0].strip() or None
                payload.clock = parts[1].strip() if len(parts) > 1 else None
                payload.lines.append(i)
            elif attr == "fmtp":
                payload.lines.append(i)
                apt = re.search(r"apt=([^;]*)", rest)
                target = by_number.get(apt.group(1).strip()) if apt else None
                if target is not None:
                    target.linked = payload
            elif attr not in _NOT_CUSTOM:
                payload.lines.append(i)
        walk = [by_number[n] for n in reversed(numbers)]
        walk += [Payload(n, e, c, static=True) for n, e, c in STATIC]
        streams.append(Stream(start, walk, list(numbers)))
    return streams


def _state(ctx: MsgContext) -> CodecState | None:
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return None
    state = ctx.extra.get(STATE_KEY)
    if isinstance(state, CodecState) and state.msg is msg:
        return state
    span = _sdp_span(msg)
    if span is None:
        return None
    state = ctx.extra[STATE_KEY] = CodecState(msg, span)
    return state


def _matches(p: Payload, how: str, name: Any, clock: str | None) -> bool:
    if p.enc is None or (p.clock is None and clock is not None):
        return False
    if how in ("re", "re-not"):
        found = bool(name.search(p.enc))
        return not found if how == "re-not" else found
    if p.enc.lower() != str(name).lower():
        return False
    return how == "name" or clock is None or (p.clock or "").lower() == clock.lower()


def _process(state: CodecState, stream: Stream, op: str, how: str, name: Any, clock: str | None) -> bool:
    if not stream.value and stream.port_zero:
        return False
    done = False
    moved: list[str] = []
    for p in stream.payloads:
        if not _matches(p, how, name, clock) or p.number not in stream.value:
            continue
        if op == "find":
            return True
        if op == "delete" and not p.static:
            state.deleted.update(p.lines)
            if p.linked is not None:
                state.deleted.update(p.linked.lines)
        stream.value.remove(p.number)
        if op == "delete" and p.linked is not None and p.linked.number in stream.value:
            stream.value.remove(p.linked.number)
        if op in ("up", "down"):
            moved.append(p.number)
        done = stream.changed = True
    if op == "up":
        stream.value[:0] = moved
    elif op == "down":
        stream.value.extend(moved)
    if not stream.value:
        stream.port_zero = True
    return done


def _run(ctx: MsgContext, op: str, how: str, name: Any, clock: str | None = None) -> int:
    state = _state(ctx)
    if state is None:
        return -1
    result = -1
    for stream in state.streams:
        if _process(state, stream, op, how, name, clock):
            result = 1
    if op != "find" and result == 1:
        state.write()
    return result


def codec_exists(ctx: MsgContext, name: str, clock: str | None = None) -> int:
    # OpenSIPS's codec_find compares the name only (DESC_NAME); a clock given only makes it skip
    # codecs that have none
    return _run(ctx, "find", "name", name, clock)


def codec_delete(ctx: MsgContext, name: str, clock: str | None = None) -> int:
    return _run(ctx, "delete", "name-clock", name, clock)


def codec_move_up(ctx: MsgContext, name: str, clock: str | None = None) -> int:
    return _run(ctx, "up", "name-clock", name, clock)


def codec_move_down(ctx: MsgContext, name: str, clock: str | None = None) -> int:
    return _run(ctx, "down", "name-clock", name, clock)


def codec_exists_re(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    return _run(ctx, "find", "re", pattern)


def codec_delete_re(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    return _run(ctx, "delete", "re", pattern)


def codec_delete_except_re(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    return _run(ctx, "delete", "re-not", pattern)


def codec_move_up_re(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    return _run(ctx, "up", "re", pattern)


def codec_move_down_re(ctx: MsgContext, pattern: re.Pattern[str]) -> int:
    return _run(ctx, "down", "re", pattern)
