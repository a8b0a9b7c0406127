"""Parse-rate micro-benchmark of pysips.sip: routing-level and full parses per second, memory.

    python3 benchmarks/parse.py [--runs 7] [--seconds 0.5] [--profile]

"routing" is parse_message() alone (first line, Via, CSeq, Call-ID, From/To, Max-Forwards,
Content-Length, Request-URI); "full" adds validate() (every structured header) and the SDP body.
The relay lines measure what tm does per message: "branch" is copy() of a parsed INVITE,
append_header(), push_via() and serialize(); "reply" is pop_via() and serialize() of a parsed
180/200 (on a copy, so each run starts from the received reply); "reply+parse" adds the parse.
Prints the median of several runs (rates per second of CPU time of this process, so that other
load on a shared machine matters less), and tracemalloc bytes held per parsed message.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pysips.sip.message import SipMessage, parse_message

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.10:5060;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: Example-UA/1.0\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)

REGISTER = (
    b"REGISTER sip:registrar.biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKnashds7;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"From: Bob <sip:bob@biloxi.example.com>;tag=456248\r\n"
    b"Call-ID: 843817637684230@998sdasdh09\r\n"
    b"CSeq: 1826 REGISTER\r\n"
    b"Contact: <sip:bob@192.0.2.20:5060;transport=udp>;expires=3600;"
    b'+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1\r\n'
    b'Authorization: Digest username="bob", realm="biloxi.example.com", '
    b'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:registrar.biloxi.example.com", '
    b'response="245f23415f11432b3434341c022", algorithm=MD5\r\n'
    b"Expires: 3600\r\n"
    b"User-Agent: Example-UA/1.0\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


RINGING = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK2d4790.0;rport=5060\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10\r\n"
    b"Record-Route: <sip:198.51.100.1;lr;ftag=1928301774>\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4:5060>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

OK_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK2d4790.0;rport=5060\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10\r\n"
    b"Record-Route: <sip:198.51.100.1;lr;ftag=1928301774>\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4:5060>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)

OUR_VIA = "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK2d4790.0"


def routing(data: bytes) -> object:
    return parse_message(data)


def full(data: bytes) -> object:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    assert msg.validate() is None
    if msg.body:
        msg.sdp()
    return msg


def branch(msg: SipMessage) -> bytes:
    """tm's per-branch copy of a relayed request."""
    clone = msg.copy()
    clone.append_header("X-Branch: 1")
    clone.push_via(OUR_VIA)
    return clone.serialize()


def reply(msg: SipMessage) -> bytes:
    """A relayed reply: our Via off (on a copy, so every call starts from the received reply)."""
    clone = msg.copy()
    clone.pop_via()
    return clone.serialize()


def reply_parse(data: bytes) -> bytes:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    msg.pop_via()
    return msg.serialize()


def rate(fn: Callable[[Any], object], data: Any, seconds: float) -> float:
    """Messages per second of this process's CPU time: the machine is shared, and time spent
    descheduled says nothing about the parser."""
    count = 0
    batch = 1000
    started = time.process_time()
    while True:
        for _ in range(batch):
            fn(data)
        count += batch
        elapsed = time.process_time() - started
        if elapsed >= seconds:
            return count / elapsed


def memory_per_message(fn: Callable[[Any], object], data: bytes, n: int = 2000) -> float:
    """tracemalloc bytes held by n parsed messages (kept alive), per message, input excluded."""
    copies = [bytes(bytearray(data)) for _ in range(n)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [fn(c) for c in copies]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return (after - before) / n


def parsed(data: bytes) -> SipMessage:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    return msg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--profile", action="store_true", help="cProfile the full parse of the INVITE")
    opts = parser.parse_args()
    for name, data in (("INVITE+SDP", INVITE), ("REGISTER", REGISTER)):
        assert isinstance(parse_message(data), SipMessage)
        for level, fn in (("routing", routing), ("full", full)):
            rates = [rate(fn, data, opts.seconds) for _ in range(opts.runs)]
            mem = memory_per_message(fn, data)
            print(
                f"{name:11} {level:8} {statistics.median(rates):>9,.0f} msg/s  "
                f"(min {min(rates):,.0f}, max {max(rates):,.0f}, {opts.runs} runs)  "
                f"{mem:,.0f} bytes/msg ({len(data)} bytes on the wire)"
            )
    for name, fn, arg in (
        ("INVITE+SDP", branch, parsed(INVITE)),
        ("180", reply, parsed(RINGING)),
        ("200+SDP", reply, parsed(OK_200)),
        ("180", reply_parse, RINGING),
        ("200+SDP", reply_parse, OK_200),
    ):
        level = {branch: "branch", reply: "reply", reply_parse: "reply+parse"}[fn]
        rates = [rate(fn, arg, opts.seconds) for _ in range(opts.runs)]
        print(
            f"{name:11} {level:11} {statistics.median(rates):>9,.0f} msg/s  "
            f"(min {min(rates):,.0f}, max {max(rates):,.0f}, {opts.runs} runs)"
        )
    if opts.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        invite = parsed(INVITE)
        for _ in range(20000):
            full(INVITE)
            routing(REGISTER)
            branch(invite)
            reply_parse(OK_200)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
