"""The database checks of the 2.x `uri` module: db_check_to(), db_check_from(),
db_does_uri_exist(), db_get_auth_id(uri, auth_user, auth_realm).

Settings are the module's own: `db_url`, `db_table` (subscriber, or the uri table with
`use_uri_table=1`), `user_column`, `domain_column`, `uriuser_column`, `use_domain`.

- db_check_to()/db_check_from(): the To/From URI user may be used by the user authenticated by
  www_authorize()/proxy_authorize(): with use_uri_table, a row (digest user, realm, URI user) of
  db_table must exist; without, the URI user must equal the digest user (case-insensitively).
- db_does_uri_exist(): the R-URI user (and host with use_domain) is in db_table (its uri_user
  column with use_uri_table).
- db_get_auth_id(): looks a URI up in the uri table and returns the digest user and realm.
Return codes are those of OpenSIPS 2.x.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pysips.db.api import Database, DbError, DbValue, connect
from pysips.db.text import text_or_empty as _text
from pysips.script.context import MsgContext
from pysips.script.pv_base import PVAccessor
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

log = logging.getLogger("pysips.modules.uri")

OK = 1
ERR_INTERNAL = -1
ERR_CREDENTIALS = -2
ERR_USERNOTFOUND = -4
ERR_DBQUERY = -8
ERR_SPOOFEDUSER = -9

# Set by the auth module when www_authorize()/proxy_authorize() accepted credentials:
# (header name, occurrence) of those credentials (the auth module's published context key).
AUTHORIZED_KEY = "auth.authorized"


@dataclass(frozen=True, slots=True)
class UriDbConfig:
    db_url: str | None
    table: str
    user_column: str
    domain_column: str
    uriuser_column: str
    use_uri_table: bool
    use_domain: bool


class UriDb:
    """What process.modules["uri"] holds: the settings and, with db_url, the connection."""

    __slots__ = ("config", "db")

    def __init__(self, config: UriDbConfig, db: Database | None) -> None:
        self.config = config
        self.db = db


def config_from(params: dict[str, Any]) -> UriDbConfig:
    return UriDbConfig(
        db_url=str(params["db_url"]) if params.get("db_url") else None,
        table=str(params.get("db_table") or "subscriber"),
        user_column=str(params.get("user_column") or "username"),
        domain_column=str(params.get("domain_column") or "domain"),
        uriuser_column=str(params.get("uriuser_column") or "uri_user"),
        use_uri_table=bool(params.get("use_uri_table")),
        use_domain=bool(params.get("use_domain")),
    )


def open_uri_db(config: UriDbConfig) -> UriDb:
    """Connects when db_url is set (without it, a db_* function logs an error and fails)."""
    if config.db_url is None:
        return UriDb(config, None)
    try:
        return UriDb(config, connect(config.db_url))
    except DbError as exc:
        raise RuntimeError(f"uri: {exc}") from None


def _of(ctx: MsgContext) -> UriDb | None:
    found = ctx.process.modules.get("uri")
    if not isinstance(found, UriDb) or found.db is None:
        log.error("uri: the db_* functions need modparam(\"uri\", \"db_url\", ...)")
        return None
    return found


def _query(udb: UriDb, columns: tuple[str, ...], where: dict[str, DbValue]) -> list[Any] | None:
    assert udb.db is not None
    try:
        return list(udb.db.query(udb.config.table, columns, where))
    except DbError as exc:
        log.error("uri: querying %s failed: %s", udb.config.table, exc)
        return None


def _credentials(msg: SipMessage, ctx: MsgContext) -> tuple[str, str] | None:
    """(digest user, realm) of the credentials www/proxy_authorize() accepted."""
    marked = ctx.extra.get(AUTHORIZED_KEY)
    if not isinstance(marked, tuple):
        return None
    header, occurrence = marked
    parsed = msg.auth(header)
    if isinstance(parsed, ParseError) or occurrence >= len(parsed):
        return None
    cred = parsed[occurrence]
    return (cred.username or "").partition("@")[0], cred.realm or ""


def check_header_user(ctx: MsgContext, which: str) -> int:
    msg = ctx.msg
    udb = _of(ctx)
    if not isinstance(msg, SipMessage) or udb is None:
        return ERR_INTERNAL
    cred = _credentials(msg, ctx)
    if cred is None:
        log.error("no authorized credentials found (error in scripts)")
        return ERR_INTERNAL
    header = msg.to_header() if which == "to" else msg.from_header()
    uri = None if isinstance(header, ParseError) else header.parsed_uri()
    if not isinstance(uri, SipUri):
        return ERR_INTERNAL
    if not uri.user:
        log.error("username not found in URI")
        return ERR_USERNOTFOUND
    digest_user, realm = cred
    cfg = udb.config
    if not cfg.use_uri_table:
        return OK if uri.user.lower() == digest_user.lower() else ERR_DBQUERY
    rows = _query(udb, (cfg.user_column,), {
        cfg.user_column: digest_user, cfg.domain_column: realm, cfg.uriuser_column: uri.user,
    })
    if rows is None:
        return ERR_DBQUERY
    return OK if rows else ERR_SPOOFEDUSER


def does_uri_exist(ctx: MsgContext) -> int:
    msg = ctx.msg
    udb = _of(ctx)
    if not isinstance(msg, SipMessage) or not msg.is_request or udb is None:
        return ERR_INTERNAL
    uri = parse_uri(ctx.new_ruri or msg.ruri)
    if not isinstance(uri, SipUri):
        log.error("error while parsing URI")
        return ERR_INTERNAL
    cfg = udb.config
    user_col = cfg.uriuser_column if cfg.use_uri_table else cfg.user_column
    where: dict[str, DbValue] = {user_col: uri.user or ""}
    if cfg.use_domain:
        where[cfg.domain_column] = uri.host
    rows = _query(udb, (user_col,), where)
    if rows is None:
        return ERR_DBQUERY
    return OK if rows else ERR_INTERNAL


def get_auth_id(ctx: MsgContext, uri_text: str, auth_user: PVAccessor, auth_realm: PVAccessor) -> int:
    udb = _of(ctx)
    if udb is None:
        return ERR_INTERNAL
    uri = parse_uri(uri_text) if uri_text else None
    if not isinstance(uri, SipUri) or not uri.user:
        log.error("first parameter must be a URI with a username, got %r", uri_text)
        return ERR_INTERNAL
    cfg = udb.config
    if cfg.use_uri_table:
        where: dict[str, DbValue] = {cfg.uriuser_column: uri.user}
    else:
        where = {cfg.user_column: uri.user}
    if cfg.use_domain:
        where[cfg.domain_column] = uri.host
    rows = _query(udb, (cfg.user_column, cfg.domain_column), where)
    if rows is None:
        return ERR_DBQUERY
    if not rows:
        return ERR_USERNOTFOUND
    if len(rows) > 1:
        log.warning("multiple entries match %s; consider setting use_domain", uri_text)

    auth_user.set(ctx, _text(rows[0][0]))
    auth_realm.set(ctx, _text(rows[0][1]))
    return OK
