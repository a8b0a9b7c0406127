"""Property tests: the parser only ever returns values, and untouched messages round-trip."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.uri import SipUri, parse_uri

TORTURE = Path("/work/shared/corpus/torture")
SEEDS = sorted(p.read_bytes() for p in TORTURE.glob("*.sip")) if TORTURE.is_dir() else []

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
    min_size=1,
    max_size=12,
)
hostname = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,3}\Z")
user = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()&=+$,;?/", min_size=1, max_size=12)
param_value = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!~*'", min_size=1, max_size=8)
header_value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FFF, exclude_characters="\x7f"), max_size=30
)


def exercise(msg: SipMessage) -> None:
    """Every accessor must return, not raise."""
    msg.check()
    msg.validate()
    msg.uri()
    msg.contacts()
    msg.routes()
    msg.record_routes()
    msg.sdp()
    msg.expires()
    msg.header_fields()
    _ = (msg.from_, msg.to, msg.vias, msg.content_type)


def assert_value(data: bytes) -> None:
    result = parse_message(data)
    if isinstance(result, ParseError):
        assert not result.reason.startswith("internal"), result.reason
        return
    assert isinstance(result, SipMessage)
    exercise(result)
    out = result.serialize()
    assert data.startswith(out)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_give_values(data: bytes) -> None:
    assert_value(data)


@FAST
@given(
    st.sampled_from(SEEDS),
    st.lists(
        st.tuples(st.integers(0, 2000), st.binary(min_size=0, max_size=6), st.integers(0, 6)),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_torture_messages_give_values(seed: bytes, edits: list[tuple[int, bytes, int]]) -> None:
    data = bytearray(seed)
    for pos, insert, delete in edits:
        pos %= len(data) + 1
        data[pos : pos + delete] = insert
    assert_value(bytes(data))


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    method = draw(st.sampled_from(["INVITE", "REGISTER", "OPTIONS", "BYE", "MESSAGE"]) | token)
    ruser, rhost = draw(user), draw(hostname)
    port = draw(st.none() | st.integers(1, 65535))
    branch = "z9hG4bK" + draw(param_value)
    ftag = draw(param_value)
    call_id = draw(token)
    cseq = draw(st.integers(0, 2**31 - 1))
    extra = draw(
        st.lists(
            st.tuples(st.sampled_from(["X-A", "Subject", "User-Agent", "P-Thing"]), header_value), max_size=4
        )
    )
    body = draw(st.binary(max_size=60))
    compact = draw(st.booleans())
    ruri = f"sip:{ruser}@{rhost}" + (f":{port}" if port else "")
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"{'v' if compact else 'Via'}: SIP/2.0/UDP {rhost};branch={branch}",
        f"{'f' if compact else 'From'}: <sip:a@{rhost}>;tag={ftag}",
        f"{'t' if compact else 'To'}: <{ruri}>",
        f"{'i' if compact else 'Call-ID'}: {call_id}",
        f"CSeq: {cseq} {method}",
        *(f"{name}: {value}" for name, value in extra),
        f"{'l' if compact else 'Content-Length'}: {len(body)}",
    ]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    return data, {
        "method": method,
        "ruri": ruri,
        "user": ruser,
        "port": port,
        "branch": branch,
        "ftag": ftag,
        "call_id": call_id,
        "cseq": cseq,
        "body": body,
        "extra": extra,
    }


@FAST
@given(requests())
def test_generated_requests_parse_to_their_fields(case: tuple[bytes, dict[str, object]]) -> None:
    data, want = case
    msg = parse_message(data)
    assert isinstance(msg, SipMessage), msg
    assert msg.check() is None
    assert (msg.method, msg.ruri, msg.call_id, msg.cseq.number) == (
        want["method"],
        want["ruri"],
        want["call_id"],
        want["cseq"],
    )
    assert msg.top_via is not None and msg.top_via.branch == want["branch"] and msg.from_tag == want["ftag"]
    assert msg.body == want["body"]
    uri = msg.uri()
    assert isinstance(uri, SipUri) and uri.user == want["user"] and uri.port == want["port"]
    extra = want["extra"]
    assert isinstance(extra, list)
    for name, value in extra:
        assert value.strip(" \t") in msg.headers(name)
    assert msg.serialize() == data


@FAST
@given(
    requests(),
    st.lists(st.sampled_from(["append", "insert", "remove", "ruri", "push", "pop", "body"]), max_size=6),
)
def test_edited_messages_stay_parsable(case: tuple[bytes, dict[str, object]], ops: list[str]) -> None:
    data, want = case
    msg = parse_message(data)
    assert isinstance(msg, SipMessage)
    for op in ops:
        if op == "append":
            msg.append_header("X-Appended: yes")
        elif op == "insert":
            msg.insert_header("X-Inserted: yes")
        elif op == "remove":
            msg.remove_header("subject")
        elif op == "ruri":
            msg.set_ruri("sip:new@example.net")
        elif op == "push":
            msg.push_via("SIP/2.0/TCP 192.0.2.7;branch=z9hG4bKpushed")
        elif op == "pop":
            msg.pop_via()
        else:
            msg.set_body(b"new body", "text/plain")
    before = msg.header_fields()
    out = parse_message(msg.serialize())
    assert msg.header_fields() == before  # edits never show in the original view
    if "pop" in ops and "push" not in ops:
        assert isinstance(out, ParseError)  # the only Via is gone: nothing to answer to
        return
    assert isinstance(out, SipMessage), out
    assert (out.header("x-appended") == "yes") == ("append" in ops)
    assert (out.header("x-inserted") == "yes") == ("insert" in ops)
    assert out.header("subject") is None or "remove" not in ops
    assert out.ruri == ("sip:new@example.net" if "ruri" in ops else want["ruri"])
    assert out.body == (b"new body" if "body" in ops else want["body"])


@FAST
@given(
    st.sampled_from(["sip", "sips"]),
    st.none() | user,
    hostname | st.sampled_from(["[2001:db8::1]", "[::1]"]),
    st.none() | st.integers(0, 65535),
    st.dictionaries(st.from_regex(r"\A[a-z][a-z0-9-]{0,6}\Z"), st.none() | param_value, max_size=3),
)
def test_uri_round_trip(
    scheme: str, usr: str | None, host: str, port: int | None, params: dict[str, str | None]
) -> None:
    built = SipUri(scheme, usr, host, port, params)
    parsed = parse_uri(str(built))
    assert isinstance(parsed, SipUri), parsed
    assert (parsed.scheme, parsed.user, parsed.host, parsed.port, parsed.params) == (
        scheme,
        usr,
        host,
        port,
        params,
    )
    assert str(parsed) == str(built)
