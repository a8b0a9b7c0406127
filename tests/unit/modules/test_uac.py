"""uac and uac_auth pieces: the Record-Route store of the original From/To (XOR, base64 with '-'
padding, restore_passwd), name-addr splitting, display quoting and credential parsing."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from pysips.script.errors import FixupError
from pysips.script.loader import ModuleFinder


def module(package: str, name: str) -> Any:
    ModuleFinder().find(package)
    suffix = f".{package}.{name}" if name else f".{package}"
    # "<root>.uac.replace", never another package's submodule of that name ("<root>.tm.uac")
    depth = suffix.count(".")
    return sys.modules[next(n for n in sys.modules if n.endswith(suffix) and n.count(".") == depth)]


@pytest.mark.parametrize("original, new", [
    ("sip:alice@example.com", "<sip:anonymous@anonymous.invalid>"),  # new longer
    ("sip:a-very-long-user-name@a.long.domain.example.com", "<sip:x@y>"),  # original longer
    ("sip:abc@d", "<sip:ab@d>"),  # the same length once quoted
])
@pytest.mark.parametrize("passwd", ["", "s3cr3t"])
def test_store_round_trip(original: str, new: str, passwd: str) -> None:
    replace = module("uac", "replace")
    value = replace.encode_store(original, new, passwd)
    assert "=" not in value and all(c.isalnum() or c in "+/-" for c in value)
    # the caller's requests carry the original: the value gives the new URI, and back
    assert replace.decode_store(value, original, passwd) == new
    assert replace.decode_store(value, new, passwd) == original


def test_store_value_is_opensips_base64() -> None:
    replace = module("uac", "replace")
    # "ab" XOR "<s" = 0x5d 0x11; one byte of padding is written '-'
    assert replace.encode_store("ab", "<s", "") == "XRE-"


def test_split_name_addr() -> None:
    state = module("uac", "state")
    assert state.split_name_addr('"A, B" <sip:a@x;lr>;tag=1') == ('"A, B" <sip:a@x;lr>', ";tag=1")
    assert state.split_name_addr("sip:a@x;tag=1") == ("sip:a@x", ";tag=1")
    assert state.split_name_addr("<sip:a@x>") == ("<sip:a@x>", "")


def test_display_quoted_unless_token_or_quoted() -> None:
    uac = module("uac", "")
    assert uac.quote_display("batman") == "batman"
    assert uac.quote_display("Bat Man") == '"Bat Man"'
    assert uac.quote_display('"Bat Man"') == '"Bat Man"'


def test_credential_parsing() -> None:
    uac_auth = module("uac_auth", "")
    cred = uac_auth.parse_credential("testing:192.168.52.1:T3st|n6")
    assert (cred.username, cred.realm, cred.password) == ("testing", "192.168.52.1", "T3st|n6")
    assert uac_auth.parse_credential(" u : r : p:with:colons ").password == "p:with:colons"
    for bad in ("u:r", "u::p", ":r:p", "u:r:", "u:r:p q"):
        with pytest.raises(FixupError):
            uac_auth.parse_credential(bad)


def test_credentials_last_given_wins_per_realm() -> None:
    uac_auth = module("uac_auth", "")
    first = uac_auth.parse_credential("a:r:1")
    second = uac_auth.parse_credential("b:r:2")
    creds = uac_auth.Credentials(list(reversed([first, second])), None)
    assert creds.lookup(None, "r") == second
    assert creds.lookup(None, "other") is None
