"""rtpengine's bencode codec: round trips, the exact wire form, and malformed input refused."""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import pytest
from hypothesis import given
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
