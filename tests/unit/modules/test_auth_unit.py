"""auth pieces: digest vectors from the RFCs, nonces, and script-level options (algorithms, qop,
auth-int, pv_*_authorize, consume_credentials, disable_nonce_check)."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_support import script_net  # put on the path by test_auth_fakes
from test_auth_fakes import DOMAIN, SDP, challenge_params, credentials, h, invite, only_reply

from pysips.script.loader import ModuleFinder
from pysips.sip import digest as sip_digest

RURI = f"sip:testing@{DOMAIN}:5060"


def auth_pkg(name: str) -> object:
    ModuleFinder().find("auth")
    return sys.modules[next(n for n in sys.modules if n.endswith(f".auth.{name}"))]


def test_rfc2617_md5_vector() -> None:
    digest = sip_digest
    ha1 = digest.ha1(digest.MD5, "Mufasa", "testrealm@host.com", "Circle Of Life")
    ha2 = digest.ha2(digest.MD5, "GET", "/dir/index.html", None)
    resp = digest.response(
        digest.MD5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", ha2, "auth", "00000001", "0a4f113b"
    )
    assert resp == "6629fae49393a05397450978507c4ef1"


def test_rfc7616_sha256_vector() -> None:
    digest = sip_digest
    ha1 = digest.ha1(digest.SHA256, "Mufasa", "http-auth@example.org", "Circle of Life")
    ha2 = digest.ha2(digest.SHA256, "GET", "/dir/index.html", None)
    resp = digest.response(
        digest.SHA256,
        ha1,
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        ha2,
        "auth",
        "00000001",
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert resp == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_a_nonce_checked_the_moment_it_was_issued_is_fresh() -> None:
    """The expiry travels in whole microseconds; read back it can be a rounding step above
    issue time + nonce_expire, which must not look like a nonce from the future."""
    nonce = auth_pkg("nonce")
    codec = nonce.NonceCodec(b"k" * 32)
    issued = 1796614805.2206619  # a time whose expiry rounds up in the round trip
    read_back = codec.open(codec.make(nonce.NonceParams(issued + 30, 7, 1, 3)))
    assert read_back is not None and read_back.expires > issued + 30
    assert not nonce.is_stale(read_back, issued, 30)


def test_nonce_roundtrip_tamper_and_index() -> None:
    nonce = auth_pkg("nonce")
    codec = nonce.NonceCodec(b"k" * 32)
    params = nonce.NonceParams(1000.5, 7, 1, 3)
    text = codec.make(params)
    assert len(text) == nonce.NONCE_LEN and codec.open(text) == params
    assert codec.open(text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    assert nonce.NonceCodec(b"other").open(text) is None
    assert nonce.is_stale(params, 1000.6, 30) and not nonce.is_stale(params, 990.0, 30)
    assert nonce.is_stale(params, 900.0, 30)  # further ahead than any nonce we make
    index = nonce.NonceIndex()
    first = index.reserve()
    assert index.use(first, 10.0, 1.0) and not index.use(first, 10.0, 2.0)
    assert not index.use(first + 5, 10.0, 2.0)  # never handed out
    index.use(index.reserve(), 10.0, 3.0)
    assert len(index) == 2
    index.use(index.reserve(), 50.0, 11.0)  # the first two expired meanwhile and are forgotten
    assert len(index) == 1


def _db(tmp_path: Path) -> Path:
    db = tmp_path / "sub.db"
    realm = DOMAIN
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE version (table_name CHAR(32) NOT NULL, table_version INTEGER DEFAULT 0 NOT NULL);"
            "INSERT INTO version VALUES ('subscriber', 8);"
            "CREATE TABLE subscriber (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " username CHAR(64) DEFAULT '' NOT NULL,"
            " domain CHAR(64) DEFAULT '' NOT NULL, password CHAR(25) DEFAULT '' NOT NULL,"
            " ha1 CHAR(64) DEFAULT '' NOT NULL, ha1_sha256 CHAR(64) DEFAULT '' NOT NULL,"
            " ha1_sha512t256 CHAR(64) DEFAULT '' NOT NULL, rpid CHAR(64) DEFAULT NULL);"
        )
        conn.execute(
            "INSERT INTO subscriber (username, domain, password, ha1, ha1_sha256, ha1_sha512t256, rpid)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                "testing",
                realm,
                "T3st|n6",
                h("md5", f"testing:{realm}:T3st|n6"),
                h("sha-256", f"testing:{realm}:T3st|n6"),
                h("sha-512-256", f"testing:{realm}:T3st|n6"),
                "sip:+40123456789@example.com",
            ),
        )
    return db


SCRIPT = r"""
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "db_sqlite.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("auth_db", "db_url", "sqlite://DBFILE")
modparam("auth_db", "load_credentials", "$avp(rpid)=rpid")
AUTHPARAMS
route {
    $var(user) = "testing";
    $var(pass) = "T3st|n6";
    $var(rc) = AUTHORIZE;
    if ($var(rc) < 0) {
        CHALLENGE;
        exit;
    }
    AFTER
    send_reply(299, "ok $au");
    exit;
}
"""


def _net(
    tmp_path: Path,
    authorize: str = 'proxy_authorize("", "subscriber")',
    challenge: str = 'proxy_challenge("", "auth")',
    after: str = "",
    params: str = "",
) -> object:
    text = (
        SCRIPT.replace("DBFILE", str(_db(tmp_path)))
        .replace("AUTHORIZE", authorize)
        .replace("CHALLENGE", challenge)
        .replace("AFTER", after)
        .replace("AUTHPARAMS", params)
    )
    net, _ = script_net(text)
    return net


@pytest.mark.parametrize("alg", ["SHA-256", "SHA-512-256", "MD5-sess", "SHA-256-sess", "MD5"])
def test_rfc8760_algorithms_with_stored_hashes(tmp_path: Path, alg: str) -> None:
    net = _net(tmp_path, challenge=f'proxy_challenge("", "auth", "{alg},MD5")')
    first = only_reply(net.deliver(invite("z9hG4bKg1")))
    offered = [challenge_params(v) for v in first.headers("Proxy-Authenticate")]
    names = [c.get("algorithm") for c in offered]
    assert names[-1] == "MD5" and names[0] == alg  # strongest first
    chal = offered[0]
    ok = only_reply(net.deliver(invite("z9hG4bKg2", credentials(chal, "INVITE", RURI), cseq=2)))
    assert ok.status == 299


def test_plain_password_with_calculate_ha1(tmp_path: Path) -> None:
    net = _net(
        tmp_path,
        params='modparam("auth_db", "calculate_ha1", 1)\nmodparam("auth_db", "password_column", "password")',
    )
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKp1"))).header("Proxy-Authenticate") or "")
    ok = only_reply(net.deliver(invite("z9hG4bKp2", credentials(chal, "INVITE", RURI), cseq=2)))
    assert (ok.status, ok.reason) == (299, "ok testing")


def test_auth_int_covers_the_body(tmp_path: Path) -> None:
    net = _net(tmp_path, challenge='proxy_challenge("", "auth-int")')
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKb1"))).header("Proxy-Authenticate") or "")
    assert chal["qop"] == "auth-int"
    good = credentials(chal, "INVITE", RURI, qop="auth-int", body=SDP.encode())
    assert only_reply(net.deliver(invite("z9hG4bKb2", good, cseq=2))).status == 299
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKb3"))).header("Proxy-Authenticate") or "")
    signed_other_body = credentials(chal, "INVITE", RURI, qop="auth-int", body=b"v=0\r\n")
    assert only_reply(net.deliver(invite("z9hG4bKb4", signed_other_body, cseq=2))).status == 407


def test_no_qop_challenge_and_rfc2069_response(tmp_path: Path) -> None:
    net = _net(tmp_path, challenge='proxy_challenge("")')
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKq1"))).header("Proxy-Authenticate") or "")
    assert "qop" not in chal and "algorithm" not in chal
    ok = only_reply(net.deliver(invite("z9hG4bKq2", credentials(chal, "INVITE", RURI, qop=None), cseq=2)))
    assert ok.status == 299


def test_pv_proxy_authorize(tmp_path: Path) -> None:
    params = (
        'modparam("auth", "username_spec", "$var(user)")\n'
        'modparam("auth", "password_spec", "$var(pass)")\nmodparam("auth", "calculate_ha1", 1)'
    )
    net = _net(tmp_path, authorize='pv_proxy_authorize("")', params=params)
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKv1"))).header("Proxy-Authenticate") or "")
    assert (
        only_reply(net.deliver(invite("z9hG4bKv2", credentials(chal, "INVITE", RURI), cseq=2))).status == 299
    )
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKv3"))).header("Proxy-Authenticate") or "")
    wrong = credentials(chal, "INVITE", RURI, password="x")
    assert only_reply(net.deliver(invite("z9hG4bKv4", wrong, cseq=2))).status == 407


def test_consume_credentials_and_rpid(tmp_path: Path) -> None:
    after = (
        'if (!is_rpid_user_e164()) { send_reply(498, "no e164"); exit; }\n'
        "consume_credentials();\n"
        'if ($avp(rpid) != "sip:+40123456789@example.com") { send_reply(497, "no rpid"); exit; }\n'
    )
    net = _net(tmp_path, after=after)
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKc1"))).header("Proxy-Authenticate") or "")
    assert (
        only_reply(net.deliver(invite("z9hG4bKc2", credentials(chal, "INVITE", RURI), cseq=2))).status == 299
    )


def test_disable_nonce_check_allows_reuse(tmp_path: Path) -> None:
    net = _net(tmp_path, params='modparam("auth", "disable_nonce_check", 1)')
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKn1"))).header("Proxy-Authenticate") or "")
    auth = credentials(chal, "INVITE", RURI)
    assert only_reply(net.deliver(invite("z9hG4bKn2", auth, cseq=2))).status == 299
    assert only_reply(net.deliver(invite("z9hG4bKn3", auth, cseq=3))).status == 299


def test_cancel_is_always_authorized(tmp_path: Path) -> None:
    net = _net(tmp_path)
    reply = only_reply(net.deliver(invite("z9hG4bKx1", method="OPTIONS", body="")))
    assert reply.status == 407
    # a CANCEL without a matching INVITE reaches the script: authorized without credentials
    cancel = invite("z9hG4bKx2", method="CANCEL", body="")
    assert only_reply(net.deliver(cancel)).status == 299


def test_bad_qop_and_algorithm_are_load_errors(tmp_path: Path) -> None:
    from pysips.script.compile import check_script
    from pysips.script.parse import parse_text

    for challenge, needle in (
        ('www_challenge("", "auth-conf")', "bad qop"),
        ('www_challenge("", "auth", "SHA-1")', "unknown digest algorithm"),
    ):
        text = (
            f'loadmodule "signaling.so"\nloadmodule "sl.so"\nloadmodule "auth.so"\nroute {{ {challenge}; }}\n'
        )
        report = check_script(parse_text(text, "t.cfg"))
        assert not report.ok and needle in " ".join(p.message for p in report.problems)


def test_md5_response_to_a_sha256_challenge_is_refused(tmp_path: Path) -> None:
    """No downgrade: the nonce records the algorithm it was issued for (RFC 8760 section 3); a
    response computed with MD5 from a SHA-256-only challenge is refused, though the password is
    right."""
    net = _net(tmp_path, challenge='proxy_challenge("", "auth", "SHA-256")')
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKd1"))).header("Proxy-Authenticate") or "")
    assert chal["algorithm"] == "SHA-256"
    downgraded = credentials({**chal, "algorithm": "MD5"}, "INVITE", RURI)
    assert 'algorithm=MD5' in downgraded
    refused = only_reply(net.deliver(invite("z9hG4bKd2", downgraded, cseq=2)))
    assert refused.status == 407
    honest = credentials(chal, "INVITE", RURI)  # the same nonce, answered with SHA-256
    assert only_reply(net.deliver(invite("z9hG4bKd3", honest, cseq=3))).status == 299
