"""db_does_uri_exist(), db_is_to_authorized(), db_is_from_authorized(), db_get_auth_id():
checks of SIP users against subscriber-like and uri-like tables. Return codes are OpenSIPS's."""

from __future__ import annotations

import logging

from pysips.db.api import DbError, DbValue
from pysips.db.text import text_or_empty as _text
from pysips.script.context import MsgContext
from pysips.script.pv_base import PVAccessor
from pysips.sip.auth import AuthHeader
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

from .runtime import AuthDb

log = logging.getLogger("pysips.modules.auth_db")

OK = 1
ERR_INTERNAL = -1
ERR_CREDENTIALS = -2
ERR_DBUSE = -3
ERR_USERNOTFOUND = -4
ERR_DBEMPTYRES = -5
ERR_DBQUERY = -8
ERR_SPOOFEDUSER = -9

AUTHORIZED_KEY = "auth.authorized"  # set by the auth module when credentials were checked


def does_uri_exist(adb: AuthDb, ctx: MsgContext, uri_text: str, table: str) -> int:
    uri = parse_uri(uri_text) if uri_text else None
    if not isinstance(uri, SipUri):
        log.debug("db_does_uri_exist: not a SIP URI: %r", uri_text)
        return ERR_INTERNAL
    cfg = adb.config
    where: dict[str, DbValue] = {cfg.user_column: uri.user or ""}
    if cfg.use_domain:
        where[cfg.domain_column] = uri.host
    try:
        rows = adb.db.query(table, (cfg.user_column,), where)
    except DbError as exc:
        log.error("db_does_uri_exist: %s", exc)
        return ERR_USERNOTFOUND
    return OK if rows else ERR_DBEMPTYRES


def _authorized(ctx: MsgContext) -> AuthHeader | None:
    msg = ctx.msg
    marked = ctx.extra.get(AUTHORIZED_KEY)
    if not isinstance(msg, SipMessage) or not isinstance(marked, tuple):
        return None
    header, occurrence = marked
    parsed = msg.auth(header)
    if isinstance(parsed, ParseError) or occurrence >= len(parsed):
        return None
    return parsed[occurrence]


def is_authorized_for(adb: AuthDb, ctx: MsgContext, table: str, which: str) -> int:
    """Is the URI user of To (which="to") or From an alias the authenticated user may use."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return ERR_INTERNAL
    cred = _authorized(ctx)
    if cred is None:
        log.error("db_is_%s_authorized(): call www_authorize() or proxy_authorize() first", which)
        return ERR_CREDENTIALS
    header = msg.to_header() if which == "to" else msg.from_header()
    if isinstance(header, ParseError):
        return ERR_INTERNAL
    uri = header.parsed_uri()
    if not isinstance(uri, SipUri):
        return ERR_INTERNAL
    if not uri.user:
        return ERR_USERNOTFOUND
    cfg = adb.config
    user = (cred.username or "").partition("@")[0]
    where: dict[str, DbValue] = {
        cfg.uri_user_column: user,
        cfg.uri_domain_column: cred.realm or "",
        cfg.uri_uriuser_column: uri.user,
    }
    try:
        rows = adb.db.query(table, (cfg.uri_user_column,), where)
    except DbError as exc:
        log.error("db_is_%s_authorized: %s", which, exc)
        return ERR_DBQUERY
    return OK if rows else ERR_SPOOFEDUSER


def get_auth_id(adb: AuthDb, ctx: MsgContext, table: str, uri_text: str,
                auth_user: PVAccessor, auth_realm: PVAccessor) -> int:
    uri = parse_uri(uri_text) if uri_text else None
    if not isinstance(uri, SipUri) or not uri.user:
        log.error("db_get_auth_id: expected a URI with a user part, got %r", uri_text)
        return ERR_INTERNAL
    cfg = adb.config
    where: dict[str, DbValue] = {cfg.uri_uriuser_column: uri.user}
    if cfg.use_domain:
        where[cfg.uri_domain_column] = uri.host
    try:
        rows = adb.db.query(table, (cfg.uri_user_column, cfg.uri_domain_column), where)
    except DbError as exc:
        log.error("db_get_auth_id: %s", exc)
        return ERR_DBQUERY
    if not rows:
        return ERR_USERNOTFOUND
    if len(rows) > 1:
        log.warning("db_get_auth_id: several rows match %s, using the first", uri_text)
    auth_user.set(ctx, _text(rows[0][0]))
    auth_realm.set(ctx, _text(rows[0][1]))
    return OK
