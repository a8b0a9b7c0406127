"""pv_www_authorize() / pv_proxy_authorize(): the password (or HA1) comes from the
pseudo-variables named by the username_spec and password_spec parameters."""

from __future__ import annotations

import logging

from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

from .credentials import Credentials, check_response, pre_auth, session_ha1
from .reply import send_reply
from .results import DO_AUTHORIZATION, ERROR, INVALID_PASSWORD, USER_UNKNOWN
from .runtime import AuthRuntime

log = logging.getLogger("pysips.modules.auth")


def _password(auth: AuthRuntime, ctx: MsgContext, cred: Credentials) -> str | int | None:
    """The password/HA1 text, USER_UNKNOWN when the username differs, None on error."""
    cfg = auth.config
    if cfg.username_spec is None or cfg.password_spec is None:
        log.error("pv_*_authorize(): set the auth username_spec and password_spec parameters first")
        return None
    user = cfg.username_spec.get(ctx)
    if not isinstance(user, str) or not user:
        return None
    if user.lower() != cred.username.lower():
        return USER_UNKNOWN
    password = cfg.password_spec.get(ctx)
    if not isinstance(password, str) or not password:
        return None
    return password


def pv_authorize(auth: AuthRuntime, ctx: MsgContext, realm: str, header: str) -> int:
    result, cred, realm = pre_auth(auth, ctx, realm, header)
    if result != DO_AUTHORIZATION or cred is None:
        return result
    msg = ctx.msg
    assert isinstance(msg, SipMessage)
    password = _password(auth, ctx, cred)
    if password is None:
        send_reply(ctx, 500, "Server Internal Error")
        return ERROR
    if isinstance(password, int):
        return password
    ha1 = session_ha1(cred, password, not auth.config.calculate_ha1, realm)
    if ha1 is None:
        send_reply(ctx, 500, "Server Internal Error")
        return ERROR
    return 1 if check_response(cred, msg.method, msg.body, ha1) else INVALID_PASSWORD
