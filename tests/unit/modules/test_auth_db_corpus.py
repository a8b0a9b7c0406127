"""OpenSIPS's own SIPssert auth tests (corpus/sipssert/auth) on the real engine: their scripts,
their SQLite subscriber rows, and the exchanges their sipp scenarios perform."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_auth_fakes import (
    DOMAIN,
    challenge_params,
    corpus_net,
    credentials,
    invite,
    only_reply,
    register,
)

RURI = f"sip:testing@{DOMAIN}:5060"


@pytest.mark.parametrize("case", ["01.password-db-www", "05.ha1-db-www"])
def test_register_challenged_then_saved(case: str, tmp_path: Path) -> None:
    net, _ = corpus_net(case, tmp_path)
    first = only_reply(net.deliver(register("z9hG4bKr1")))
    assert first.status == 401 and first.reason == "Unauthorized"
    chal = challenge_params(first.header("WWW-Authenticate") or "")
    assert chal["realm"] == DOMAIN and chal["qop"] == "auth" and "stale" not in chal
    auth = credentials(chal, "REGISTER", f"sip:{DOMAIN}")
    ok = only_reply(net.deliver(register("z9hG4bKr2", auth, cseq=2)))
    assert ok.status == 200
    contacts = ok.contacts()
    assert isinstance(contacts, list) and contacts[0].uri == "sip:testing@127.0.0.1:40000"


@pytest.mark.parametrize("case", ["03.password-db-proxy", "04.password-db-proxy-domain", "07.ha1-db-proxy"])
def test_invite_challenged_then_declined(case: str, tmp_path: Path) -> None:
    net, _ = corpus_net(case, tmp_path)
    first = only_reply(net.deliver(invite("z9hG4bKi1")))
    assert first.status == 407 and first.reason == "Proxy Authentication Required"
    chal = challenge_params(first.header("Proxy-Authenticate") or "")
    auth = credentials(chal, "INVITE", RURI)
    final = only_reply(net.deliver(invite("z9hG4bKi2", auth, cseq=2)))
    assert (final.status, final.reason) == (603, "Decline")


def test_domain_column_is_used_with_use_domain(tmp_path: Path) -> None:
    net, _ = corpus_net("04.password-db-proxy-domain", tmp_path)
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKd1"))).header("Proxy-Authenticate") or "")
    # a username naming another domain selects no row (HA1 computed over the whole username)
    other = credentials(chal, "INVITE", RURI, user="testing@example.org")
    again = only_reply(net.deliver(invite("z9hG4bKd2", other, cseq=2)))
    assert again.status == 407
    chal = challenge_params(again.header("Proxy-Authenticate") or "")
    final = only_reply(net.deliver(invite("z9hG4bKd3", credentials(chal, "INVITE", RURI), cseq=3)))
    assert final.status == 603


def test_au_must_match_the_to_user(tmp_path: Path) -> None:
    net, _ = corpus_net("03.password-db-proxy", tmp_path)
    chal = challenge_params(
        only_reply(net.deliver(invite("z9hG4bKu1", to_user="bob"))).header("Proxy-Authenticate") or ""
    )
    final = only_reply(
        net.deliver(invite("z9hG4bKu2", credentials(chal, "INVITE", RURI), cseq=2, to_user="bob"))
    )
    assert (final.status, final.reason) == (403, "Forbidden auth ID")


def test_wrong_password_is_challenged_again(tmp_path: Path) -> None:
    net, _ = corpus_net("01.password-db-www", tmp_path)
    chal = challenge_params(only_reply(net.deliver(register("z9hG4bKw1"))).header("WWW-Authenticate") or "")
    bad = credentials(chal, "REGISTER", f"sip:{DOMAIN}", password="guess")
    again = only_reply(net.deliver(register("z9hG4bKw2", bad, cseq=2)))
    assert again.status == 401
    assert "stale" not in challenge_params(again.header("WWW-Authenticate") or "")


def test_replayed_nonce_gets_stale_challenge(tmp_path: Path) -> None:
    net, _ = corpus_net("01.password-db-www", tmp_path)
    chal = challenge_params(only_reply(net.deliver(register("z9hG4bKp1"))).header("WWW-Authenticate") or "")
    auth = credentials(chal, "REGISTER", f"sip:{DOMAIN}")
    assert only_reply(net.deliver(register("z9hG4bKp2", auth, cseq=2))).status == 200
    # the same credentials again (a sniffed REGISTER replayed), and with a higher nc
    for branch, cred in (
        ("z9hG4bKp3", auth),
        ("z9hG4bKp4", credentials(chal, "REGISTER", f"sip:{DOMAIN}", nc="00000002")),
    ):
        replay = only_reply(net.deliver(register(branch, cred, cseq=3)))
        assert replay.status == 401
        assert challenge_params(replay.header("WWW-Authenticate") or "")["stale"] == "true"


def test_expired_nonce_gets_stale_challenge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net, _ = corpus_net("03.password-db-proxy", tmp_path)
    chal = challenge_params(only_reply(net.deliver(invite("z9hG4bKe1"))).header("Proxy-Authenticate") or "")
    now = net.engine.wall_time()
    monkeypatch.setattr("pysips.core.engine.time.time", lambda: now + 31)  # nonce_expire is 30 s
    again = only_reply(net.deliver(invite("z9hG4bKe2", credentials(chal, "INVITE", RURI), cseq=2)))
    assert again.status == 407
    fresh = challenge_params(again.header("Proxy-Authenticate") or "")
    assert fresh["stale"] == "true" and fresh["nonce"] != chal["nonce"]
    final = only_reply(net.deliver(invite("z9hG4bKe3", credentials(fresh, "INVITE", RURI), cseq=3)))
    assert final.status == 603


def test_forged_nonce_is_stale(tmp_path: Path) -> None:
    net, _ = corpus_net("01.password-db-www", tmp_path)
    chal = challenge_params(only_reply(net.deliver(register("z9hG4bKf1"))).header("WWW-Authenticate") or "")
    nonce = chal["nonce"]
    chal["nonce"] = nonce[:-2] + ("AA" if nonce[-2:] != "AA" else "BB")
    again = only_reply(net.deliver(register("z9hG4bKf2", credentials(chal, "REGISTER", f"sip:{DOMAIN}"), 2)))
    assert again.status == 401
    assert challenge_params(again.header("WWW-Authenticate") or "")["stale"] == "true"


def test_credentials_of_another_realm_are_ignored(tmp_path: Path) -> None:
    net, _ = corpus_net("01.password-db-www", tmp_path)
    chal = challenge_params(only_reply(net.deliver(register("z9hG4bKo1"))).header("WWW-Authenticate") or "")
    other = credentials(chal, "REGISTER", f"sip:{DOMAIN}", realm="elsewhere.example")
    again = only_reply(net.deliver(register("z9hG4bKo2", other, cseq=2)))
    assert again.status == 401 and "stale" not in challenge_params(again.header("WWW-Authenticate") or "")


def test_missing_digest_parameters_get_400(tmp_path: Path) -> None:
    net, _ = corpus_net("01.password-db-www", tmp_path)
    chal = challenge_params(only_reply(net.deliver(register("z9hG4bKm1"))).header("WWW-Authenticate") or "")
    auth = credentials(chal, "REGISTER", f"sip:{DOMAIN}").replace(', cnonce="0a4f113b"', "")
    sent = net.deliver(register("z9hG4bKm2", auth, cseq=2))
    # www_authorize() answered 400 itself and returned 0 (OpenSIPS then ends the script)
    assert sent[0].msg.status == 400


def test_return_codes_reach_the_script(tmp_path: Path) -> None:
    xlog = 'xlog("[$ci] authentication returned with $var(rc) code\\n");'
    probe_rc = (
        'if ($var(rc) == -4 && $hdr(X-Probe) != NULL) { send_reply(499, "rc $var(rc)"); exit; } '
        'if ($var(rc) < 0 && $var(rc) != -4) { send_reply(499, "rc $var(rc)"); exit; }'
    )
    replace = {xlog: f"{xlog} {probe_rc}"}
    net, _ = corpus_net("01.password-db-www", tmp_path, replace)
    probe = register("z9hG4bKc1").replace("Expires: 5\r\n", "Expires: 5\r\nX-Probe: 1\r\n")
    assert only_reply(net.deliver(probe)).reason == "rc -4"
    chal = challenge_params(only_reply(net.deliver(register("z9hG4bKc2"))).header("WWW-Authenticate") or "")
    wrong = credentials(chal, "REGISTER", f"sip:{DOMAIN}", password="nope")
    assert only_reply(net.deliver(register("z9hG4bKc3", wrong, 2))).reason == "rc -2"
    unknown = credentials(chal, "REGISTER", f"sip:{DOMAIN}", user="nobody")
    chal = challenge_params(only_reply(net.deliver(register("z9hG4bKc4"))).header("WWW-Authenticate") or "")
    unknown = credentials(chal, "REGISTER", f"sip:{DOMAIN}", user="nobody")
    assert only_reply(net.deliver(register("z9hG4bKc5", unknown, 3))).reason == "rc -1"
    assert only_reply(net.deliver(register("z9hG4bKc6", unknown, 4))).reason == "rc -3"  # replayed
