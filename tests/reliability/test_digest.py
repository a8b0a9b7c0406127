"""Digest attacks against auth/auth_db (SQLite), each sent to OpenSIPS 3.6.8 and to pysips running
the same script (cfg/digest.cfg) over real UDP sockets: both must give the same answer.

The script puts www_authorize()'s result in X-Auth-Ret (OpenSIPS's codes: 1 authorized,
-1 user unknown, -2 invalid password, -3 stale nonce, -4 no credentials, -5 error) and challenges
on every failure; a stale nonce makes the challenge carry stale=true.
"""

from __future__ import annotations

import hashlib
import re
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pysips.db.schema import SUBSCRIBER, VERSION
from tests.differential.reference import SERVER_NAMES, running

pytestmark = pytest.mark.integration

SCRIPT = (Path(__file__).resolve().parent / "cfg" / "digest.cfg").read_text()
REALM = "pysips.test"
USERS = {"alice": "s3cret", "bob": "hunter2"}


def make_db(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(VERSION.ddl())
        db.execute(SUBSCRIBER.ddl())
        db.execute("INSERT INTO version (table_name, table_version) VALUES ('subscriber', 8)")
        for user, password in USERS.items():
            db.execute("INSERT INTO subscriber (username, domain, password) VALUES (?, ?, ?)",
                       (user, REALM, password))


@dataclass
class Answer:
    status: int
    ret: int | None
    challenges: list[dict[str, str]] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return any(c.get("stale", "").lower() == "true" for c in self.challenges)


def parse_challenge(value: str) -> dict[str, str]:
    assert value.startswith("Digest ")
    return {k.lower(): v1 if v1 else v2 for k, v1, v2 in
            re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]*))', value[7:])}


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(3)
        self.cseq = 0

    def send(self, ruri_user: str, auth: str = "", body: bytes = b"", user: str = "alice") -> Answer:
        self.cseq += 1
        me = self.sock.getsockname()[1]
        tag = uuid.uuid4().hex[:10]
        ruri = f"sip:{ruri_user}@127.0.0.1:{self.port}"
        msg = (f"MESSAGE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{tag}\r\n"
               f"From: <sip:{user}@{REALM}>;tag={tag}\r\nTo: <{ruri}>\r\nCall-ID: {tag}\r\n"
               f"CSeq: {self.cseq} MESSAGE\r\nMax-Forwards: 70\r\n"
               + (f"Authorization: {auth}\r\n" if auth else "")
               + f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        self.sock.sendto(msg, ("127.0.0.1", self.port))
        data = self.sock.recv(65535).decode()
        head = data.split("\r\n\r\n")[0].split("\r\n")
        status = int(head[0].split(" ")[1])
        ret = None
        challenges = []
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "x-auth-ret":
                ret = int(value.strip())
            elif name.lower() == "www-authenticate":
                challenges.append(parse_challenge(value.strip()))
        return Answer(status, ret, challenges)

    def challenge(self, ruri_user: str) -> dict[str, str]:
        answer = self.send(ruri_user)
        assert answer.status == 401 and answer.challenges, answer
        return answer.challenges[0]


def _h(alg: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return (hashlib.sha256 if alg == "SHA-256" else hashlib.md5)(data).hexdigest()


def credentials(ch: dict[str, str], ruri_user: str, port: int, *, user: str = "alice", password: str = "",
                alg: str | None = None, uri: str | None = None, nc: str = "00000001", body: bytes = b"",
                realm: str | None = None, nonce: str | None = None) -> str:
    """An Authorization header value computed as a client would (RFC 7616), with knobs to lie."""
    alg = alg or ch.get("algorithm", "MD5")
    realm = realm if realm is not None else ch["realm"]
    nonce = nonce or ch["nonce"]
    uri = uri or f"sip:{ruri_user}@127.0.0.1:{port}"
    qop = ch.get("qop", "").split(",")[0].strip()
    ha1 = _h(alg, f"{user}:{realm}:{password or USERS.get(user, 'x')}")
    ha2 = _h(alg, f"MESSAGE:{uri}" + (f":{_h(alg, body)}" if qop == "auth-int" else ""))
    cnonce = uuid.uuid4().hex[:16]
    if qop:
        resp = _h(alg, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
        extra = f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
    else:
        resp = _h(alg, f"{ha1}:{nonce}:{ha2}")
        extra = ""
    algp = f", algorithm={alg}" if "algorithm" in ch or alg != "MD5" else ""
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}"{algp}{extra}')


@pytest.fixture(scope="module", params=SERVER_NAMES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    base = tmp_path_factory.mktemp(f"digest-{request.param}")
    db = base / "auth.sqlite"
    make_db(db)
    with running(request.param, SCRIPT, base / "server", values={"DB": db}, header_params=False) as proxy:
        warm_up(proxy.port)
        yield proxy.port


def warm_up(port: int) -> None:
    """Challenges over nonce_expire + 2 seconds. OpenSIPS 3.6 (modules/auth/index.c) skips its
    used-nonce check while the slot of the current second in its ring of nonce_expire + 1 slots has
    never been filled: replays pass on a fresh or quiet server. Once every slot was filled, the
    check holds. pysips has no such window; the warm-up lets both be compared on replays."""
    client = Client(port)
    try:
        deadline = time.monotonic() + 4.5
        while time.monotonic() < deadline:
            client.challenge("auth")
            time.sleep(0.25)
    finally:
        client.sock.close()


@pytest.fixture()
def client(server: int) -> Iterator[Client]:
    c = Client(server)
    yield c
    c.sock.close()


def test_honest_client_is_authorized(client: Client) -> None:
    for kind in ("auth", "noqop", "sha", "int"):
        ch = client.challenge(kind)
        answer = client.send(kind, credentials(ch, kind, client.port, body=b"hi"), body=b"hi")
        assert (answer.status, answer.ret) == (200, 1), (kind, answer)


@pytest.mark.parametrize("kind", ["auth", "noqop"])
def test_replayed_nonce_is_stale(client: Client, kind: str) -> None:
    ch = client.challenge(kind)
    auth = credentials(ch, kind, client.port)
    assert client.send(kind, auth).ret == 1
    replay = client.send(kind, auth)  # the same header again: a captured request replayed
    assert (replay.status, replay.ret, replay.stale) == (401, -3, True), replay


def test_nc_reuse_and_next_nc_are_both_stale(client: Client) -> None:
    """A nonce authorizes one request: neither the same nc nor the next one gets a second."""
    ch = client.challenge("auth")
    assert client.send("auth", credentials(ch, "auth", client.port, nc="00000001")).ret == 1
    same_nc = client.send("auth", credentials(ch, "auth", client.port, nc="00000001"))
    next_nc = client.send("auth", credentials(ch, "auth", client.port, nc="00000002"))
    assert (same_nc.ret, same_nc.stale) == (-3, True)
    assert (next_nc.ret, next_nc.stale) == (-3, True)


def test_expired_nonce_answers_stale_true(client: Client) -> None:
    ch = client.challenge("auth")
    time.sleep(2.6)  # nonce_expire is 2 s in the script
    answer = client.send("auth", credentials(ch, "auth", client.port))
    assert (answer.status, answer.ret, answer.stale) == (401, -3, True), answer
    assert answer.challenges[0]["nonce"] != ch["nonce"]


def test_credentials_for_another_realm_are_no_credentials(client: Client) -> None:
    ch = client.challenge("auth")
    answer = client.send("auth", credentials(ch, "auth", client.port, realm="other.example"))
    assert (answer.status, answer.ret, answer.stale) == (401, -4, False), answer


def test_nonce_we_never_issued_is_stale(client: Client) -> None:
    ch = client.challenge("auth")
    forged = ch["nonce"][:-4] + ("AAAA" if not ch["nonce"].endswith("AAAA") else "BBBB")
    answer = client.send("auth", credentials(ch, "auth", client.port, nonce=forged))
    assert (answer.ret, answer.stale) == (-3, True), answer


def test_md5_response_to_a_sha256_challenge_is_refused(client: Client) -> None:
    ch = client.challenge("sha")
    assert ch["algorithm"] == "SHA-256"
    answer = client.send("sha", credentials(ch, "sha", client.port, alg="MD5"))
    # the nonce was issued for SHA-256: used with MD5 it is stale (a downgrade gets no answer)
    assert (answer.status, answer.ret, answer.stale) == (401, -3, True), answer
    assert answer.challenges[0]["algorithm"] == "SHA-256"


def test_tampered_auth_int_body_is_invalid_password(client: Client) -> None:
    ch = client.challenge("int")
    assert ch["qop"] == "auth-int"
    auth = credentials(ch, "int", client.port, body=b"pay 10 to bob")
    answer = client.send("int", auth, body=b"pay 99 to eve")
    assert (answer.status, answer.ret, answer.stale) == (401, -2, False), answer


def test_uri_parameter_differs_from_ruri(client: Client) -> None:
    """Neither OpenSIPS 3.6 nor pysips compares the digest uri with the R-URI: a fresh credential
    with another uri is authorized; the same credential sent again (a captured one re-aimed at
    another R-URI) is refused because its nonce was used."""
    ch = client.challenge("auth")
    auth = credentials(ch, "auth", client.port, uri="sip:elsewhere@example.org")
    assert client.send("auth", auth).ret == 1
    reaimed = client.send("other", auth)
    assert (reaimed.ret, reaimed.stale) == (-3, True)


def test_wrong_password_is_invalid_password(client: Client) -> None:
    ch = client.challenge("auth")
    answer = client.send("auth", credentials(ch, "auth", client.port, password="guess"))
    assert (answer.status, answer.ret, answer.stale) == (401, -2, False), answer


@pytest.mark.parametrize("username", ["alice' OR '1'='1", "x\" OR 1=1 --",
                                      "alice'; DROP TABLE subscriber; --", "%", "a\\'b"])
def test_sql_metacharacters_in_username_are_unknown_users(client: Client, username: str) -> None:
    ch = client.challenge("auth")
    auth = credentials(ch, "auth", client.port, user=username.replace('"', '\\"'), password="s3cret")
    answer = client.send("auth", auth)
    assert (answer.status, answer.ret) == (401, -1), answer
    # the table is intact and alice still gets in
    ch = client.challenge("auth")
    assert client.send("auth", credentials(ch, "auth", client.port)).ret == 1


def test_pysips_refuses_a_replay_right_after_start(tmp_path: Path) -> None:
    """No warm-up here: pysips's one-time nonce check holds from the first challenge on (where
    OpenSIPS 3.6 lets replays through until its index ring has been filled once)."""
    db = tmp_path / "auth.sqlite"
    make_db(db)
    with running("pysips", SCRIPT, tmp_path / "server", values={"DB": db}, header_params=False) as proxy:
        port = proxy.port
        client = Client(port)
        try:
            ch = client.challenge("auth")
            auth = credentials(ch, "auth", port)
            assert client.send("auth", auth).ret == 1
            replay = client.send("auth", auth)
        finally:
            client.sock.close()
    assert (replay.ret, replay.stale) == (-3, True), replay
