"""Real SIP messages for the language layer: RFC 4475/5118 torture messages, JsSIP's, sipp's.

The torture messages are read from the shared corpus unchanged. JsSIP and sipp messages are
written here in the exact shape those user agents send (JsSIP 3.10 over WebSocket, sipp's built-in
`uac` scenario), with fixed values so both servers see the same bytes.
"""

from __future__ import annotations

from pathlib import Path

TORTURE = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "torture"
if not TORTURE.is_dir():
    TORTURE = Path("/work/shared/corpus/torture")

# Requests (and two replies) that RFC 4475/5118 call well-formed, with the SIP features they bring:
# folded and compact headers, escapes, odd display names, multipart bodies, IPv6 hosts, params.
TORTURE_NAMES = (
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "semiuri", "transports",
    "mpart01", "unkscm", "novelsc", "regaut01", "cparam01", "cparam02", "regescrt", "sdp01",
    "inv2543", "ipv6-good", "port-ambiguous", "via-received-param-with-delim", "mult-ip-in-header",
    "ipv4-mapped-ipv6", "unreason", "noreason",
)


def _crlf(text: str) -> bytes:
    head, _, body = text.partition("\n\n")
    head_lines = head.strip("\n").split("\n")
    body_bytes = body.replace("\n", "\r\n").encode()
    head_lines = [line.replace("@@LEN@@", str(len(body_bytes))) for line in head_lines]
    return ("\r\n".join(head_lines) + "\r\n\r\n").encode() + body_bytes


_JSSIP_SDP = """v=0
o=- 4213069826125036434 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS 7f5d1c0e-2b7a-4c55-9a61-0e8f1c2b3d4e
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1467250027 1 udp 2122260223 192.168.1.20 54400 typ host generation 0 network-id 1
a=ice-ufrag:Xc3F
a=ice-pwd:Ss0uTr4m6ZqIkF9s2cwZk3Hh
a=ice-options:trickle
a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:\
A1:2C:19:08
a=setup:actpass
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=ssrc:2880345678 cname:hPq3v1xTq2kS9mLz
"""

JSSIP_REGISTER = _crlf("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/WSS 8kf2mq0j4t1d.invalid;branch=z9hG4bK6481274
Max-Forwards: 69
To: <sip:alice@example.com>
From: "Alice" <sip:alice@example.com>;tag=7gsuv1n5ub
Call-ID: 0fbg2kac4oiq9d3sm8lq
CSeq: 2 REGISTER
Authorization: Digest algorithm=MD5, username="alice", realm="example.com", \
nonce="Y2hhbGxlbmdlLW5vbmNl", uri="sip:example.com", \
response="6629fae49393a05397450978507c4ef1", qop=auth, cnonce="7r4h2c9b0m1q", nc=00000001
Contact: <sip:q4u8r6pb@8kf2mq0j4t1d.invalid;transport=ws>;+sip.ice;reg-id=1;\
+sip.instance="<urn:uuid:3b9f2a4e-5c1d-4e8f-9a7b-6c5d4e3f2a1b>";expires=600
Expires: 600
Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY
Supported: path,gruu,outbound
User-Agent: JsSIP 3.10.0
Content-Length: 0

""".replace("\\\n", ""))

JSSIP_INVITE = _crlf("""INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/WSS 8kf2mq0j4t1d.invalid;branch=z9hG4bK2818375
Max-Forwards: 69
To: <sip:bob@example.com>
From: "Alice" <sip:alice@example.com>;tag=ttfd0i3r2m
Call-ID: 5j2qv8hdm3ug0d1oi0vf
CSeq: 8426 INVITE
Proxy-Authorization: Digest algorithm=MD5, username="alice", realm="example.com", \
nonce="bm9uY2UtZm9yLWludml0ZQ", uri="sip:bob@example.com", \
response="d0f2bc1c66fd0e1c3bd2b34e2a7e3e53", qop=auth, cnonce="hb0rq5d3u7ld", nc=00000001, opaque="op4que"
Contact: <sip:q4u8r6pb@8kf2mq0j4t1d.invalid;transport=ws;ob>
Content-Type: application/sdp
Session-Expires: 90
Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY
Supported: timer,ice,replaces,outbound
User-Agent: JsSIP 3.10.0
Content-Length: @@LEN@@

""".replace("\\\n", "") + _JSSIP_SDP.replace("\\\n", ""))

SIPP_INVITE = _crlf("""INVITE sip:service@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0
From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001
To: service <sip:service@127.0.0.1:5060>
Call-ID: 1-4242@127.0.0.1
CSeq: 1 INVITE
Contact: sip:sipp@127.0.0.1:5061
Max-Forwards: 70
Subject: Performance Test
Content-Type: application/sdp
Content-Length: @@LEN@@

v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")

SIPP_REGISTER = _crlf("""REGISTER sip:127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-4243-1-0;rport
From: <sip:alice@127.0.0.1>;tag=4243SIPpTag001
To: <sip:alice@127.0.0.1>
Call-ID: 1-4243@127.0.0.1
CSeq: 1 REGISTER
Contact: <sip:alice@127.0.0.1:5062>
Expires: 300
Max-Forwards: 70
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS
Content-Length: 0

""")

# sipp's uas answer (the 200 of its built-in `uas` scenario): a reply, read in onreply_route
SIPP_200 = _crlf("""SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0;received=127.0.0.1;rport=5061
From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001
To: service <sip:service@127.0.0.1:5060>;tag=4244SIPpTag011
Call-ID: 1-4242@127.0.0.1
CSeq: 1 INVITE
Contact: <sip:127.0.0.1:5063;transport=UDP>
Content-Type: application/sdp
Content-Length: @@LEN@@

v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6002 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")

JSSIP_MESSAGE = _crlf("""MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/WSS 8kf2mq0j4t1d.invalid;branch=z9hG4bK9120551
Max-Forwards: 69
To: <sip:bob@example.com>
From: "Alice" <sip:alice@example.com>;tag=4k6fcs0m0p
Call-ID: 3mf0al4r2vq6km9q1u3o
CSeq: 6305 MESSAGE
Content-Type: text/plain
Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY
Supported: outbound
User-Agent: JsSIP 3.10.0
Content-Length: @@LEN@@

héllo Bob — ça va?
""")

# An unregistration of every binding (Contact: *), and a REGISTER with two Contact headers
UNREGISTER_ALL = _crlf("""REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-4243-2-0;rport
From: <sip:alice@127.0.0.1>;tag=4243SIPpTag002
To: <sip:alice@127.0.0.1>
Call-ID: 1-4243@127.0.0.1
CSeq: 2 REGISTER
Contact: *
Expires: 0
Max-Forwards: 70
Content-Length: 0

""")

REGISTER_TWO_CONTACTS = _crlf("""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP 192.0.2.4:5066;branch=z9hG4bKtwo;rport
From: Bob <sip:bob@example.com>;tag=two1
To: Bob <sip:bob@example.com>
Call-ID: two-contacts@192.0.2.4
CSeq: 7 REGISTER
Contact: <sip:bob@192.0.2.4:5066;transport=tcp>;expires=120;q=0.9;+sip.instance="<urn:uuid:1>"
Contact: "Desk" <sip:bob@192.0.2.5>;expires=60;methods="INVITE,BYE";received="sip:198.51.100.1:5070"
Path: <sip:edge.example.com;lr>
Max-Forwards: 70
Content-Length: 0

""")

# An in-dialog BYE along a route set, and a CANCEL
BYE_ROUTED = _crlf("""BYE sip:bob@192.0.2.4:5066;transport=tcp SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-7
Route: <sip:127.0.0.1;lr;ftag=4242SIPpTag001>, <sip:edge.example.com;lr>
Route: <sip:core.example.com;lr;r2=on>
From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001
To: service <sip:service@127.0.0.1:5060>;tag=4244SIPpTag011
Call-ID: 1-4242@127.0.0.1
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

""")

CANCEL = _crlf("""CANCEL sip:service@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0
From: sipp <sip:sipp@127.0.0.1:5061>;tag=4242SIPpTag001
To: service <sip:service@127.0.0.1:5060>
Call-ID: 1-4242@127.0.0.1
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

""")

# A crafted request carrying the headers the expression cases read (X-Diff-Batch selects them).
EXPR_CARRIER = _crlf("""MESSAGE sip:Carol.Case%20X@Example.COM:5070;transport=tcp;lr;foo=bar SIP/2.0
Via: SIP/2.0/UDP 192.0.2.7:5080;branch=z9hG4bK77aa;rport;received=198.51.100.9
Via: SIP/2.0/TCP [2001:db8::9]:5090;branch=z9hG4bK88bb
Max-Forwards: 70
From: "Dave \\"the\\" Dev" <sip:dave@example.org;user=phone>;tag=a1b2;x=y
To: Carol <sips:carol@example.com:5071>
Call-ID: expr-carrier-1@192.0.2.7
CSeq: 4711 MESSAGE
Contact: <sip:dave@192.0.2.7:5080;transport=udp>;q=0.7;expires=3600, "Two" <sip:two@192.0.2.8>;q=0.1
X-Diff-Batch: expr
X-List: alpha, beta ,gamma
X-List: delta
X-Num: 42
X-Neg: -17
X-Empty:
P-Asserted-Identity: "Dave" <sip:+15551234567@example.org;user=phone>
Content-Type: text/plain
Content-Length: @@LEN@@

Hello, world: 1+1=2
second line
""")


def torture(name: str) -> bytes:
    return (TORTURE / f"{name}.sip").read_bytes()


def message_set() -> list[tuple[str, bytes]]:
    """(label, bytes) of every message the per-message cases run on, in sending order."""
    messages = [(name, torture(name)) for name in TORTURE_NAMES]
    messages += [("jssip-register", JSSIP_REGISTER), ("jssip-invite", JSSIP_INVITE),
                 ("jssip-message", JSSIP_MESSAGE), ("sipp-invite", SIPP_INVITE),
                 ("sipp-register", SIPP_REGISTER), ("sipp-200", SIPP_200), ("unregister-all", UNREGISTER_ALL),
                 ("register-two-contacts", REGISTER_TWO_CONTACTS), ("bye-routed", BYE_ROUTED),
                 ("cancel", CANCEL), ("carrier", EXPR_CARRIER)]
    return messages
