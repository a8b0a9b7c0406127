from __future__ import annotations

from pysips.sip.errors import ParseError
from pysips.sip.sdp import Sdp, parse_sdp

OFFER = (
    b"v=0\r\no=- 20518 0 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nb=AS:64\r\nt=0 0\r\n"
    b"a=group:BUNDLE 0\r\na=ice-lite\r\n"
    b"m=audio 54400 RTP/SAVPF 111 0\r\nc=IN IP6 2001:db8::5\r\na=rtpmap:111 opus/48000/2\r\n"
    b"a=rtcp-mux\r\na=sendonly\r\n"
    b"m=video 0/2 RTP/AVP 96\r\na=inactive\r\n"
)


def test_session_and_media() -> None:
    sdp = parse_sdp(OFFER)
    assert isinstance(sdp, Sdp)
    assert sdp.origin is not None and sdp.origin.sess_id == "20518" and sdp.origin.address == "203.0.113.1"
    assert sdp.connection is not None and sdp.connection.address == "203.0.113.1"
    assert (
        sdp.bandwidths == ["AS:64"]
        and sdp.attribute("group") == "BUNDLE 0"
        and sdp.attribute("ice-lite") == ""
    )
    audio, video = sdp.media
    assert (audio.kind, audio.port, audio.proto, audio.formats) == ("audio", 54400, "RTP/SAVPF", ["111", "0"])
    assert audio.connection is not None and audio.connection.addrtype == "IP6"
    assert audio.attribute("rtpmap") == "111 opus/48000/2" and audio.has_attribute("rtcp-mux")
    assert audio.direction == "sendonly" and video.direction == "inactive"
    assert (video.port, video.port_count) == (0, 2)
    assert sdp.media_connection(video) is sdp.connection
    assert sdp.addresses() == ["203.0.113.1", "2001:db8::5"]


def test_bare_lf_lines_are_accepted() -> None:
    sdp = parse_sdp("v=0\no=- 1 1 IN IP4 h\ns=x\nt=0 0\nm=audio 1 RTP/AVP 0\n")
    assert isinstance(sdp, Sdp) and sdp.session_name == "x" and len(sdp.media) == 1


def test_errors() -> None:
    for bad in (
        b"",
        b"o=x\r\n",
        b"v=0\r\nbad line\r\n",
        b"v=0\r\nm=audio x RTP/AVP 0\r\n",
        b"v=0\r\nc=IN IP4\r\n",
        b"v=0\r\no=too few\r\n",
        b"v=1\r\n",
        b"v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
    ):
        assert isinstance(parse_sdp(bad), ParseError), bad
