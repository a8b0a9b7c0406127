"""The stream framer alone: bytes in, SIP messages / keepalives / errors out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pysips.core.services import PROTO_SERVICES
from pysips.script.services import ServiceRegistry
from pysips.transport.stream_framing import (
    FramingError,
    KeepalivePing,
    KeepalivePong,
    SipFrame,
    StreamFramer,
    content_length_of,
)
from pysips.transport.stream_settings import CORE_KEY, settings_from


def msg(body: bytes = b"", method: str = "OPTIONS", clen: str | None = None, extra: str = "") -> bytes:
    length = str(len(body)) if clen is None else clen
    head = (f"{method} sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: x\r\n{extra}"
            f"Content-Length: {length}\r\n\r\n")
    return head.encode() + body


def frames(events: list[object]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, SipFrame)]


def test_two_messages_in_one_read() -> None:
    a, b = msg(b"v=0\r\n"), msg(method="REGISTER")
    f = StreamFramer()
    assert frames(f.feed(a + b)) == [a, b]
    assert f.pending == 0


def test_one_message_over_many_reads_when_allowed() -> None:
    m = msg(b"hello body")
    f = StreamFramer(max_chunks=0)
    out: list[bytes] = []
    for i in range(len(m)):
        out += frames(f.feed(m[i : i + 1]))
    assert out == [m]


def test_slow_drip_beyond_max_chunks_is_fatal() -> None:
    m = msg()
    f = StreamFramer(max_chunks=4)
    events: list[object] = []
    for i in range(6):
        events += f.feed(m[i : i + 1])
    assert any(isinstance(e, FramingError) for e in events)
    assert f.broken
    assert f.feed(m) == []  # a broken stream yields nothing more


def test_body_split_across_reads_and_next_message_following() -> None:
    a, b = msg(b"x" * 100), msg()
    data = a + b
    f = StreamFramer()
    assert frames(f.feed(data[:50])) == []
    assert frames(f.feed(data[50:130])) == []
    assert frames(f.feed(data[130:])) == [a, b]


def test_missing_content_length_is_an_error() -> None:
    f = StreamFramer()
    events = f.feed(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n")
    assert len(events) == 1 and isinstance(events[0], FramingError)
    assert events[0].status == 400 and "Content-Length" in events[0].reason


def test_compact_and_case_insensitive_content_length() -> None:
    assert content_length_of(b"OPTIONS x SIP/2.0\r\nl: 5") == 5
    assert content_length_of(b"OPTIONS x SIP/2.0\r\ncontent-LENGTH :  12 ") == 12
    assert isinstance(content_length_of(b"OPTIONS x SIP/2.0\r\nContent-Length: 1\r\nl: 2"), FramingError)
    assert isinstance(content_length_of(b"OPTIONS x SIP/2.0\r\nContent-Length: abc"), FramingError)
    # a header whose name merely ends in "l" is not Content-Length
    assert isinstance(content_length_of(b"OPTIONS x SIP/2.0\r\nX-Url: 5"), FramingError)


def test_oversized_message_rejected_before_the_body_arrives() -> None:
    f = StreamFramer(max_message=1000)
    events = f.feed(msg(clen="100000"))
    assert isinstance(events[-1], FramingError) and events[-1].status == 513


def test_endless_headers_rejected() -> None:
    f = StreamFramer(max_message=500, max_chunks=0)
    events: list[object] = []
    for _ in range(10):
        events += f.feed(b"X-Junk: " + b"a" * 90 + b"\r\n")
    assert any(isinstance(e, FramingError) and e.status == 513 for e in events)


def test_crlfcrlf_ping_and_crlf_pong() -> None:
    f = StreamFramer()
    events = f.feed(b"\r\n\r\n")
    assert len(events) == 1 and isinstance(events[0], KeepalivePing)
    events = f.feed(b"\r\n" + msg())
    assert isinstance(events[0], KeepalivePong) and frames(events) == [msg()]


def test_ping_split_over_two_reads() -> None:
    f = StreamFramer()
    assert f.feed(b"\r\n") == []
    events = f.feed(b"\r\n")
    assert len(events) == 1 and isinstance(events[0], KeepalivePing)


def test_keepalives_between_messages() -> None:
    f = StreamFramer()
    events = f.feed(msg() + b"\r\n\r\n" + msg())
    assert [type(e).__name__ for e in events] == ["SipFrame", "KeepalivePing", "SipFrame"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=5), st.lists(st.integers(1, 200), max_size=30))
def test_any_split_gives_the_same_messages(bodies: list[bytes], cuts: list[int]) -> None:
    messages = [msg(b) for b in bodies]
    data = b"".join(messages)
    f = StreamFramer(max_chunks=0)
    out: list[bytes] = []
    pos = 0
    for cut in cuts:
        out += frames(f.feed(data[pos : pos + cut]))
        pos += cut
    out += frames(f.feed(data[pos:]))
    assert out == messages


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_raises(data: bytes) -> None:
    f = StreamFramer(max_message=200)
    for event in f.feed(data):
        assert isinstance(event, SipFrame | KeepalivePing | KeepalivePong | FramingError)


def test_in_message_while_a_message_is_incomplete_only() -> None:
    """What tcp_max_msg_time times: a begun message, not a half keepalive or nothing."""
    f = StreamFramer()
    whole = msg(b"hello")
    assert not f.in_message
    f.feed(whole[:10])
    assert f.in_message
    f.feed(whole[10:])
    assert not f.in_message
    f.feed(b"\r\n")  # may be the first half of a CRLFCRLF ping
    assert f.pending and not f.in_message
    f.feed(b"\r\n" + whole + b"INVITE sip:")  # a whole message, then the start of the next
    assert f.in_message


def _proto_services(proto: str, core: dict[str, object]) -> ServiceRegistry:
    """What a loaded proto module offers: its parameters, with the core globals it saw."""
    services = ServiceRegistry()
    services.provide(PROTO_SERVICES[proto], {CORE_KEY: core}, f"proto_{proto}")
    return services


def test_settings_read_tcp_max_msg_time() -> None:
    assert settings_from(ServiceRegistry()).max_msg_time == 4.0  # OpenSIPS's TCP_CHILD_MAX_MSG_TIME
    assert settings_from(_proto_services("tcp", {"tcp_max_msg_time": 9})).max_msg_time == 9.0


def test_settings_read_tcp_max_connections_per_ip() -> None:
    assert settings_from(ServiceRegistry()).max_connections_per_ip == 0  # no cap unless asked
    services = _proto_services("ws", {"tcp_max_connections_per_ip": 16})
    assert settings_from(services).max_connections_per_ip == 16
