"""sipmsgops stream_exists()/stream_delete() on parsed messages (the SDP as serialized)."""

from __future__ import annotations

import re

from test_sipmsgops import call, ctx_for

SDP = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 10.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 10.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "m=video 5000 RTP/SAVP 96\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "m=audio 6000 RTP/SAVP 8\r\n"
    "a=sendrecv\r\n"
)


def invite(body: str = SDP) -> str:
    return (
        "INVITE sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1\r\n"
        "From: <sip:a@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n"
        "Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )


def body_of(ctx: object) -> str:
    return str(ctx.msg.serialize().decode().partition("\r\n\r\n")[2])  # type: ignore[attr-defined]


def rx(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


def test_stream_exists_by_media_and_transport() -> None:
    ctx = ctx_for(invite())
    assert call("stream_exists", ctx, rx("video")) == 1
    assert call("stream_exists", ctx, rx("audio"), rx("SAVP")) == 1
    assert call("stream_exists", ctx, rx("video"), rx("^RTP/AVP$")) == -1
    assert call("stream_exists", ctx, rx("image")) == -1
    assert call("stream_exists", ctx_for(invite("")), rx("audio")) == -1


def test_stream_delete_removes_the_last_matching_stream_once() -> None:
    ctx = ctx_for(invite())
    assert call("stream_delete", ctx, rx("audio")) == 1
    assert body_of(ctx) == SDP.replace("m=audio 6000 RTP/SAVP 8\r\na=sendrecv\r\n", "")
    # OpenSIPS edits the received body: the same (last) stream is found again, already deleted
    assert call("stream_delete", ctx, rx("audio")) == -1
    assert call("stream_delete", ctx, rx("video")) == 1
    assert body_of(ctx) == ("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
                            "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def test_is_audio_on_hold_types() -> None:
    assert call("is_audio_on_hold", ctx_for(invite())) == -1
    sendonly = SDP.replace("a=sendrecv", "a=sendonly")  # in the second audio stream
    assert call("is_audio_on_hold", ctx_for(invite(sendonly))) == 2
    null = SDP.replace("c=IN IP4 10.0.0.1", "c=IN IP4 0.0.0.0")  # session level
    assert call("is_audio_on_hold", ctx_for(invite(null))) == 1
    video_only = SDP.replace("m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", "").replace(
        "m=audio 6000 RTP/SAVP 8\r\na=sendrecv\r\n", "m=video 6000 RTP/SAVP 8\r\na=inactive\r\n")
    assert call("is_audio_on_hold", ctx_for(invite(video_only))) == -1
