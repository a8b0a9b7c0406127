"""The raw splitters behind pseudo-variables never raise, and give back what was written."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pysips.script.pv_sipparse import (
    parse_nameaddr,
    parse_via,
    split_commas,
    split_params,
    split_uri,
)
from pysips.script.transforms_misc import compile_subst, split_csv

SIPISH = st.text(alphabet='sip:@;=<>"\\ ,?&[]0123456789abc.-/\t', max_size=60)


@settings(max_examples=400, deadline=None)
@given(SIPISH)
def test_splitters_never_raise(text: str) -> None:
    split_uri(text)
    split_uri("sip:" + text)
    parse_nameaddr(text)
    parse_via("SIP/2.0/UDP " + text)
    split_params(text)
    split_commas(text)
    split_csv(text)
    compile_subst(text)


@given(
    st.sampled_from(["sip", "sips"]),
    st.from_regex(r"[a-z0-9+]{0,6}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9.]{0,10}|\[[0-9a-f:]{2,10}\]", fullmatch=True),
    st.one_of(st.just(""), st.integers(1, 65535).map(str)),
    st.from_regex(r"(;[a-z]{1,5}(=[a-z0-9]{1,4})?){0,3}", fullmatch=True),
)
def test_uri_round_trip(scheme: str, user: str, host: str, port: str, params: str) -> None:
    text = f"{scheme}:{user + '@' if user else ''}{host}{':' + port if port else ''}{params}"
    parts = split_uri(text)
    assert parts is not None
    assert (parts.user, parts.host, parts.port, parts.params) == (user, host, port, params[1:])
    assert parts.build() == text
