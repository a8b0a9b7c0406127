"""Shared helpers for the auth / auth_db tests (no test functions here): a digest client written
from RFC 2617 / RFC 7616 with hashlib, and the SIPssert auth scripts loaded on the real engine."""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

from core_support import Net, Sent, script_net

from pysips.sip.message import SipMessage

CORPUS = Path("/work/shared/corpus/sipssert/auth")
USER = "testing"
PASSWORD = "T3st|n6"
DOMAIN = "192.168.52.1"  # the SIPssert proxy address: the realm of the stored HA1 values

_HASH = {
    "md5": hashlib.md5,
    "sha-256": hashlib.sha256,
    "sha-512-256": lambda data: hashlib.new("sha512_256", data),
}


def h(alg: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    base = alg.lower().removesuffix("-sess")
    return str(_HASH[base](data).hexdigest())


def challenge_params(value: str) -> dict[str, str]:
    """The parameters of one WWW-/Proxy-Authenticate value ("Digest realm=..., ...")."""
    assert value.startswith("Digest "), value
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', value[7:])
    }


def credentials(
    chal: dict[str, str],
    method: str,
    uri: str,
    *,
    user: str = USER,
    password: str = PASSWORD,
    qop: str | None = "auth",
    nc: str = "00000001",
    cnonce: str = "0a4f113b",
    body: bytes = b"",
    realm: str | None = None,
    response: str | None = None,
    ha1: str | None = None,
) -> str:
    """The Authorization value a UA computes for a challenge (RFC 2617 3.2.2, RFC 7616 3.4)."""
    alg = chal.get("algorithm", "MD5")
    realm = chal["realm"] if realm is None else realm
    nonce = chal["nonce"]
    key = ha1 or h(alg, f"{user}:{realm}:{password}")
    if alg.lower().endswith("-sess"):
        key = h(alg, f"{key}:{nonce}:{cnonce}")
    a2 = f"{method}:{uri}" if qop != "auth-int" else f"{method}:{uri}:{h(alg, body)}"
    if qop:
        resp = h(alg, f"{key}:{nonce}:{nc}:{cnonce}:{qop}:{h(alg, a2)}")
    else:
        resp = h(alg, f"{key}:{nonce}:{h(alg, a2)}")
    parts = [
        f'Digest username="{user}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f'response="{response or resp}"',
    ]
    if "algorithm" in chal:
        parts.append(f"algorithm={alg}")
    if qop:
        parts += [f"qop={qop}", f"nc={nc}", f'cnonce="{cnonce}"']
    return ", ".join(parts)


def register(branch: str, auth: str | None = None, cseq: int = 1, user: str = USER) -> str:
    extra = f"Authorization: {auth}\r\n" if auth else ""
    return (
        f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch={branch}\r\n"
        f"To: <sip:{user}@{DOMAIN}>\r\n"
        f"From: <sip:{user}@{DOMAIN}>;tag=1\r\n"
        f"Contact: <sip:{user}@127.0.0.1:40000>;transport=udp\r\n"
        "Expires: 5\r\n"
        f"Call-ID: reg-{user}-1\r\n"
        "Max-Forwards: 70\r\n"
        f"CSeq: {cseq} REGISTER\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    )


SDP = (
    "v=0\r\no=user1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
)


def invite(
    branch: str,
    auth: str | None = None,
    cseq: int = 1,
    method: str = "INVITE",
    to_user: str = USER,
    header: str = "Proxy-Authorization",
    body: str = SDP,
) -> str:
    extra = f"{header}: {auth}\r\n" if auth else ""
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return (
        f"{method} sip:{to_user}@{DOMAIN}:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:40000;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{USER}@{DOMAIN}>;tag=77\r\n"
        f"To: <sip:{to_user}@{DOMAIN}:5060>\r\n"
        "Call-ID: call-auth-1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:127.0.0.1:40000>\r\n"
        f"{extra}{ctype}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )


def corpus_net(case: str, tmp_path: Path, replace: dict[str, str] | None = None) -> tuple[Net, Any]:
    """A SIPssert auth test's opensips.cfg on the engine, over a copy of its opensips.db."""
    folder = CORPUS / case
    db = tmp_path / "opensips.db"
    shutil.copy(folder / "opensips.db", db)
    text = (folder / "opensips.cfg").read_text()
    text = text.replace("sqlite:///var/lib/opensips/db_sqlite/opensips.db", f"sqlite://{db}")
    # the MI over HTTP would bind a real port; it plays no part in these tests
    text = text.replace('loadmodule "httpd.so"', "").replace('loadmodule "mi_http.so"', "")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return script_net(text)


def only_reply(sent: list[Sent]) -> SipMessage:
    replies = [s.msg for s in sent if s.data.startswith(b"SIP/2.0")]
    finals = [r for r in replies if r.status >= 200]
    assert len(finals) == 1, [r.status for r in replies]
    return finals[0]
