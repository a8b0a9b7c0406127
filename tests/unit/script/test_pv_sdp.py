"""$sdp, $sdp.line, $sdp.stream, $sdp.stream.idx, $sdp.session against OpenSIPS's own test script
for them (test/test-sdp-ops.cfg of the shared corpus: its assert()s are the expected values), run on
an INVITE; plus the edits as they reach the message."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from test_compile_support import HEADER, INVITE, calls, load, run

CORPUS_SCRIPT = (Path(__file__).resolve().parents[4] / "shared" / "corpus" / "cfgs"
                 / "OpenSIPS__opensips__test_test-sdp-ops.cfg")


def _routes() -> str:
    """The test's route blocks, without its $rb() cross-checks (pysips's $rb reads the body as
    received; the $sdp values themselves are all checked)."""
    text = CORPUS_SCRIPT.read_text()
    start = text.index("route [SDP_TEST_SDP]")
    end = text.index("startup_route")
    body = text[start:end]
    return "\n".join(line for line in body.split("\n") if "$rb(" not in line)


def _calls() -> str:
    text = CORPUS_SCRIPT.read_text()
    startup = text[text.index("startup_route"):]
    return "\n".join(re.findall(r"route\(SDP_TEST_\w+[^;]*;", startup))


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "assert" in record.getMessage().lower():
            self.lines.append(record.getMessage())


def test_opensips_sdp_ops_test_script_passes() -> None:
    header = "enable_asserts=true\n" + HEADER
    loaded = load("route {\n" + _calls() + '\nt_rec("done");\n}\n' + _routes(), header=header)
    failures = _Failures()
    root = logging.getLogger("pysips")
    root.addHandler(failures)
    try:
        _, ctx = run(loaded, INVITE)
    finally:
        root.removeHandler(failures)
    assert failures.lines == []
    assert [c[1] for c in calls(ctx)] == ["done"]  # a failed assert() would have ended the script


SDP = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 10.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 10.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 4000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
)


def _invite_with_sdp() -> bytes:
    body = SDP.encode()
    return INVITE.replace(
        b"Content-Length: 0\r\n", b"Content-Type: application/sdp\r\nContent-Length: %d\r\n" % len(body)
    ) + body


def test_edits_reach_the_message_and_read_back() -> None:
    loaded = load(
        "route {\n"
        '$sdp.stream(audio/a=rtpmap:101) = NULL;'
        '$(sdp.line([5])[insertAfter]) = "a=ptime:20";'
        '$sdp.line(c=) = "c=IN IP4 192.0.2.7";'
        't_rec("$sdp.stream.idx(audio/a=ptime)|$sdp.line(m=/[1])|$sdp.session(c=)");'
        "}\n"
    )
    _, ctx = run(loaded, _invite_with_sdp())
    assert [c[1] for c in calls(ctx)] == ["6|4000|c=IN IP4 192.0.2.7"]
    out = ctx.msg.serialize().decode()
    head, _, body = out.partition("\r\n\r\n")
    assert body == SDP.replace("c=IN IP4 10.0.0.1", "c=IN IP4 192.0.2.7").replace(
        "a=rtpmap:0", "a=ptime:20\r\na=rtpmap:0").replace("a=rtpmap:101 telephone-event/8000\r\n", "")
    assert f"Content-Length: {len(body)}" in head


def test_bad_names_are_load_errors() -> None:
    with pytest.raises(Exception, match="index"):
        load('route { t_rec("$sdp.line(a=[x])"); }\n')
    with pytest.raises(Exception, match="insert"):
        load('route { $(sdp.line(a=)[2]) = "x"; }\n')


def test_same_sdp_as_opensips_3_6_8() -> None:
    """The body OpenSIPS 3.6.8 relayed (forward()) after the same four edits."""
    sdp = ("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
           "m=audio 4000 RTP/AVP 0 101\r\nc=IN IP4 10.0.0.2\r\na=rtpmap:0 PCMU/8000\r\n"
           "a=rtpmap:101 telephone-event/8000\r\n")
    data = INVITE.replace(b"Content-Length: 0\r\n", b"Content-Type: application/sdp\r\nContent-Length: %d\r\n"
                          % len(sdp)) + sdp.encode()
    loaded = load(
        "route {\n"
        '$(sdp.line([5])[insertAfter]) = "a=ptime:20"; $sdp.stream(audio/a=rtpmap:101) = NULL;'
        '$sdp.line(c=) = "c=IN IP4 192.0.2.7"; $(sdp.session([0])[insert]) = "x=0";'
        "}\n"
    )
    _, ctx = run(loaded, data)
    assert ctx.msg.serialize().decode().partition("\r\n\r\n")[2] == (
        "x=0\r\nv=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0 101\r\na=ptime:20\r\nc=IN IP4 10.0.0.2\r\na=rtpmap:0 PCMU/8000\r\n"
    )
