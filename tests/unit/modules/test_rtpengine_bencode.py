"""rtpengine's bencode codec: round trips, the exact wire form, and malformed input refused."""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysips.script.loader import ModuleFinder


def _bencode() -> Any:
    assert ModuleFinder().find("rtpengine") is not None  # imports the package under its private name
    return importlib.import_module("pysips_modules.rtpengine.bencode")


B = _bencode()

values = st.recursive(
    st.integers(-(2**70), 2**70) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@given(values)
def test_round_trip(value: Any) -> None:
    assert B.decode(B.encode(value)) == value


def test_wire_form_of_an_ng_command() -> None:
    cmd = {"command": "offer", "flags": ["trust-address"], "n": -3, "sdp": "v=0\r\n"}
    assert B.encode(cmd) == b"d7:command5:offer5:flagsl13:trust-addresse1:ni-3e3:sdp5:v=0\r\ne"


def test_bytes_that_are_not_utf8_survive() -> None:
    raw = b"o=\xff\xfe"
    text = B.decode(B.encode(raw))
    assert isinstance(text, str) and text.encode("utf-8", "surrogateescape") == raw
    assert B.encode(text) == B.encode(raw)


def test_decode_prefix_reports_the_end() -> None:
    assert B.decode_prefix(b"4:spamXYZ", 0) == ("spam", 6)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"i12",  # unterminated integer
        b"i-0e",
        b"i03e",
        b"ie",
        b"i1x2e",
        b"5:abc",  # runs past the end
        b"05:abcde",  # length with a leading zero
        b"3abc",  # no colon
        b"l1:a",  # unterminated list
        b"d1:a",  # dictionary value missing
        b"di1e1:ae",  # key is not a string
        b"d1:ai1e",  # unterminated dictionary
        b"x",
        b"i1ei2e",  # trailing data
        b"l" * 200 + b"e" * 200,  # nested too deeply
    ],
)
def test_malformed_input_is_refused(data: bytes) -> None:
    with pytest.raises(B.BencodeError):
        B.decode(data)


@given(st.binary(max_size=64))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    with contextlib.suppress(B.BencodeError):
        B.decode(data)


@pytest.mark.parametrize("value", [1.5, True, None, {1: "x"}, object()])
def test_values_without_a_bencode_form(value: Any) -> None:
    with pytest.raises(B.BencodeError):
        B.encode(value)


def test_nested_values_negative_integers_and_bytes_that_are_not_utf8() -> None:
    data = b"d4:listli-1ei0el1:\xffee5:\xc3\xa9t\xc3\xa9d1:ki-42e0:i7eee"
    assert B.decode(data) == {"list": [-1, 0, ["\udcff"]], "été": {"k": -42, "": 7}}
    assert B.encode(B.decode(data)) == data


@pytest.mark.parametrize(
    "data",
    [b"9" * 5000 + b":x", b"i" + b"9" * 5000 + b"e", b"d1:ali" + b"9" * 5000 + b"eee"],
    ids=["length", "integer", "nested-integer"],
)
def test_numbers_past_pythons_4300_digits_are_malformed_not_a_crash(data: bytes) -> None:
    # int() raises a plain ValueError there, which the NG client would not catch
    with pytest.raises(B.BencodeError):
        B.decode(data)
    with pytest.raises(B.BencodeError):
        B.decode_flat(data)


# ------------------------------------------------------------------------------------- decode_flat

# A delete reply as rtpengine 10.5 writes it: keys in the daemon's order (not sorted), the call's
# statistics nested three and four levels deep, the result last.
STREAM = {"local port": 50042, "local address": "127.0.0.1", "family": "IPv4",
          "endpoint": {"family": "IPv4", "address": "127.0.0.1", "port": 40000},
          "flags": ["RTP", "filled"], "SSRC": 1234, "stats": {"packets": 50, "bytes": 8600, "errors": 0}}
DELETE_REPLY = {
    "created": 1796666180, "created_us": 304694, "last signal": 1796666180, "SSRC": {},
    "tags": {"ft": {"tag": "ft", "subscribers": [{"tag": "tt", "type": "offer/answer"}],
                    "medias": [{"index": 1, "type": "audio", "streams": [STREAM, STREAM]}]}},
    "totals": {"RTP": {"packets": 100, "bytes": 17200, "errors": 0},
               "RTCP": {"packets": 0, "bytes": 0, "errors": 0}},
    "result": "ok",
}


def test_decode_flat_keeps_the_scalars_of_a_delete_reply() -> None:
    data = B.encode(DELETE_REPLY)
    assert data.startswith(b"d7:createdi") and data.endswith(b"6:result2:oke")  # unsorted keys
    assert B.decode_flat(data) == {
        "created": 1796666180, "created_us": 304694, "last signal": 1796666180, "result": "ok"
    }
    assert B.decode(data) == DELETE_REPLY


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        (b"7:packetsi50e", b"7:packetsi050e"),  # an integer with a leading zero
        (b"7:packetsi50e", b"7:packetsi-0e"),
        (b"5:bytesi8600e", b"5:bytesi86x0e"),
        (b"d7:packets", b"di7e7:packets"),  # a key that is not a string
        (b"5:flagsl3:RTP", b"5:flagsl03:RTP"),  # a length with a leading zero
        (b"5:flagsl3:RTP", b"5:flagsl9999:RTP"),  # runs past the end
        (b"5:flagsl3:RTP", b"5:flagslx3:RTP"),  # not a value
        (b"4:SSRCde4:tags", b"4:SSRCd1:ae4:tags"),  # a key without its value
        (b"4:SSRCde4:tags", b"4:SSRCd1:k" + b"l" * 70 + b"e" * 70 + b"e4:tags"),  # nested too deeply
    ],
)
def test_decode_flat_refuses_what_decode_refuses_inside_the_statistics(good: bytes, bad: bytes) -> None:
    data = B.encode(DELETE_REPLY)
    assert good in data
    broken = data.replace(good, bad, 1)
    with pytest.raises(B.BencodeError):
        B.decode(broken)
    with pytest.raises(B.BencodeError):
        B.decode_flat(broken)


def _outcome(decoder: Any, data: bytes) -> Any:
    try:
        value = decoder(data)
    except B.BencodeError:
        return "refused"
    if decoder is B.decode:
        if not isinstance(value, dict):
            return "refused"
        return {k: v for k, v in value.items() if not isinstance(v, list | dict)}
    return value


@st.composite
def _near_bencode(draw: st.DrawFn) -> bytes:
    """Encoded dictionaries, then a few bytes replaced, inserted or removed."""
    data = bytearray(B.encode(draw(st.dictionaries(st.text(max_size=3), values, max_size=4))))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        byte = draw(st.sampled_from(b"ldei0123456789:-x"))
        how = draw(st.sampled_from(("replace", "insert", "delete")))
        if how == "insert" or not data:
            data.insert(at, byte)
        elif how == "replace":
            data[min(at, len(data) - 1)] = byte
        else:
            del data[min(at, len(data) - 1)]
    return bytes(data)


@settings(max_examples=400)
@given(_near_bencode())
def test_decode_flat_agrees_with_decode(data: bytes) -> None:
    # the same accepted and refused input, and the same scalars: a malformed delete reply
    # still fails the command, whether its statistics are built or not
    assert _outcome(B.decode_flat, data) == _outcome(B.decode, data)


@pytest.mark.parametrize("depth", range(60, 68))
@pytest.mark.parametrize("inner", [b"", b"i1e", b"1:a", b"le", b"d1:ai1ee"])
def test_decode_flat_agrees_with_decode_at_the_depth_limit(depth: int, inner: bytes) -> None:
    for opener in (b"l", b"d1:k"):
        data = b"d1:x" + opener * depth + inner + b"e" * depth + b"6:result2:oke"
        assert _outcome(B.decode_flat, data) == _outcome(B.decode, data)


def test_decode_flat_a_repeated_key_keeps_its_last_value() -> None:
    data = b"d1:ai1e1:ale1:bl0:e1:bi2ee"
    assert B.decode(data) == {"a": [], "b": 2}
    assert B.decode_flat(data) == {"b": 2}
