"""auth: digest challenges, nonces and the shared authorization steps (OpenSIPS module `auth`).

www_challenge()/proxy_challenge() answer 401/407 with one challenge per algorithm (MD5, and the
RFC 8760 SHA-256 / SHA-512-256 with their -sess variants); nonces carry their expiry, qop,
algorithm and a one-time index under an HMAC, so a nonce authorizes one request and a late or
replayed one earns a new challenge with stale=true. pv_www_authorize()/pv_proxy_authorize() take
the password from pseudo-variables; auth_db uses the same steps against the subscriber table.
Return codes are OpenSIPS's: 1 authorized, -1 unknown user, -2 wrong password, -3 stale nonce,
-4 no credentials, -5 error without reply, 0 error with a reply sent.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from pysips.core.services import DIGEST_AUTH, REPLIES, SHARED_STATE
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamResolveContext,
    ParamType,
    check_bool,
)
from pysips.script.pv_base import PVAccessor
from pysips.script.pv_vars import avp_key
from pysips.sip.message import SipMessage

from .challenge import challenge, parse_algorithms, parse_qop
from .credentials import AUTHORIZED_KEY, PROXY, WWW, Credentials, check_response, pre_auth, session_ha1
from .pv_authorize import pv_authorize
from .pvspec import compile_spec
from .rpid import append_rpid_hf, is_rpid_user_e164
from .runtime import AuthRuntime, auth_of, config_from

__all__ = [
    "AuthRuntime", "Credentials", "auth_of", "check_response", "exports", "pre_auth", "session_ha1",
]


def _fix_qop(value: Any, fctx: FixupContext) -> int:
    try:
        return parse_qop(str(value))
    except FixupError as exc:
        raise FixupError(exc.message, fctx.pos) from None


def _fix_algorithms(value: Any, fctx: FixupContext) -> int:
    try:
        return parse_algorithms(str(value))
    except FixupError as exc:
        raise FixupError(exc.message, fctx.pos) from None


def w_www_challenge(ctx: MsgContext, realm: str, qop: int | None = None, algs: int | None = None) -> int:
    return challenge(auth_of(ctx), ctx, realm, qop or 0, algs or parse_algorithms(""), 401)


def w_proxy_challenge(ctx: MsgContext, realm: str, qop: int | None = None, algs: int | None = None) -> int:
    return challenge(auth_of(ctx), ctx, realm, qop or 0, algs or parse_algorithms(""), 407)


def w_pv_www_authorize(ctx: MsgContext, realm: str) -> int:
    return pv_authorize(auth_of(ctx), ctx, realm, WWW)


def w_pv_proxy_authorize(ctx: MsgContext, realm: str) -> int:
    return pv_authorize(auth_of(ctx), ctx, realm, PROXY)


def w_consume_credentials(ctx: MsgContext) -> int:
    """Remove the credentials that authorized this request from what is forwarded."""
    msg = ctx.msg
    marked = ctx.extra.get(AUTHORIZED_KEY)
    if not isinstance(msg, SipMessage) or not isinstance(marked, tuple):
        return -1
    header, occurrence = marked
    return 1 if msg.remove_header_at(header, occurrence) else -1


def w_is_rpid_user_e164(ctx: MsgContext) -> int:
    return is_rpid_user_e164(auth_of(ctx), ctx)


def w_append_rpid_hf(ctx: MsgContext, prefix: str | None = None, suffix: str | None = None) -> int:
    if (prefix is None) != (suffix is None):
        return -1
    return append_rpid_hf(auth_of(ctx), ctx, prefix, suffix)


def _spec(what: str) -> Any:
    def resolve(value: Any, rctx: ParamResolveContext) -> PVAccessor | None:
        text = str(value).strip()
        return compile_spec(text, what, registry=rctx.pv_registry) if text else None

    return resolve


def _rpid_avp(value: Any) -> str | None:
    text = str(value).strip()
    if not text:
        return None
    if not text.startswith("$avp(") and not text.startswith("avp("):
        raise FixupError(f"rpid_avp: expected an AVP such as $avp(rpid), got {text!r}")
    return avp_key(text)


def _check_secret(value: Any) -> str:
    text = str(value)
    if not text:
        raise FixupError("secret: must not be empty")
    return text


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> AuthRuntime:
    config = config_from(params)
    if mctx.get(SHARED_STATE) is not None:
        # With worker processes each one tracks the one-time use of the nonces it issued: its own
        # key (derived from `secret` when one is set) makes a nonce valid in that worker only, so
        # no nonce authorizes a second request in another worker. The answer to a challenge
        # carries the challenged request's Call-ID and reaches the same worker; a client reusing
        # a nonce under another Call-ID is challenged again.
        config.secret = hmac.new(config.secret, os.urandom(16), hashlib.sha256).digest()
    runtime = AuthRuntime(config)
    mctx.provide(DIGEST_AUTH, runtime)
    return runtime


_REALM = ArgSpec(ArgKind.STR, "realm")
_QOP = ArgSpec(ArgKind.STR, "qop", optional=True, fixup=_fix_qop)
_ALGS = ArgSpec(ArgKind.STR, "algorithms", optional=True, fixup=_fix_algorithms)
_REQ = RouteType.REQUEST
_RPID_ROUTES = RouteType.REQUEST | RouteType.BRANCH | RouteType.FAILURE

exports = ModuleExports(
    "auth",
    functions=(
        FunctionExport("www_challenge", w_www_challenge, (_REALM, _QOP, _ALGS), _REQ,
                       doc="answer 401 with WWW-Authenticate digest challenge(s); ends the script"),
        FunctionExport("proxy_challenge", w_proxy_challenge, (_REALM, _QOP, _ALGS), _REQ,
                       doc="answer 407 with Proxy-Authenticate digest challenge(s); ends the script"),
        FunctionExport("pv_www_authorize", w_pv_www_authorize, (_REALM,), _REQ,
                       doc="check Authorization against username_spec/password_spec"),
        FunctionExport("pv_proxy_authorize", w_pv_proxy_authorize, (_REALM,), _REQ,
                       doc="check Proxy-Authorization against username_spec/password_spec"),
        FunctionExport("consume_credentials", w_consume_credentials, (), _REQ,
                       doc="remove the credentials that were authorized"),
        FunctionExport("is_rpid_user_e164", w_is_rpid_user_e164, (), _REQ,
                       doc="the RPID AVP's user is an E.164 number"),
        FunctionExport("append_rpid_hf", w_append_rpid_hf,
                       (ArgSpec(ArgKind.STR, "prefix", optional=True),
                        ArgSpec(ArgKind.STR, "suffix", optional=True)), _RPID_ROUTES,
                       doc="add a Remote-Party-ID header from the RPID AVP"),
    ),
    params=(
        ParamExport("secret", ParamType.STR, None, check=_check_secret,
                    doc="nonce key (random per start when unset; share it between servers)"),
        ParamExport("nonce_expire", ParamType.INT, 30, doc="nonce lifetime in seconds"),
        ParamExport("rpid_prefix", ParamType.STR, ""),
        ParamExport("rpid_suffix", ParamType.STR, ";party=calling;id-type=subscriber;screen=yes"),
        ParamExport("realm_prefix", ParamType.STR, "", doc="prefix stripped from request realms"),
        ParamExport("rpid_avp", ParamType.STR, "$avp(rpid)", check=_rpid_avp),
        ParamExport("username_spec", ParamType.STR, None, resolve=_spec("username_spec"),
                    doc="pseudo-variable holding the username for pv_*_authorize"),
        ParamExport("password_spec", ParamType.STR, None, resolve=_spec("password_spec"),
                    doc="pseudo-variable holding the password (or HA1) for pv_*_authorize"),
        ParamExport("calculate_ha1", ParamType.INT_OR_STR, 0, check=check_bool,
                    doc="password_spec holds a plain password"),
        ParamExport("disable_nonce_check", ParamType.INT_OR_STR, 0, check=check_bool,
                    doc="allow a nonce to be used more than once"),
    ),
    requires=(REPLIES,),
    provides=(DIGEST_AUTH,),
    init=_init,
    doc="digest authentication: challenges, nonces, pv-based authorization",
)
