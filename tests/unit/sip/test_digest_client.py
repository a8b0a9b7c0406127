"""The client side of digest (pysips.sip.digest_client, digest, core_hash): RFC vectors, HA1
literals, the challenge a client picks and answers, and OpenSIPS's core_hash bit for bit (values
from the C function compiled as is)."""

from __future__ import annotations

import hashlib

import pytest

from pysips.sip import digest
from pysips.sip.core_hash import core_hash
from pysips.sip.digest_client import any_challenge, authorization, first_challenge
from pysips.sip.message import SipMessage
from pysips.sip.parser import parse_message


def reply(code: int, *challenges: str) -> SipMessage:
    name = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
    text = (f"SIP/2.0 {code} Challenge\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
            "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
            + "".join(f"{name}: {c}\r\n" for c in challenges) + "Content-Length: 0\r\n\r\n")
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage)
    return msg


def test_core_hash_matches_opensips() -> None:
    assert core_hash(b"035cf70b1c4fcf4731150330410151743443") == 1320878823
    assert core_hash(b"sip:gw@upstream.example.com") == 3115170713
    assert core_hash(b"sip:gw@upstream.example.com", None, 4) == 1
    assert core_hash(b"abc") == 7167810
    assert core_hash(b"\xe9t\xe9\xff\x80xyz") == 2229915271  # bytes above 127 count negative, as C's char
    assert core_hash(b"") == 0
    assert core_hash(b"call-1@host", b"tag9") == 318212505


def test_rfc2617_client_response() -> None:
    # RFC 2617 3.5: the client's answer to the example challenge
    answer = digest.client_response(digest.MD5, "Mufasa", "testrealm@host.com", "Circle Of Life",
                                    "dcd98b7102dd2f0e8b11d0f600bfb0c093", "GET", "/dir/index.html",
                                    "auth", "00000001", "0a4f113b", b"")
    assert answer == "6629fae49393a05397450978507c4ef1"


def test_rfc7616_sha256_client_response() -> None:
    answer = digest.client_response(digest.SHA256, "Mufasa", "http-auth@example.org", "Circle of Life",
                                    "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "GET", "/dir/index.html",
                                    "auth", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", b"")
    assert answer == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_ha1_literal_is_used_as_ha1() -> None:
    ha1 = hashlib.md5(b"u:r:secret").hexdigest()
    plain = digest.client_response(digest.MD5, "u", "r", "secret", "n", "REGISTER", "sip:r", None, "", "",
                                   b"")
    hashed = digest.client_response(digest.MD5, "u", "r", "0x" + ha1, "n", "REGISTER", "sip:r", None, "",
                                    "", b"")
    assert plain == hashed
    # not an HA1: wrong length for the algorithm, upper-case hex, missing prefix
    assert digest.stored_ha1(digest.SHA256, "0x" + ha1) is None
    assert digest.stored_ha1(digest.MD5, "0x" + ha1.upper()) is None
    assert digest.stored_ha1(digest.MD5, ha1) is None


def test_md5_sess_hashes_ha1_with_both_nonces() -> None:
    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    sess = hashlib.md5(f"{ha1}:N:C".encode()).hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:b@x").hexdigest()
    expected = hashlib.md5(f"{sess}:N:00000001:C:auth:{ha2}".encode()).hexdigest()
    assert digest.client_response(digest.MD5_SESS, "u", "r", "p", "N", "INVITE", "sip:b@x", "auth",
                                  "00000001", "C", b"") == expected


def test_authorization_header_for_qop_auth() -> None:
    challenge = first_challenge(reply(401, 'Digest realm="r", nonce="abc", qop="auth-int,auth", opaque="o"'))
    assert challenge is not None and challenge.chosen_qop == "auth"
    line = authorization(challenge, "u", "p", "REGISTER", "sip:r", b"")
    cnonce = str(core_hash(b"abc"))
    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:r").hexdigest()
    response = hashlib.md5(f"{ha1}:abc:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
    assert line == (f'Authorization: Digest username="u", realm="r", nonce="abc", uri="sip:r", '
                    f'opaque="o", qop=auth, nc=00000001, cnonce="{cnonce}", response="{response}", '
                    f'algorithm=MD5')


def test_auth_int_only_hashes_the_body() -> None:
    challenge = first_challenge(reply(407, 'Digest realm="r", nonce="n", qop="auth-int"'))
    assert challenge is not None and challenge.chosen_qop == "auth-int"
    line = authorization(challenge, "u", "p", "INVITE", "sip:b@x", b"v=0\r\n")
    assert line.startswith("Proxy-Authorization: Digest ") and "qop=auth-int" in line
    other = authorization(challenge, "u", "p", "INVITE", "sip:b@x", b"v=1\r\n")
    assert line != other


def test_first_challenge_skips_unknown_and_masked_algorithms() -> None:
    msg = reply(401, 'Digest realm="r", nonce="1", algorithm=AKAv1-MD5',
                'Digest realm="r", nonce="2", algorithm=MD5',
                'Digest realm="r", nonce="3", algorithm=SHA-256')
    first = first_challenge(msg)
    assert first is not None and first.nonce == "2"
    sha = first_challenge(msg, 1 << digest.SHA256)
    assert sha is not None and sha.nonce == "3" and sha.algorithm == digest.SHA256
    assert first_challenge(msg, 1 << digest.MD5_SESS) is None
    # $challenge.* reads the first Digest challenge whatever its algorithm
    seen = any_challenge(msg)
    assert seen is not None and seen.nonce == "1"


@pytest.mark.parametrize("code", [200, 403])
def test_no_challenge_outside_401_407(code: int) -> None:
    text = (f"SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@x>;tag=1\r\n"
            "To: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
            'WWW-Authenticate: Digest realm="r", nonce="n"\r\nContent-Length: 0\r\n\r\n')
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage)
    assert first_challenge(msg) is None and any_challenge(msg) is None


def test_replace_header_twice_keeps_one_field() -> None:
    msg = reply(401, 'Digest realm="r", nonce="n"')
    assert msg.replace_header("CSeq: 2 INVITE")
    assert msg.current_header("CSeq") == "2 INVITE"
    msg.replace_header("CSeq: 3 INVITE")
    out = msg.serialize()
    assert out.count(b"CSeq:") == 1 and b"CSeq: 3 INVITE\r\n" in out
    assert msg.cseq.number == 1  # the parsed value stays the received one
    assert not msg.replace_header("X-Missing: 1")
