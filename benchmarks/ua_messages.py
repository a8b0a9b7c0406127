"""The user agents' side of the in-process benchmarks (engine_calls.py, engine_instructions.py,
registrations.py): plain text templates, with no pysips import, so that every tree under test is
sent the same bytes built the same way."""

from __future__ import annotations

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
UAC = ("127.0.0.1", 40000)
UAS = ("127.0.0.1", 7000)


def call_id(i: int) -> str:
    return f"bench-{i}@127.0.0.1"


def invite(i: int) -> str:
    """Call i's INVITE from the caller (UAC) to the proxy on 5060, with an SDP offer."""
    return (
        f"INVITE sip:callee@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-i{i};rport\r\n"
        f"From: <sip:caller@127.0.0.1:40000>;tag=f{i}\r\nTo: <sip:callee@127.0.0.1:5060>\r\n"
        f"Call-ID: {call_id(i)}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:40000>\r\n"
        "Max-Forwards: 70\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(SDP)}\r\n\r\n{SDP}"
    )


def in_dialog(i: int, method: str, seq: int) -> str:
    """The caller's ACK (seq 1) or BYE (seq 2) of call i, routed through the proxy's
    Record-Route to the callee's Contact."""
    return (
        f"{method} sip:callee@127.0.0.1:7000 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-{method[0].lower()}{i};rport\r\n"
        f"Route: <sip:127.0.0.1:5060;lr>\r\n"
        f"From: <sip:caller@127.0.0.1:40000>;tag=f{i}\r\n"
        f"To: <sip:callee@127.0.0.1:5060>;tag=t{i}\r\n"
        f"Call-ID: {call_id(i)}\r\nCSeq: {seq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )


def register(i: int) -> str:
    """A REGISTER of user i (a new AOR each) with one Contact, from 198.51.x.y."""
    host = f"198.51.{i >> 8 & 255}.{i & 255}"
    return (
        f"REGISTER sip:example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:5060;branch=z9hG4bK{i:08x};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:user{i}@example.com>;tag={i:x}\r\n"
        f"To: <sip:user{i}@example.com>\r\n"
        f"Call-ID: {i:08x}-reg@198.51.100.1\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: <sip:user{i}@{host}:5060;transport=udp>;expires=3600\r\n"
        "User-Agent: bench/1.0\r\n"
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE\r\n"
        "Content-Length: 0\r\n\r\n"
    )
