"""`$sdp`, `$sdp.line(...)`, `$sdp.stream(...)`, `$sdp.stream.idx(...)`, `$sdp.session(...)`:
reading and editing the SDP of the current message line by line (OpenSIPS 3.6 sdp_ops.c).

Names select a line, optionally within a stream and down to a whitespace-separated token:
`a=rtpmap[1]` (the second line starting with "a=rtpmap"), `[12]` (line 12), `a=[3]/annexb`
(the first token of that line starting with "annexb"), `audio[1]/a=fmtp` (in the second
"m=audio" stream), `/a=ptime` (in the first stream). Prefixes match case-insensitively; `\\/`
and `\\\\` escape; an index may be a variable (`[$var(i)]`). `$sdp.session(...)` looks only
before the first m= line. `$sdp.stream.idx(...)` gives the absolute line number of the match.

Writes: assigning a string replaces the line, NULL deletes it; `$(sdp.line(a=x)[insert])`
inserts before it and `[insertAfter]` after it. As in OpenSIPS 3.6.8, assigning to a token is
accepted and changes nothing. `$sdp = text` replaces the whole SDP, `$sdp = NULL` removes it.
Each edit is written into the message at once; the rebuilt SDP ends every line with the
separator the SDP uses (CRLF or LF).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pysips.script.ast import Pos
from pysips.script.pv_base import PVAccessor, PVError, log
from pysips.sip.errors import ParseError
from pysips.sip.sdp import parse_sdp

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value

MAX_LINES = 500
STATE_KEY = "core.sdp_ops"
_WS = " \t\r\n"
INSERT = "insert"
INSERT_AFTER = "insertafter"


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Chunk:
    """One level of a name: a prefix (None: not given) and an index (int or a variable)."""

    prefix: str | None = None
    index: int | PVAccessor = 0

    def idx(self, ctx: MsgContext) -> int | None:
        if isinstance(self.index, int):
            return self.index
        value = self.index.get(ctx)
        if not isinstance(value, int):
            log.error("SDP idx spec contains non-INT value (%r)", value)
            return None
        return value


@dataclass(slots=True)
class SdpName:
    stream: Chunk | None = None
    line: Chunk = field(default_factory=Chunk)
    token: Chunk | None = None


def _parse_index(text: str, start: int, registry: Any, pos: Pos) -> tuple[int | PVAccessor, int]:
    """The index after a '[' at text[start-1]; returns it and the position of the ']'."""
    i = start
    if i < len(text) and text[i] == "$":
        from pysips.script.parse_pv import PVSyntaxError, read_pv
        from pysips.script.pv import compile_pvar

        try:
            node, end = read_pv(text, i, lambda k: pos)
        except PVSyntaxError as exc:
            raise PVError(f"bad index variable in SDP name {text!r}: {exc.message}", pos) from None
        value: int | PVAccessor = compile_pvar(node, registry)
        i = end
    else:
        j = i
        if j < len(text) and text[j] in "+-":
            j += 1
        while j < len(text) and text[j].isdigit():
            j += 1
        if j == i or text[i:j] in "+-" or int(text[i:j]) == -1:
            raise PVError(f"failed to parse index in SDP name {text!r}", pos)
        value = int(text[i:j])
        i = j
    while i < len(text) and text[i] in _WS:
        i += 1
    if i >= len(text) or text[i] != "]":
        raise PVError(f"failed to parse index in SDP name {text!r}", pos)
    return value, i


def parse_sdp_name(text: str, with_stream: bool, registry: Any, pos: Pos) -> SdpName:
    """The name of $sdp.line/$sdp.session (line[/token]) or $sdp.stream (stream[/line[/token]])."""
    if text.startswith("$"):
        raise PVError("no support for dynamic names in $sdp.line", pos)
    if text.startswith("@"):
        raise PVError("custom SDP holders (@name) are not supported", pos)
    slots: list[Chunk] = [Chunk() for _ in range(3 if with_stream else 2)]
    given = 0
    chars = list(text)
    tok_start = 0
    escape = False
    i = 0

    def take(end: int) -> None:
        nonlocal given
        slots[given].prefix = "".join(chars[tok_start:end]).lstrip(_WS)
        given += 1

    while i < len(chars):
        if given >= len(slots):
            break
        c = chars[i]
        if escape and c in "\\/":
            del chars[i - 1]  # the escaped character stays, as a literal
            escape = False
            continue
        if c == "\\":
            escape = True
            i += 1
            continue
        escape = False
        if c in "[/":
            if c == "[":
                slot = slots[given]
                index, close = _parse_index("".join(chars), i + 1, registry, pos)
                slot.index = index
                slash = "".join(chars).find("/", close)
                if slash < 0:
                    take(i)
                    break
                end_tok, i = i, slash
                take(end_tok)
            else:
                take(i)
            tok_start = i + 1
        if i + 1 == len(chars) and given < len(slots):
            take(i + 1)
        i += 1
    name = SdpName()
    if with_stream:
        name.stream = slots[0] if slots[0].prefix is not None else None
        name.line = slots[1]
        name.token = slots[2] if slots[2].prefix is not None else None
        if name.stream is None:
            name.stream = Chunk("")
    else:
        name.line = slots[0]
        name.token = slots[1] if slots[1].prefix is not None else None
    return name


# ---------------------------------------------------------------------------------------------
# The SDP being edited
# ---------------------------------------------------------------------------------------------


def _sdp_part(msg: Any) -> tuple[bytes, int, int] | None:
    """(body, start, end) of the message's first application/sdp part; None when there is none."""
    body: bytes = getattr(msg, "body", b"") or b""
    if not body:
        return None
    ctype = (msg.header("content-type") or "").strip()
    media = ctype.split(";")[0].strip().lower()
    if media == "application/sdp":
        return body, 0, len(body)
    if not media.startswith("multipart/"):
        return None
    lower = ctype.lower()
    at = lower.find("boundary=")
    if at < 0:
        return None
    boundary = ctype[at + 9:].split(";")[0].strip().strip('"')
    delim = b"--" + boundary.encode("latin-1", "replace")
    pos = body.find(delim)
    while pos >= 0:
        head_start = body.find(b"\r\n", pos) + 2
        if head_start < 2 or body[pos + len(delim):pos + len(delim) + 2] == b"--":
            return None
        head_end = body.find(b"\r\n\r\n", head_start)
        if head_end < 0:
            return None
        nxt = body.find(delim, head_end)
        content_end = (nxt - 2 if body[nxt - 2:nxt] == b"\r\n" else nxt) if nxt >= 0 else len(body)
        headers = body[head_start:head_end].lower()
        if b"application/sdp" in headers:
            return body, head_end + 4, content_end
        pos = nxt
    return None


def _separator(text: str) -> str | None:
    for k, c in enumerate(text):
        if c in "\r\n":
            return "\r\n" if c == "\r" and text[k + 1:k + 2] == "\n" else c
    return None


def split_lines(text: str) -> tuple[list[str], str] | None:
    sep = _separator(text)
    if sep is None:
        return None
    lines = text.split(sep)
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_LINES:
        log.error("SDP body exceeds maximum line count (%d)", MAX_LINES)
        return None
    return lines, sep


class SdpState:
    """The SDP of one message as the script sees and edits it."""

    __slots__ = ("custom", "dirty", "lines", "msg", "null", "sep")

    def __init__(self, msg: Any) -> None:
        self.msg = msg
        self.custom: str | None = None  # set by `$sdp = text`
        self.null = False  # `$sdp = NULL`
        self.lines: list[str] | None = None
        self.sep = "\r\n"
        self.dirty = False

    def source(self) -> str | None:
        if self.null:
            return None
        if self.custom is not None:
            return self.custom
        part = _sdp_part(self.msg)
        if part is None:
            return None
        body, start, end = part
        return body[start:end].decode("utf-8", "surrogateescape")

    def load(self) -> list[str] | None:
        if self.lines is None:
            text = self.source()
            if text is None:
                log.error("current SIP message has no SDP body!")
                return None
            parsed = split_lines(text)
            if parsed is None:
                log.error("failed to detect SDP separator")
                return None
            self.lines, self.sep = parsed
        return self.lines

    def text(self) -> str | None:
        if self.dirty and self.lines is not None:
            return "".join(line + self.sep for line in self.lines)
        return self.source()

    def write_out(self) -> None:
        """Put the current SDP into the message (the SDP part of a multipart body)."""
        msg = self.msg
        text = self.text()
        if text is None:
            msg.set_body(b"")
            return
        data = text.encode("utf-8", "surrogateescape")
        part = None if self.custom is not None else _sdp_part(msg)
        if part is None or (part[1] == 0 and part[2] == len(part[0])):
            msg.set_body(data, "application/sdp")
            return
        body, start, end = part
        msg.set_body(body[:start] + data + body[end:])


def state_of(ctx: MsgContext) -> SdpState | None:
    msg = ctx.msg
    if msg is None:
        return None
    state = ctx.extra.get(STATE_KEY)
    if not isinstance(state, SdpState) or state.msg is not msg:
        state = ctx.extra[STATE_KEY] = SdpState(msg)
    return state


# ---------------------------------------------------------------------------------------------
# Finding lines and tokens
# ---------------------------------------------------------------------------------------------


def _starts(line: str, prefix: str) -> bool:
    return len(prefix) <= len(line) and line[: len(prefix)].lower() == prefix.lower()


def _find_in(lines: list[str], idx: int, prefix: str | None, has_token: bool, first: int, until: int) -> int:
    """The line of the interval [first, until) matching prefix/idx; may be `until` itself (an
    insert position) when there is no prefix and no token; -1 when none."""
    if first + idx > until or first + idx >= MAX_LINES or (has_token and first + idx == until):
        return -1
    if not prefix:
        return first + idx
    for i in range(first, until):
        if not _starts(lines[i], prefix):
            continue
        if idx > 0:
            idx -= 1
            continue
        return i
    return -1


def find_line(ctx: MsgContext, lines: list[str], idx: int, session: int, name: SdpName) -> int:
    has_token = name.token is not None
    prefix = name.line.prefix
    if name.stream is None:
        if not session:
            return _find_in(lines, idx, prefix, has_token, 0, len(lines))
        end = next((i for i, line in enumerate(lines) if _starts(line, "m=")), len(lines))
        found = _find_in(lines, idx, prefix, has_token, 0, end)
        return -1 if found > end or (found == end and session == 1) else found
    stream_idx = name.stream.idx(ctx)
    if stream_idx is None:
        return -1
    want = name.stream.prefix or ""
    start = -1
    for i, line in enumerate(lines):
        if not _starts(line, "m="):
            continue
        if not _starts(line[2:], want):
            continue
        if stream_idx > 0:
            stream_idx -= 1
            continue
        start = i
        break
    if start < 0:
        return -1
    end = next((j for j in range(start + 1, len(lines)) if _starts(lines[j], "m=")), len(lines))
    return _find_in(lines, idx, prefix, has_token, start, end)


def find_token(line: str, prefix: str, idx: int) -> str | None:
    for token in line.split():
        if prefix and not _starts(token, prefix):
            continue
        if idx > 0:
            idx -= 1
            continue
        return token
    return None


# ---------------------------------------------------------------------------------------------
# Accessors
# ---------------------------------------------------------------------------------------------


class SdpBodyPV(PVAccessor):
    """`$sdp`: the whole SDP (NULL when there is none); writable."""

    def __init__(self) -> None:
        super().__init__("$sdp", True)

    def get(self, ctx: MsgContext) -> Value:
        state = state_of(ctx)
        return None if state is None else state.text()

    def set(self, ctx: MsgContext, value: Value) -> None:
        state = state_of(ctx)
        if state is None:
            return
        if value is None:
            state.null, state.custom, state.lines, state.dirty = True, None, None, False
            state.write_out()
            return
        if not isinstance(value, str) or not value:
            log.error("non-empty str value required to set SDP body")
            return
        if isinstance(parse_sdp(value), ParseError):
            log.error("bad SDP provided (%s ...), refusing to set in SIP msg", value[:40])
            return
        if _separator(value) is None:
            log.error("failed to detect SDP separator, first 50B: '%s'", value[:50])
            return
        state.null, state.custom, state.lines, state.dirty = False, value, None, False
        state.write_out()


class SdpLinePV(PVAccessor):
    """`$sdp.line(...)`, `$sdp.stream(...)`, `$sdp.session(...)` (session: 1 when reading)."""

    __slots__ = ("_mode", "_name", "_session")

    def __init__(self, label: str, name: SdpName, session: bool, mode: str | None = None) -> None:
        super().__init__(label, True)
        self._name = name
        self._session = session
        self._mode = mode

    def indexed(self, index: int | str | PVAccessor) -> PVAccessor | None:
        if isinstance(index, str) and index.lower() in (INSERT, INSERT_AFTER):
            return SdpLinePV(self.name, self._name, self._session, index.lower())
        raise PVError(f"unsupported SDP variable index: {index!r} (insert, insertAfter)")

    def _lookup(
        self, ctx: MsgContext, session: int, mode: str | None
    ) -> tuple[SdpState, list[str], int] | None:
        state = state_of(ctx)
        lines = state.load() if state is not None else None
        if state is None or lines is None:
            return None
        idx = self._name.line.idx(ctx)
        if idx is None:
            return None
        if mode == INSERT_AFTER:
            idx += 1
        return state, lines, find_line(ctx, lines, idx, session, self._name)

    def get(self, ctx: MsgContext) -> Value:
        found = self._lookup(ctx, 1 if self._session else 0, None)
        if found is None:
            return None
        _state, lines, i = found
        if i < 0 or i >= len(lines):
            return None
        token = self._name.token
        if token is None:
            return lines[i]
        tidx = token.idx(ctx)
        return None if tidx is None else find_token(lines[i], token.prefix or "", tidx)

    def set(self, ctx: MsgContext, value: Value) -> None:
        if value is not None and not isinstance(value, str):
            log.error("refusing to set SDP line to non-string value (%r)", value)
            return
        found = self._lookup(ctx, 2 if self._session else 0, self._mode)
        if found is None:
            return
        state, lines, i = found
        if i < 0:
            log.error("failed to locate SDP line for writing (%s)", self.name)
            return
        if self._name.token is not None:
            state.dirty = True  # OpenSIPS 3.6.8 accepts token edits and changes nothing
            return
        if value is None:
            if i == len(lines):
                log.error("index out of bounds (trying to delete SDP line %d, have %d lines)", i, len(lines))
                return
            del lines[i]
        else:
            line = value[:-1] if value.endswith(("\n", "\r")) else value
            if value.endswith("\r\n"):
                line = value[:-2]
            if self._mode is not None:
                lines.insert(i, line)
            elif i < len(lines):
                lines[i] = line
            # else: the "next last" line without [insert]: OpenSIPS writes past the end and the
            # line is lost when the SDP is rebuilt

        state.dirty = True
        state.write_out()


class SdpStreamIdxPV(PVAccessor):
    """`$sdp.stream.idx(...)`: the absolute index of the line the name selects."""

    __slots__ = ("_name",)

    def __init__(self, label: str, name: SdpName) -> None:
        super().__init__(label, False)
        self._name = name

    def get(self, ctx: MsgContext) -> Value:
        state = state_of(ctx)
        lines = state.load() if state is not None else None
        idx = self._name.line.idx(ctx)
        if lines is None or idx is None:
            return None
        i = find_line(ctx, lines, idx, 0, self._name)
        return None if i < 0 or i >= len(lines) else i


def sdp_factories(registry: Any) -> dict[str, Any]:
    def body(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        if subname is not None and subname.strip():
            raise PVError("custom SDP holders ($sdp(@name)) are not supported", pos)
        return SdpBodyPV()

    def line(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        parsed = parse_sdp_name(subname or "", False, registry, pos)
        return SdpLinePV(f"${name}({subname})", parsed, name == "sdp.session")

    def stream(name: str, subname: str | None, pos: Pos) -> PVAccessor:
        parsed = parse_sdp_name(subname or "", True, registry, pos)
        if name == "sdp.stream.idx":
            return SdpStreamIdxPV(f"${name}({subname})", parsed)
        return SdpLinePV(f"${name}({subname})", parsed, False)

    return {
        "sdp": body, "sdp.line": line, "sdp.session": line, "sdp.stream": stream, "sdp.stream.idx": stream,
    }
