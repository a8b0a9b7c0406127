"""The steps every authorize function shares (OpenSIPS auth's pre_auth and check_response):
find the credentials for the realm, check them and their nonce, then compare the response."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pysips.script.context import MsgContext
from pysips.sip import digest
from pysips.sip.auth import AuthHeader
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri

from .nonce import is_stale
from .reply import send_reply
from .results import AUTHORIZED, DO_AUTHORIZATION, ERROR, NO_CREDENTIALS, STALE_NONCE

if TYPE_CHECKING:
    from .runtime import AuthRuntime

log = logging.getLogger("pysips.modules.auth")

WWW = "authorization"
PROXY = "proxy-authorization"

AUTHORIZED_KEY = "auth.authorized"  # ctx.extra: (header name, occurrence) of the credentials used
STALE_KEY = "auth.stale"  # ctx.extra: set of header names whose credentials had a stale nonce

_QOP_OF = {"auth": digest.QOP_AUTH, "auth-int": digest.QOP_AUTH_INT}
_QOP_OTHER = -1


@dataclass(slots=True)
class Credentials:
    header: AuthHeader
    alg: int
    username: str  # as sent (user or user@domain)
    user: str
    domain: str  # the part after '@' in the username, "" if none
    occurrence: int

    def param(self, name: str) -> str:
        return self.header.params.get(name) or ""

    @property
    def qop(self) -> str:
        return self.param("qop")

    @property
    def family(self) -> str:
        """"md5", "sha256" or "sha512t256": which stored HA1 column fits the algorithm."""
        if self.alg in (digest.SHA256, digest.SHA256_SESS):
            return "sha256"
        if self.alg in (digest.SHA512_256, digest.SHA512_256_SESS):
            return "sha512t256"
        return "md5"


def request_realm(msg: SipMessage, header: str, realm_prefix: str) -> str | None:
    """The realm of an empty realm argument: the To host of a REGISTER answered with 401,
    else the From host; `realm_prefix` stripped."""
    use_to = msg.method == "REGISTER" and header == WWW
    parsed = msg.to_header() if use_to else msg.from_header()
    if isinstance(parsed, ParseError):
        return None
    uri = parsed.parsed_uri()
    if not isinstance(uri, SipUri) or not uri.host:
        return None
    host = uri.host
    if realm_prefix and host.startswith(realm_prefix):
        host = host[len(realm_prefix) :]
    return host


def _find(msg: SipMessage, header: str, realm: str) -> Credentials | ParseError | None:
    parsed = msg.auth(header)
    if isinstance(parsed, ParseError):
        return parsed
    wanted = realm.lower()
    for occurrence, cred in enumerate(parsed):
        if not cred.is_digest or (cred.realm or "").lower() != wanted:
            continue
        alg = digest.parse_algorithm(cred.get("algorithm"))
        if alg is None:
            continue
        username = cred.username or ""
        user, at, domain = username.partition("@")
        return Credentials(cred, alg, username, user, domain if at else "", occurrence)
    return None


def _well_formed(cred: Credentials) -> bool:
    header = cred.header
    for name in ("username", "nonce", "uri", "response"):
        if not header.get(name):
            return False
    if header.get("realm") is None:
        return False
    return not (cred.qop and (not header.get("nc") or not header.get("cnonce")))


def pre_auth(
    auth: AuthRuntime, ctx: MsgContext, realm: str, header: str
) -> tuple[int, Credentials | None, str]:
    """(result, credentials, realm): DO_AUTHORIZATION with the credentials to check, or the final
    result (AUTHORIZED for ACK/CANCEL, NO_CREDENTIALS, STALE_NONCE, ERROR after a reply)."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        return ERROR, None, realm
    if msg.method in ("ACK", "CANCEL"):
        # neither can be challenged: ACK has no reply, CANCEL must keep the INVITE's CSeq
        return AUTHORIZED, None, realm
    if not realm:
        found_realm = request_realm(msg, header, auth.config.realm_prefix)
        if found_realm is None:
            log.error("auth: cannot take the realm from the request")
            send_reply(ctx, 400, "Bad Request")
            return ERROR, None, realm
        realm = found_realm
    found = _find(msg, header, realm)
    if isinstance(found, ParseError):
        log.error("auth: bad credentials: %s", found.reason)
        send_reply(ctx, 400, "Bad Request")
        return ERROR, None, realm
    if found is None:
        return NO_CREDENTIALS, None, realm
    if not _well_formed(found):
        log.debug("auth: credentials lack mandatory parameters")
        send_reply(ctx, 400, "Bad Request")
        return ERROR, None, realm
    ctx.extra[AUTHORIZED_KEY] = (header, found.occurrence)
    if not _nonce_ok(auth, ctx, found):
        stale = ctx.extra.get(STALE_KEY)
        if not isinstance(stale, set):
            stale = ctx.extra[STALE_KEY] = set()
        stale.add(header)
        return STALE_NONCE, found, realm
    return DO_AUTHORIZATION, found, realm


def _nonce_ok(auth: AuthRuntime, ctx: MsgContext, cred: Credentials) -> bool:
    params = auth.codec.open(cred.param("nonce"))
    if params is None:
        return False
    if params.alg != (digest.MD5 if cred.alg == digest.UNSPEC else cred.alg):
        return False
    qop = _QOP_OF.get(cred.qop.lower(), _QOP_OTHER) if cred.qop else digest.QOP_NONE
    if qop == digest.QOP_NONE and params.qop != digest.QOP_NONE:
        qop = digest.QOP_AUTH  # RFC 8760: a missing qop means "auth"
    if params.qop != qop and not (
        params.qop in (digest.QOP_AUTH_AUTH_INT, digest.QOP_AUTH_INT_AUTH)
        and qop in (digest.QOP_AUTH, digest.QOP_AUTH_INT)
    ):
        return False
    now = _now(ctx)
    if is_stale(params, now, auth.config.nonce_expire):
        return False
    if auth.config.disable_nonce_check:
        return params.index == 0
    return auth.index.use(params.index, params.expires, now)


def _now(ctx: MsgContext) -> float:
    if ctx.now:
        return ctx.now
    import time

    return time.time()


def session_ha1(cred: Credentials, value: str, hashed: bool, realm: str) -> str | None:
    """HA1 for the credential's algorithm from a password (hashed=False) or a stored HA1;
    None when a stored HA1 has the wrong length for the algorithm."""
    if hashed:
        if len(value) != digest.hex_len(cred.alg):
            log.error("auth: stored HA1 is %d characters, %s needs %d", len(value),
                      digest.NAMES.get(cred.alg, "MD5"), digest.hex_len(cred.alg))
            return None
        base = value
    else:
        base = digest.ha1(cred.alg, cred.username, realm, value)
    return digest.sess_key(cred.alg, base, cred.param("nonce"), cred.param("cnonce"))


def check_response(cred: Credentials, method: str, body: bytes, ha1_hex: str) -> bool:
    received = cred.param("response")
    if len(received) != digest.hex_len(cred.alg):
        return False
    auth_int = cred.qop.lower() == "auth-int"
    ha2 = digest.ha2(cred.alg, method, cred.param("uri"), body if auth_int else None)
    ours = digest.response(cred.alg, ha1_hex, cred.param("nonce"), ha2, cred.qop or None,
                           cred.param("nc"), cred.param("cnonce"))
    return digest.same_hex(ours, received)
