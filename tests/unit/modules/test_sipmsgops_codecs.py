"""sipmsgops codec_* functions on parsed messages: what they find, and the SDP they leave."""

from __future__ import annotations

import re

from test_sipmsgops import call, ctx_for
from test_sipmsgops_streams import body_of, invite

SDP = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 10.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 10.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 4000 RTP/AVP 0 8 96 97 101\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1\r\n"
    "a=rtcp-fb:96 nack\r\n"
    "a=rtpmap:97 red/48000/2\r\n"
    "a=fmtp:97 apt=96\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=sendrecv\r\n"
)


def mline(ctx: object) -> str:
    return next(x for x in body_of(ctx).split("\r\n") if x.startswith("m="))


def rx(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


def test_codec_exists_by_name_static_and_regex() -> None:
    ctx = ctx_for(invite(SDP))
    assert call("codec_exists", ctx, "PCMA") == 1  # static payload 8, no rtpmap line
    assert call("codec_exists", ctx, "OPUS") == 1
    assert call("codec_exists", ctx, "G729") == -1  # static, but not offered
    assert call("codec_exists_re", ctx, rx("^tele")) == 1
    assert call("codec_exists_re", ctx, rx("speex")) == -1


def test_codec_delete_drops_number_and_lines_with_apt_linked_payload() -> None:
    ctx = ctx_for(invite(SDP))
    assert call("codec_delete", ctx, "opus") == 1
    body = body_of(ctx)
    assert mline(ctx) == "m=audio 4000 RTP/AVP 0 8 101"
    for gone in ("a=rtpmap:96", "a=fmtp:96", "a=rtcp-fb:96", "a=rtpmap:97", "a=fmtp:97"):
        assert gone not in body
    assert "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n" in body
    assert call("codec_delete", ctx, "opus") == -1  # already gone
    assert call("codec_delete", ctx, "telephone-event", "16000") == -1  # clock does not match


def test_move_up_down_and_delete_except() -> None:
    ctx = ctx_for(invite(SDP))
    assert call("codec_move_up", ctx, "PCMA") == 1
    assert mline(ctx) == "m=audio 4000 RTP/AVP 8 0 96 97 101"
    assert call("codec_move_down", ctx, "PCMU") == 1
    assert mline(ctx) == "m=audio 4000 RTP/AVP 8 96 97 101 0"
    # several codecs moved at once: walked from the end of the m= line, as OpenSIPS does
    assert call("codec_move_up_re", ctx, rx("^(opus|telephone-event)$")) == 1
    assert mline(ctx) == "m=audio 4000 RTP/AVP 101 96 8 97 0"
    assert call("codec_delete_except_re", ctx, rx("PCM")) == 1
    assert mline(ctx) == "m=audio 4000 RTP/AVP 8 0"
    assert "a=rtpmap:101" not in body_of(ctx)


def test_deleting_every_codec_disables_the_stream() -> None:
    ctx = ctx_for(invite(SDP))
    assert call("codec_delete_re", ctx, rx(".")) == 1
    assert mline(ctx) == "m=audio 0 RTP/AVP"
    assert call("codec_exists_re", ctx, rx(".")) == -1


THREE_STREAMS = SDP + "m=video 5000 RTP/SAVP 31\r\nm=audio 6000 RTP/SAVP 8\r\na=sendonly\r\n"


def test_same_results_as_opensips_3_6_8_on_three_streams() -> None:
    """Bodies OpenSIPS 3.6.8 relayed (forward()) for the same INVITE and calls."""
    ctx = ctx_for(invite(THREE_STREAMS))
    assert call("codec_move_up_re", ctx, rx("^(opus|telephone-event)$")) == 1
    assert mline(ctx) == "m=audio 4000 RTP/AVP 101 96 0 8 97"
    ctx = ctx_for(invite(THREE_STREAMS))
    assert call("codec_delete_except_re", ctx, rx("PCM")) == 1
    assert body_of(ctx) == (
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0 8\r\na=sendrecv\r\n"
        "m=video 0 RTP/SAVP\r\n"
        "m=audio 6000 RTP/SAVP 8\r\na=sendonly\r\n"
    )
    assert call("is_audio_on_hold", ctx_for(invite(THREE_STREAMS))) == 2
