"""Small scriptable SIP user agents for the differential behaviour layer.

Each `Endpoint` is one UDP socket on 127.0.0.1 that records every SIP message it receives into a
shared `Transcript`, so a scenario run against pysips and the same run against OpenSIPS can be
compared message by message. The agents are deliberately dumb: a scenario says what to send and
when; nothing is answered automatically. Exact retransmissions are left out of the transcript
(their count depends on timing, not on the server's logic).
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field

LOCALHOST = "127.0.0.1"
CRLF = "\r\n"

# how long an endpoint waits for a message the scenario expects, and how long "nothing comes" lasts
RECV_TIMEOUT_S = 3.0
QUIET_S = 0.25


@dataclass(slots=True)
class Message:
    """A received (or built) SIP message: the first line, headers in order, the body."""

    first_line: str
    headers: list[tuple[str, str]]
    body: str = ""

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.first_line.split()[1]) if not self.is_request else 0

    @property
    def method(self) -> str:
        if self.is_request:
            return self.first_line.split()[0]
        return self.header("CSeq").split()[1]

    @property
    def ruri(self) -> str:
        return self.first_line.split()[1]

    def header(self, name: str) -> str:
        values = self.all(name)
        return values[0] if values else ""

    def all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for n, v in self.headers if n.lower() == wanted]

    def text(self) -> str:
        lines = [self.first_line, *(f"{n}: {v}" for n, v in self.headers)]
        return CRLF.join(lines) + CRLF + CRLF + self.body

    @classmethod
    def parse(cls, data: bytes) -> Message:
        text = data.decode("utf-8", "replace")
        head, _, body = text.partition(CRLF + CRLF)
        lines = head.split(CRLF)
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:  # folded continuation line
                name, value = headers[-1]
                headers[-1] = (name, value + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        return cls(lines[0], headers, body)


def build(first_line: str, headers: list[tuple[str, str]], body: str = "") -> str:
    """A message text with a Content-Length computed from the body (appended when absent)."""
    out = [first_line]
    has_length = False
    for name, value in headers:
        if name.lower() in ("content-length", "l"):
            value = str(len(body.encode()))
            has_length = True
        out.append(f"{name}: {value}")
    if not has_length:
        out.append(f"Content-Length: {len(body.encode())}")
    return CRLF.join(out) + CRLF + CRLF + body


@dataclass(slots=True)
class Transcript:
    """Every message received, in order, by endpoint name."""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def add(self, who: str, msg: Message) -> None:
        self.entries.append((who, msg.text()))

    def by_endpoint(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for who, text in self.entries:
            out.setdefault(who, []).append(text)
        return out


class Endpoint:
    """One UDP socket playing a UA; what it receives is recorded in the transcript."""

    def __init__(self, name: str, transcript: Transcript, port: int = 0, *,
                 bind_host: str = LOCALHOST) -> None:
        self.name = name
        self.transcript = transcript
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # a UAS binds all addresses, so a request relayed to 127.0.0.3 (not ours) reaches it
        self.sock.bind((bind_host, port))
        self.port = int(self.sock.getsockname()[1])
        self._seen: set[bytes] = set()
        self._pending: list[tuple[Message, tuple[str, int]]] = []

    @property
    def hostport(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def close(self) -> None:
        self.sock.close()

    def send(self, text: str, dest: tuple[str, int]) -> None:
        self.sock.sendto(text.encode(), dest)

    def _read(self, timeout: float) -> tuple[Message, tuple[str, int]] | None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, BlockingIOError, ConnectionRefusedError):
                return None
            if data in self._seen:  # a retransmission: its count is timing, not logic
                continue
            self._seen.add(data)
            msg = Message.parse(data)
            self.transcript.add(self.name, msg)
            return msg, (str(addr[0]), int(addr[1]))

    def recv(self, timeout: float = RECV_TIMEOUT_S) -> Message | None:
        got = self.recv_from(timeout)
        return None if got is None else got[0]

    def recv_from(self, timeout: float = RECV_TIMEOUT_S) -> tuple[Message, tuple[str, int]] | None:
        if self._pending:
            return self._pending.pop(0)
        return self._read(timeout)

    def recv_request(self, method: str, timeout: float = RECV_TIMEOUT_S) -> Message | None:
        """The next request `method`; other messages met on the way stay queued for recv()."""
        deadline = time.monotonic() + timeout
        for i, (msg, _addr) in enumerate(self._pending):
            if msg.is_request and msg.method == method:
                return self._pending.pop(i)[0]
        while True:
            got = self._read(max(0.0, deadline - time.monotonic()))
            if got is None:
                return None
            if got[0].is_request and got[0].method == method:
                return got[0]
            self._pending.append(got)

    def recv_final(self, timeout: float = RECV_TIMEOUT_S) -> Message | None:
        """Replies until the first final one (provisionals are recorded on the way)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.recv_from(max(0.0, deadline - time.monotonic()))
            if got is None:
                return None
            if not got[0].is_request and got[0].status >= 200:
                return got[0]

    def quiet(self, duration: float = QUIET_S) -> None:
        """Record whatever arrives during `duration` (a scenario's tail: nothing more expected)."""
        deadline = time.monotonic() + duration
        while self._read(max(0.0, deadline - time.monotonic())) is not None:
            pass


# ---------------------------------------------------------------------------------------------
# building requests and replies


@dataclass(slots=True)
class Dialog:
    """What a UAC needs to build requests of one call: ids, tags, the route set it learnt."""

    call_id: str
    from_uri: str
    to_uri: str
    from_tag: str
    local: Endpoint
    cseq: int = 1
    to_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    branch_seq: int = 0

    def branch(self) -> str:
        self.branch_seq += 1
        return f"z9hG4bK{self.call_id[:12]}{self.branch_seq}"

    def request(self, method: str, ruri: str, *, via_host: str | None = None, rport: bool = True,
                extra: list[tuple[str, str]] | None = None, body: str = "", cseq: int | None = None,
                branch: str | None = None, max_forwards: int | None = 70,
                contact: str | None = None, routes: list[str] | None = None) -> str:
        via = f"SIP/2.0/UDP {via_host or self.local.hostport};branch={branch or self.branch()}"
        if rport:
            via += ";rport"
        to = f"<{self.to_uri}>" + (f";tag={self.to_tag}" if self.to_tag else "")
        headers: list[tuple[str, str]] = [("Via", via)]
        if max_forwards is not None:
            headers.append(("Max-Forwards", str(max_forwards)))
        headers += [(r, v) for r, v in (("Route", x) for x in (routes if routes is not None
                                                               else self.route_set))]
        headers += [
            ("From", f"<{self.from_uri}>;tag={self.from_tag}"),
            ("To", to),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq if cseq is not None else self.cseq} {method}"),
        ]
        if contact is not None:
            headers.append(("Contact", contact))
        headers += extra or []
        if body:
            headers.append(("Content-Type", "application/sdp"))
        return build(f"{method} {ruri} SIP/2.0", headers, body)

    def learn(self, reply: Message) -> None:
        """Take the to-tag, remote target and route set from a 2xx (UAC side, RFC 3261 12.1.2)."""
        match = re.search(r";tag=([^;>\s]+)", reply.header("To"))
        if match:
            self.to_tag = match.group(1)
        contact = re.search(r"<([^>]+)>", reply.header("Contact"))
        if contact:
            self.remote_target = contact.group(1)
        rr: list[str] = []
        for value in reply.all("Record-Route"):
            rr += [part.strip() for part in split_commas(value)]
        self.route_set = list(reversed(rr))


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside <...> and quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current = ""
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            depth += 1
        elif ch == ">" and not quoted:
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return [p for p in (x.strip() for x in parts) if p]


def reply_to(req: Message, code: int, reason: str, *, to_tag: str | None = None,
             contact: str | None = None, extra: list[tuple[str, str]] | None = None,
             body: str = "") -> str:
    """A UAS reply to `req`: Vias, From, To (+tag), Call-ID, CSeq and Record-Route copied."""
    headers: list[tuple[str, str]] = [("Via", v) for v in req.all("Via")]
    headers += [("Record-Route", v) for v in req.all("Record-Route")]
    to = req.header("To")
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    headers += [("From", req.header("From")), ("To", to), ("Call-ID", req.header("Call-ID")),
                ("CSeq", req.header("CSeq"))]
    if contact:
        headers.append(("Contact", contact))
    headers += extra or []
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return build(f"SIP/2.0 {code} {reason}", headers, body)


def hop_ack(invite: Message, final: Message) -> str:
    """The ACK a UAC sends for a non-2xx final reply: same branch and R-URI as the INVITE."""
    headers: list[tuple[str, str]] = [("Via", invite.all("Via")[0])]
    headers += [("Max-Forwards", "70")]
    headers += [("Route", v) for v in invite.all("Route")]
    headers += [("From", invite.header("From")), ("To", final.header("To")),
                ("Call-ID", invite.header("Call-ID")),
                ("CSeq", invite.header("CSeq").split()[0] + " ACK")]
    return build(f"ACK {invite.ruri} SIP/2.0", headers)


def cancel_for(invite: Message) -> str:
    """CANCEL for an INVITE we sent: same top Via, R-URI, From, To, Call-ID, CSeq number."""
    headers: list[tuple[str, str]] = [("Via", invite.all("Via")[0]), ("Max-Forwards", "70")]
    headers += [("Route", v) for v in invite.all("Route")]
    headers += [("From", invite.header("From")), ("To", invite.header("To")),
                ("Call-ID", invite.header("Call-ID")),
                ("CSeq", invite.header("CSeq").split()[0] + " CANCEL")]
    return build(f"CANCEL {invite.ruri} SIP/2.0", headers)


SDP = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 10.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 10.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
)


def call_callee(transcript: Transcript, name: str, call_id: str, proxy_port: int) -> tuple[Dialog, str]:
    """An INVITE (with SDP) to sip:callee through the proxy on `proxy_port`, from caller `name`,
    an Endpoint of its own (the dialog's `local`), sent: (its dialog, the INVITE as sent)."""
    caller = Endpoint(name, transcript)
    dialog = Dialog(call_id=call_id, from_uri=f"sip:{name}@{LOCALHOST}", to_uri=f"sip:callee@{LOCALHOST}",
                    from_tag=f"{name}-tag", local=caller)
    invite = dialog.request("INVITE", f"sip:callee@{LOCALHOST}:{proxy_port}", body=SDP,
                            contact=f"<sip:{name}@{caller.hostport}>")
    caller.send(invite, (LOCALHOST, proxy_port))
    return dialog, invite
