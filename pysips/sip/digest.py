"""Digest computations (RFC 2617, RFC 7616, RFC 8760): algorithms, HA1, HA2 and the response.

An algorithm is known by a small integer (its order is OpenSIPS's: a challenge offers the strongest
first). `UNSPEC` is a credential or challenge without an `algorithm` parameter: MD5 by default.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

UNSPEC = 0
MD5 = 1
MD5_SESS = 2
SHA256 = 3
SHA256_SESS = 4
SHA512_256 = 5
SHA512_256_SESS = 6

NAMES: dict[int, str] = {
    MD5: "MD5", MD5_SESS: "MD5-sess", SHA256: "SHA-256", SHA256_SESS: "SHA-256-sess",
    SHA512_256: "SHA-512-256", SHA512_256_SESS: "SHA-512-256-sess",
}
BY_NAME: dict[str, int] = {name.lower(): alg for alg, name in NAMES.items()}

# qop offered in a challenge / remembered in a nonce (OpenSIPS's qop_type_t order)
QOP_NONE = 0
QOP_AUTH = 1
QOP_AUTH_INT = 2
QOP_AUTH_AUTH_INT = 3  # "auth,auth-int"
QOP_AUTH_INT_AUTH = 4  # "auth-int,auth"

# The challenge's qop value. OpenSIPS 3.6 writes the two combinations the other way round from
# how the script listed them ("auth,auth-int" is offered as qop="auth-int,auth"); clients accept
# either order, and the challenge bytes are kept identical to the reference.
QOP_PARAM: dict[int, str] = {
    QOP_AUTH: "auth", QOP_AUTH_INT: "auth-int", QOP_AUTH_AUTH_INT: "auth-int,auth",
    QOP_AUTH_INT_AUTH: "auth,auth-int",
}

Hasher = Callable[[bytes], str]


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha512_256(data: bytes) -> str:
    return hashlib.new("sha512_256", data).hexdigest()


def _hasher_of(alg: int) -> Hasher:
    if alg in (UNSPEC, MD5, MD5_SESS):
        return _md5
    if alg in (SHA256, SHA256_SESS):
        return _sha256
    return _sha512_256


def _sha512_256_available() -> bool:
    try:
        hashlib.new("sha512_256", b"")
    except ValueError:
        return False
    return True


SUPPORTED: frozenset[int] = frozenset(
    (UNSPEC, MD5, MD5_SESS, SHA256, SHA256_SESS)
    + ((SHA512_256, SHA512_256_SESS) if _sha512_256_available() else ())
)


def hex_len(alg: int) -> int:
    return 32 if alg in (UNSPEC, MD5, MD5_SESS) else 64


def is_sess(alg: int) -> bool:
    return alg in (MD5_SESS, SHA256_SESS, SHA512_256_SESS)


def parse_algorithm(value: str | None) -> int | None:
    """The algorithm of a credential; None when it is one we do not know."""
    if value is None:
        return UNSPEC
    alg = BY_NAME.get(value.strip().lower())
    return alg if alg is not None and alg in SUPPORTED else None


def ha1(alg: int, username: str, realm: str, password: str) -> str:
    """H(username:realm:password), before any -sess step."""
    return _hasher_of(alg)(f"{username}:{realm}:{password}".encode())


def sess_key(alg: int, ha1_hex: str, nonce: str, cnonce: str) -> str:
    """The -sess variants hash HA1 again with both nonces (RFC 7616 3.4.2); others keep HA1."""
    if not is_sess(alg):
        return ha1_hex
    return _hasher_of(alg)(f"{ha1_hex}:{nonce}:{cnonce}".encode())


def ha2(alg: int, method: str, uri: str, body: bytes | None) -> str:
    """H(method:uri), or H(method:uri:H(body)) for qop=auth-int."""
    hasher = _hasher_of(alg)
    if body is None:
        return hasher(f"{method}:{uri}".encode())
    return hasher(f"{method}:{uri}:{hasher(body)}".encode())


def response(alg: int, ha1_hex: str, nonce: str, ha2_hex: str, qop: str | None = None,
             nc: str = "", cnonce: str = "") -> str:
    hasher = _hasher_of(alg)
    if qop:
        return hasher(f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2_hex}".encode())
    return hasher(f"{ha1_hex}:{nonce}:{ha2_hex}".encode())


def same_hex(ours: str, theirs: str) -> bool:
    """Constant-time comparison of two hex digests, case-insensitive."""
    return hmac.compare_digest(ours.lower().encode(), theirs.lower().encode())


# ------------------------------------------------------------------ the client side (uac_auth)


def algorithm_of_challenge(value: str | None) -> int | None:
    """The algorithm a challenge asks for (UNSPEC without the parameter); None when unknown or
    not available here, so that the challenge is passed over."""
    return parse_algorithm(value)


def qop_offer(value: str | None) -> int:
    """The qop values a challenge offers, as QOP_* (the order within the list does not matter to
    a client: it prefers auth)."""
    if not value:
        return QOP_NONE
    names = {item.strip().lower() for item in value.split(",")}
    has_auth = "auth" in names
    has_int = "auth-int" in names
    if has_auth and has_int:
        return QOP_AUTH_AUTH_INT
    if has_auth:
        return QOP_AUTH
    return QOP_AUTH_INT if has_int else QOP_NONE


def stored_ha1(alg: int, password: str) -> str | None:
    """A password written as "0x" + the HA1 in lower-case hex of the algorithm's length is used as
    HA1 (OpenSIPS's uac_auth convention); anything else is a plain password (None)."""
    if len(password) != hex_len(alg) + 2 or not password.startswith("0x"):
        return None
    digits = password[2:]
    if any(c not in "0123456789abcdef" for c in digits):
        return None
    return digits


def client_response(alg: int, username: str, realm: str, password: str, nonce: str, method: str,
                    uri: str, qop: str | None, nc: str, cnonce: str, body: bytes) -> str:
    """The response a client sends to a challenge: `password` plain or "0x"+HA1 (stored_ha1);
    `qop` "auth", "auth-int" or None."""
    key = stored_ha1(alg, password)
    if key is None:
        key = ha1(alg, username, realm, password)
    key = sess_key(alg, key, nonce, cnonce)
    ha2_hex = ha2(alg, method, uri, body if qop == "auth-int" else None)
    return response(alg, key, nonce, ha2_hex, qop, nc, cnonce)


def algorithm_name(alg: int) -> str:
    """What the Authorization carries in `algorithm=` (MD5 when the challenge named none)."""
    return NAMES[MD5 if alg == UNSPEC else alg]
