"""www_authorize() / proxy_authorize() against a subscriber-like table."""

from __future__ import annotations

import logging

from pysips.db.api import DbError, DbValue
from pysips.db.text import text_or_empty as _text
from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

from .api import AUTHORIZED, DO_AUTHORIZATION, ERROR, INVALID_PASSWORD, USER_UNKNOWN, AuthApi, CredentialsView
from .runtime import AuthDb

log = logging.getLogger("pysips.modules.auth_db")


def _password_column(adb: AuthDb, cred: CredentialsView) -> str:
    cfg = adb.config
    if cfg.calculate_ha1:
        return cfg.password_column
    family = cred.family
    if family == "sha256":
        return cfg.hash_column_sha256
    if family == "sha512t256":
        return cfg.hash_column_sha512t256
    if cred.domain and cfg.password_column_2:
        return cfg.password_column_2
    return cfg.password_column


def _load_credentials(adb: AuthDb, ctx: MsgContext, values: tuple[DbValue, ...]) -> None:
    for (key, _column), value in zip(adb.config.credentials, values, strict=False):
        if value is None or value == "":
            continue
        item: str | int = value if isinstance(value, int) else (
            value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
        ctx.avps.setdefault(key, []).insert(0, item)


def authorize(adb: AuthDb, auth: AuthApi, ctx: MsgContext, realm: str, table: str, header: str) -> int:
    result, cred, realm = auth.pre_auth(ctx, realm, header)
    if result != DO_AUTHORIZATION or cred is None:
        return result
    msg = ctx.msg
    assert isinstance(msg, SipMessage)
    cfg = adb.config
    where: dict[str, DbValue] = {cfg.user_column: cred.user}
    if cfg.use_domain:
        where[cfg.domain_column] = cred.domain or realm
    columns = [_password_column(adb, cred), *(column for _key, column in cfg.credentials)]
    try:
        rows = adb.db.query(table, columns, where)
    except DbError as exc:
        log.error("auth_db: %s", exc)
        auth.reply(ctx, 500, "Server Internal Error")
        return ERROR
    if not rows:
        return USER_UNKNOWN
    stored = rows[0][0]
    text = _text(stored)
    ha1 = auth.session_ha1(cred, text, not cfg.calculate_ha1, realm)
    if ha1 is None:
        auth.reply(ctx, 500, "Server Internal Error")
        return ERROR
    if not auth.check_response(cred, msg.method, msg.body, ha1):
        return INVALID_PASSWORD
    _load_credentials(adb, ctx, rows[0][1:])
    return AUTHORIZED
