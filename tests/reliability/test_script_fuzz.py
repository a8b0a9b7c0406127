"""Script-level fuzzing: hypothesis-made SIP requests (the structure of real ones, with methods,
URIs, headers and bodies mutated) through the seed's script, run in-process on the real Engine
with in-memory sockets and a ManualClock.

For every message: nothing raises out of the engine and nothing is logged with a traceback, and the
request either gets a final reply, is relayed (the next hop answers it), or is dropped for a
reason RFC 3261 or the seed's script gives (an ACK, a CANCEL with no transaction, a message with
no usable Via to answer to, a datagram too short to be SIP).

The seed is taken as it is except for what needs a machine: one UDP listener instead of five,
no TLS/WebSocket/FIFO modules, and rtpengine_delete() removed (it would wait on an rtpengine
daemon; media is not under test here).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pysips.core.api import Destination, Socket
from pysips.core.engine import Engine, ManualClock
from pysips.core.functions import ENGINE_FUNCTIONS
from pysips.core.resolve import Resolver
from pysips.script.compile import LoadOptions, load_script
from pysips.script.context import ProcessState
from pysips.script.parse import parse_text
from pysips.sip.receive import ReceiveInfo

REPO = Path(__file__).resolve().parents[2]
PROXY = Socket("udp", "127.0.0.1", 5060)
CLIENT = ("192.0.2.50", 5062)
EXAMPLES = 400


def seed_in_process() -> str:
    text = (REPO / "examples" / "residential.cfg").read_text()
    text = re.sub(r"(?m)^listen=.*\n", "", text)
    text = text.replace("# Set up listeners\n", "listen=udp:127.0.0.1:5060\n")
    for module in ("proto_tls", "proto_wss", "proto_ws", "tls_mgm", "mi_fifo"):
        text = text.replace(f'loadmodule "{module}.so"', "")
    text = re.sub(r'(?m)^modparam\("(tls_mgm|mi_fifo)".*\n', "", text)
    assert "rtpengine_delete();" in text
    return text.replace("rtpengine_delete();", "")


@dataclass
class Rig:
    engine: Engine
    clock: ManualClock
    sent: list[tuple[Destination, bytes]] = field(default_factory=list)

    def deliver(self, data: bytes) -> list[bytes]:
        before = len(self.sent)
        self.engine.receive(data, ReceiveInfo("udp", PROXY.ip, PROXY.port, *CLIENT))
        return [d for _, d in self.sent[before:]]


def make_rig() -> Rig:
    hosts = {"proxy.example.com": ["127.0.0.1"], "far.example.net": ["198.51.100.7"]}

    def addresses(host: str) -> tuple[list[str], float]:
        return list(hosts.get(host, [])), 60.0

    resolver = Resolver({"udp"}, naptr=lambda n: ([], 60.0), srv=lambda n: ([], 60.0), addresses=addresses)
    process = ProcessState()
    clock = ManualClock()
    engine = Engine(process, [PROXY], clock, resolver=resolver)
    rig = Rig(engine, clock)

    def sender(data: bytes, dst: Destination) -> bool:
        rig.sent.append((dst, data))
        return True

    engine.attach(PROXY, sender)
    loaded = load_script(parse_text(seed_in_process(), "seed.cfg"),
                         LoadOptions(myself=engine.myself, core_functions=tuple(ENGINE_FUNCTIONS)))
    assert loaded.main_route is not None
    engine.main_route = loaded.main_route.run
    loaded.init_modules(process)
    loaded.child_init(process)
    return rig


_RIG: Rig | None = None


def rig() -> Rig:
    global _RIG
    if _RIG is None:
        _RIG = make_rig()
    return _RIG


# ---------------------------------------------------------------------------------------------
# messages

METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE", "SUBSCRIBE", "NOTIFY",
           "PUBLISH", "REFER", "INFO", "UPDATE", "PRACK"]
token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
                min_size=1, max_size=12)
junk = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x2FF, blacklist_characters="\r\n"),
               max_size=40)
host = st.sampled_from(["127.0.0.1", "127.0.0.1:5060", "proxy.example.com", "far.example.net",
                        "198.51.100.7:5080", "[::1]", "nowhere.invalid", "10.0.0.1;transport=tcp",
                        "127.0.0.1;lr", "127.0.0.1:0", "256.1.1.1", "host:99999"])
user = st.one_of(st.sampled_from(["bob", "alice", "", "+15551234", "a%20b", "x;y=z"]), token)
_sip_uri = st.builds(lambda s, u, h: f"{s}:{u + '@' if u else ''}{h}",
                     st.sampled_from(["sip", "sip", "sips"]), user, host)
# mostly well-formed parts, so that most messages reach the script; the rest probe the parser
uri = st.one_of(
    _sip_uri, _sip_uri, _sip_uri, _sip_uri,
    st.sampled_from(["tel:+15551234", "urn:service:sos", "*", "sip:", "<sip:bob@127.0.0.1>",
                     "sip:bob@127.0.0.1;maddr=198.51.100.7", "http://x/"]),
    junk,
)
_name_addr = st.builds(lambda u, t: f"<{u}>{t}", uri, st.sampled_from(["", "", ";tag=abc", ";x"]))
name_addr = st.one_of(_name_addr, _name_addr, _name_addr, _name_addr, uri, junk)
_via = st.builds(lambda h, b, p: f"SIP/2.0/UDP {h}{b}{p}",
              st.sampled_from(["192.0.2.50:5062", "192.0.2.50", "client.example.org", "[2001:db8::1]:5060"]),
              st.sampled_from([";branch=z9hG4bK", ";branch=z9hG4bKx", ";branch=old-branch", ""]).map(
                  lambda b: b + ("" if not b.endswith("K") else "f")),
              st.sampled_from(["", ";rport", ";received=1.2.3.4", ";rport=1", ";ttl=1;maddr=x"]))
via = st.one_of(
    _via, _via, _via, _via, _via, _via,
    st.sampled_from(["SIP/2.0/TCP 192.0.2.50:5062;branch=z9hG4bKt", "SIP/3.0/UDP h;branch=z9hG4bKv",
                     "SIP/2.0/UDP", ""]),
    junk,
)
body = st.one_of(st.just(""), st.sampled_from([
    "v=0\r\no=- 1 1 IN IP4 192.0.2.50\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
    "hello", "<xml/>"]), junk)
_extra_header = st.builds(lambda n, v: f"{n}: {v}", st.sampled_from(
        ["Route", "Record-Route", "Contact", "Expires", "Supported", "Require", "Proxy-Require", "Event",
         "Authorization", "Refer-To", "Content-Type", "Max-Forwards", "CSeq", "Call-ID", "From", "To",
         "Via", "Content-Length", "l", "m", "v", "X-Junk"]), st.one_of(name_addr, junk, st.just("*"),
                                                                       st.integers(-5, 2**33).map(str)))
extra_header = st.one_of(_extra_header, _extra_header, _extra_header, _extra_header, junk)


@st.composite
def sip_request(draw: Any) -> bytes:
    """A well-formed request (every part drawn from realistic values), then 0 to 3 mutations:
    most messages reach the script, the mutated ones probe parser and script edges."""
    method = draw(st.sampled_from(METHODS))
    ruri = draw(_sip_uri)
    start = [method, ruri, "SIP/2.0"]
    headers = [
        f"Via: {draw(_via)}",
        f"Max-Forwards: {draw(st.sampled_from(['70', '70', '1', '0']))}",
        f"From: {draw(_name_addr)};tag=f{draw(st.integers(0, 99))}",
        f"To: {draw(_name_addr)}",
        f"Call-ID: {draw(token)}",
        f"CSeq: {draw(st.integers(1, 2**31))} {method}",
    ]
    headers += draw(st.lists(_extra_header, max_size=3))
    raw_body = draw(body).encode("utf-8", "surrogatepass")
    clen = len(raw_body)
    for mutation in draw(st.lists(st.integers(0, 9), max_size=3)):
        if mutation == 0:
            start[0] = draw(st.one_of(token, st.sampled_from(["invite", "INV ITE", ""])))
        elif mutation == 1:
            start[1] = draw(uri)
        elif mutation == 2:
            start[2] = draw(st.sampled_from(["SIP/1.0", "sip/2.0", "SIP/2.00", ""]))
        elif mutation == 3 and headers:
            del headers[draw(st.integers(0, len(headers) - 1))]
        elif mutation == 4 and headers:
            headers.append(headers[draw(st.integers(0, len(headers) - 1))])
        elif mutation == 5 and headers:
            at = draw(st.integers(0, len(headers) - 1))
            headers[at] = headers[at].split(":", 1)[0] + ": " + draw(st.one_of(junk, uri, name_addr))
        elif mutation == 6:
            headers.insert(draw(st.integers(0, len(headers))), draw(junk))
        elif mutation == 7:
            clen = draw(st.sampled_from([clen + 10, max(0, clen - 3), -1]))
        elif mutation == 8:
            headers = draw(st.permutations(headers))
        elif mutation == 9:
            headers.append(f"Via: {draw(via)}")
    if clen >= 0:
        headers.append(f"Content-Length: {clen}")
    data = ("\r\n".join([" ".join(start), *headers]) + "\r\n\r\n").encode("utf-8", "surrogatepass") + raw_body
    if draw(st.integers(0, 19)) == 0:  # a few flipped bytes anywhere
        buf = bytearray(data)
        for at, value in draw(st.lists(st.tuples(st.integers(0, len(buf) - 1), st.integers(0, 255)),
                                       max_size=4)):
            buf[at] = value
        data = bytes(buf)
    return data


# ---------------------------------------------------------------------------------------------
# the property


def outcome(data: bytes, out: list[bytes], parse_errors_before: int, r: Rig) -> str:
    if any(o.startswith(b"SIP/2.0 ") and not o.startswith(b"SIP/2.0 1") for o in out):
        return "final reply"
    if any(not o.startswith(b"SIP/2.0 ") for o in out):
        return "relayed"
    if len(data) < 16:
        return "dropped: too short"
    if r.engine.stats["parse_errors"] > parse_errors_before:
        return "dropped: unparsable, no way to answer"
    method = data.split(b" ", 1)[0]
    if method == b"ACK":
        return "dropped: ACK"
    if method == b"CANCEL":
        return "dropped: CANCEL without a transaction (the seed exits)"
    return "silent"


@pytest.fixture(autouse=True)
def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.WARNING)
    yield
    tracebacks = [rec for rec in caplog.records if rec.exc_info]
    assert not tracebacks, tracebacks[0].getMessage()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
@given(data=sip_request())
def test_every_request_is_answered_relayed_or_dropped_for_a_reason(data: bytes) -> None:
    r = rig()
    errors_before = r.engine.stats["script_errors"]
    parse_before = r.engine.stats["parse_errors"]
    out = r.deliver(data)
    r.clock.advance(40)  # tm timers fire: a relayed request nobody answers ends in 408
    assert r.engine.stats["script_errors"] == errors_before, data
    result = outcome(data, out, parse_before, r)
    event(result)
    assert result != "silent", data


def test_the_oracle_sees_each_outcome() -> None:
    """The classification itself: a reply, a relay, and each drop reason happen with the seed."""
    r = rig()
    base = ("{m} {u} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.50:5062;branch=z9hG4bK{b}\r\nMax-Forwards: 70\r\n"
            "From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: {b}\r\nCSeq: 1 {m}\r\n"
            "Content-Length: 0\r\n\r\n")
    seen = {}
    for name, m, u in (("reply", "OPTIONS", "sip:bob@127.0.0.1"), ("relay", "MESSAGE", "sip:x@198.51.100.7"),
                       ("ack", "ACK", "sip:bob@127.0.0.1"), ("cancel", "CANCEL", "sip:bob@127.0.0.1")):
        data = base.format(m=m, u=u, b=name).encode()
        before = r.engine.stats["parse_errors"]
        seen[name] = outcome(data, r.deliver(data), before, r)
    data = b"OPTIONS sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n"
    before = r.engine.stats["parse_errors"]
    seen["junk"] = outcome(data, r.deliver(data), before, r)
    assert seen == {"reply": "final reply", "relay": "relayed", "ack": "dropped: ACK",
                    "cancel": "dropped: CANCEL without a transaction (the seed exits)",
                    "junk": "dropped: unparsable, no way to answer"}
