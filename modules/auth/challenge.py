"""www_challenge() / proxy_challenge(): a 401/407 with one Digest challenge per offered algorithm,
strongest first (RFC 8760), each with a fresh nonce."""

from __future__ import annotations

import logging

from pysips.script.context import MsgContext
from pysips.script.errors import FixupError
from pysips.sip import digest
from pysips.sip.message import SipMessage

from .credentials import PROXY, STALE_KEY, WWW, request_realm
from .nonce import NonceParams
from .reply import send_reply
from .runtime import AuthRuntime

log = logging.getLogger("pysips.modules.auth")

ALG_FLAG_UNSPEC = 1 << digest.UNSPEC


def parse_qop(text: str) -> int:
    """"auth", "auth-int", both in either order; "" (and 2.x's "0") for none, 2.x's "1" for auth."""
    value = text.strip()
    if value in ("", "0"):
        return digest.QOP_NONE
    if value == "1":
        return digest.QOP_AUTH
    qop = digest.QOP_NONE
    for item in value.split(","):
        name = item.strip()
        if name == "auth":
            qop = digest.QOP_AUTH_INT_AUTH if qop == digest.QOP_AUTH_INT else digest.QOP_AUTH
        elif name == "auth-int":
            qop = digest.QOP_AUTH_AUTH_INT if qop == digest.QOP_AUTH else digest.QOP_AUTH_INT
        else:
            raise FixupError(f"bad qop {name!r}: expected auth and/or auth-int")
    return qop


def parse_algorithms(text: str) -> int:
    """A bit mask of algorithms; empty means one challenge without an algorithm parameter."""
    mask = 0
    for item in text.split(","):
        name = item.strip()
        if not name:
            continue
        alg = digest.BY_NAME.get(name.lower())
        if alg is None:
            raise FixupError(f"unknown digest algorithm {name!r}")
        if alg not in digest.SUPPORTED:
            raise FixupError(f"digest algorithm {name!r} is not available in this Python build")
        mask |= 1 << alg
    return mask or ALG_FLAG_UNSPEC


def build_challenges(auth: AuthRuntime, header_name: str, realm: str, qop: int, algmask: int,
                     stale: bool, now: float) -> tuple[str, ...]:
    if algmask >= (1 << digest.MD5_SESS) and qop == digest.QOP_NONE:
        qop = digest.QOP_AUTH  # RFC 8760 algorithms and the -sess variants need a qop
    index = 0 if auth.config.disable_nonce_check else auth.index.reserve()
    expires = now + auth.config.nonce_expire
    qop_part = f', qop="{digest.QOP_PARAM[qop]}"' if qop else ""
    stale_part = ", stale=true" if stale else ""
    out: list[str] = []
    for alg in range(digest.SHA512_256_SESS, digest.UNSPEC - 1, -1):
        if not algmask & (1 << alg) or alg not in digest.SUPPORTED:
            continue
        nonce = auth.codec.make(NonceParams(expires, index, qop, digest.MD5 if alg == digest.UNSPEC else alg))
        alg_part = f", algorithm={digest.NAMES[alg]}" if alg != digest.UNSPEC else ""
        out.append(f'{header_name}: Digest realm="{realm}", nonce="{nonce}"{qop_part}{stale_part}{alg_part}')
    return tuple(out)


def challenge(auth: AuthRuntime, ctx: MsgContext, realm: str, qop: int, algmask: int, code: int) -> int:
    """0 once the challenge is sent (the script ends, as in OpenSIPS), -1 when it could not be."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        return -1
    cred_header = WWW if code == 401 else PROXY
    if not realm:
        found = request_realm(msg, cred_header, auth.config.realm_prefix)
        if found is None:
            log.error("auth: cannot take the realm from the request")
            return 0 if send_reply(ctx, 400, "Bad Request") else -1
        realm = found
    stale_set = ctx.extra.get(STALE_KEY)
    stale = isinstance(stale_set, set) and cred_header in stale_set
    header_name = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
    now = ctx.now
    if not now:
        import time

        now = time.time()
    headers = build_challenges(auth, header_name, realm, qop, algmask, stale, now)
    reason = "Unauthorized" if code == 401 else "Proxy Authentication Required"
    if not send_reply(ctx, code, reason, headers):
        log.error("auth: failed to send the %d challenge", code)
        return -1
    return 0
