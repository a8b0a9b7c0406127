"""Answering a digest challenge (RFC 2617, RFC 7616, RFC 8760) as a client: picking the challenge
of a 401/407 we can answer and writing the Authorization / Proxy-Authorization header for it.

uac's uac_auth() and uac_registrant use it; the hashing is pysips.sip.digest's (the server side
checks responses with the same functions)."""

from __future__ import annotations

from dataclasses import dataclass

from pysips.sip import digest
from pysips.sip.auth import AuthHeader, parse_auth
from pysips.sip.core_hash import core_hash
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage

# the nonce count of our single answer to a nonce (a new challenge brings a new nonce)
NONCE_COUNT = "00000001"


@dataclass(frozen=True, slots=True)
class Challenge:
    """One Digest challenge of a WWW-Authenticate / Proxy-Authenticate header."""

    code: int  # 401 or 407: which header answers it
    algorithm: int  # digest.UNSPEC when the challenge names none
    realm: str
    nonce: str
    opaque: str
    qop: int  # digest.QOP_*: what the challenge offers
    header: AuthHeader

    @property
    def qop_text(self) -> str:
        """The challenge's qop parameter as written ("" without one)."""
        return self.header.get("qop") or ""

    @property
    def chosen_qop(self) -> str | None:
        """What a client answers with: auth when offered, else auth-int, else none."""
        if self.qop in (digest.QOP_AUTH, digest.QOP_AUTH_AUTH_INT, digest.QOP_AUTH_INT_AUTH):
            return "auth"
        return "auth-int" if self.qop == digest.QOP_AUTH_INT else None


def challenge_header(code: int) -> str | None:
    if code == 401:
        return "WWW-Authenticate"
    if code == 407:
        return "Proxy-Authenticate"
    return None


def _challenge(code: int, header: AuthHeader) -> Challenge | None:
    if not header.is_digest:
        return None
    alg = digest.algorithm_of_challenge(header.get("algorithm"))
    if alg is None:
        return None
    return Challenge(code, alg, header.realm or "", header.nonce or "", header.get("opaque") or "",
                     digest.qop_offer(header.get("qop")), header)


def first_challenge(reply: SipMessage, algmask: int = 0) -> Challenge | None:
    """The first Digest challenge of a 401/407 whose algorithm we have and, when `algmask` is not
    0, is one of its bits (1 << digest.MD5 ...; a challenge without algorithm counts as MD5)."""
    name = challenge_header(reply.status)
    if name is None:
        return None
    for value in reply.headers(name):
        parsed = parse_auth(value)
        if isinstance(parsed, ParseError):
            continue
        found = _challenge(reply.status, parsed)
        if found is None:
            continue
        alg = digest.MD5 if found.algorithm == digest.UNSPEC else found.algorithm
        if algmask and not algmask & (1 << alg):
            continue
        return found
    return None


def any_challenge(reply: SipMessage) -> Challenge | None:
    """The first challenge of the reply whatever its algorithm ($challenge.* reads it)."""
    name = challenge_header(reply.status)
    if name is None:
        return None
    for value in reply.headers(name):
        parsed = parse_auth(value)
        if isinstance(parsed, ParseError) or not parsed.is_digest:
            continue
        alg = digest.algorithm_of_challenge(parsed.get("algorithm"))
        return Challenge(reply.status, alg if alg is not None else digest.UNSPEC,
                         parsed.realm or "", parsed.nonce or "", parsed.get("opaque") or "",
                         digest.qop_offer(parsed.get("qop")), parsed)
    return None


def authorization(challenge: Challenge, username: str, password: str, method: str, uri: str,
                  body: bytes) -> str:
    """The whole header line answering `challenge` for a request `method uri` with `body`;
    `password` plain or "0x" + HA1. Parameters in OpenSIPS's order, so a peer sees the same bytes."""
    alg = challenge.algorithm
    qop = challenge.chosen_qop
    cnonce = str(core_hash(challenge.nonce.encode("utf-8", "surrogateescape"))) if qop else ""
    nc = NONCE_COUNT if qop else ""
    answer = digest.client_response(alg, username, challenge.realm, password, challenge.nonce, method,
                                    uri, qop, nc, cnonce, body)
    name = "Authorization" if challenge.code == 401 else "Proxy-Authorization"
    parts = [f'{name}: Digest username="{username}"', f'realm="{challenge.realm}"',
             f'nonce="{challenge.nonce}"', f'uri="{uri}"']
    if challenge.opaque:
        parts.append(f'opaque="{challenge.opaque}"')
    text = ", ".join(parts)
    if qop:
        text += f', qop={qop}, nc={nc}, cnonce="{cnonce}"'
    return text + f', response="{answer}", algorithm={digest.algorithm_name(alg)}'
