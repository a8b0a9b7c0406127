"""group: group membership from database tables (OpenSIPS module `group`).

db_is_user_in(uri, group) checks the `grp` table for the user (and domain, with use_domain) of
"Request-URI", "To", "From", "Credentials" (the authorized digest username and realm) or a URI
string; db_get_user_group(uri, var) adds the group id of every `re_grp` regular expression that
matches sip:user@domain (only the first with multiple_gid=0). Return codes are OpenSIPS's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from pysips.db.api import Database, DbError, DbValue
from pysips.db.lazy import LazyDatabase
from pysips.db.text import text_or_empty as _text
from pysips.db.url import DbUrl, DbUrlError, parse_db_url
from pysips.script.context import MsgContext, RouteType
from pysips.script.corefuncs import current_ruri
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    check_bool,
)
from pysips.script.module_runtime import module_runtime
from pysips.script.posixre import compile_posix
from pysips.script.pv_base import PVAccessor
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

__all__ = ["Groups", "exports"]

log = logging.getLogger("pysips.modules.group")

AUTHORIZED_KEY = "auth.authorized"  # set by auth: (header name, occurrence) of the credentials used


@dataclass(slots=True)
class GroupConfig:
    url: DbUrl
    table: str
    user_column: str
    domain_column: str
    group_column: str
    use_domain: bool
    re_table: str | None
    re_exp_column: str
    re_gid_column: str
    multiple_gid: bool


class Groups:
    __slots__ = ("config", "db", "re_groups")

    def __init__(self, config: GroupConfig) -> None:
        self.config = config
        self.db = LazyDatabase(config.url)
        self.re_groups: list[tuple[re.Pattern[str], int]] = []

    def database(self) -> Database:
        return self.db.get()

    def load_re_groups(self) -> None:
        """The re_grp rows, newest first as OpenSIPS keeps them; a bad expression stops the start."""
        cfg = self.config
        if not cfg.re_table:
            return
        groups = []
        for expression, gid in self.database().query(cfg.re_table,
                                                      (cfg.re_exp_column, cfg.re_gid_column)):
            text = _text(expression)
            try:
                groups.append((compile_posix(text), int(_text(gid) or 0)))
            except (re.error, ValueError) as exc:
                raise RuntimeError(f"group: bad re {text}: {exc}") from None
        self.re_groups = groups[::-1]

    def close(self) -> None:
        self.db.close()


def _groups(ctx: MsgContext) -> Groups:
    return module_runtime(ctx.process, "group", Groups)


def _credentials(ctx: MsgContext, msg: SipMessage) -> tuple[str, str] | None:
    marked = ctx.extra.get(AUTHORIZED_KEY)
    if not isinstance(marked, tuple):
        log.error("no authorized credentials found (error in scripts)")
        return None
    header, occurrence = marked
    parsed = msg.auth(header)
    if isinstance(parsed, ParseError) or occurrence >= len(parsed):
        return None
    cred = parsed[occurrence]
    return (cred.username or "").partition("@")[0], cred.realm or ""


def user_and_domain(ctx: MsgContext, which: str) -> tuple[str, str] | None:
    """The user and domain OpenSIPS's get_username_domain finds for the first argument."""
    msg = ctx.msg
    name = which.lower()
    uri_text: str | None
    if name in ("to", "from", "credentials"):
        if not isinstance(msg, SipMessage):
            return None
        if name == "credentials":
            return _credentials(ctx, msg)
        header = msg.to_header() if name == "to" else msg.from_header()
        if isinstance(header, ParseError):
            log.error("failed to get %s URI", which)
            return None
        uri_text = header.uri
    elif name == "request-uri":
        uri_text = current_ruri(ctx)
    else:
        uri_text = which
    uri = parse_uri(uri_text) if uri_text else None
    if not isinstance(uri, SipUri):
        log.error("failed to parse URI <%s>", uri_text)
        return None
    return uri.user or "", uri.host


def w_db_is_user_in(ctx: MsgContext, which: str, group: str) -> int:
    found = user_and_domain(ctx, which)
    if found is None or not found[0]:
        return -1
    groups = _groups(ctx)
    cfg = groups.config
    where: dict[str, DbValue] = {cfg.user_column: found[0], cfg.group_column: group}
    if cfg.use_domain:
        where[cfg.domain_column] = found[1]
    try:
        rows = groups.database().query(cfg.table, (cfg.group_column,), where)
    except DbError as exc:
        log.error("failed to query database: %s", exc)
        return -5
    return 1 if rows else -6


def w_db_get_user_group(ctx: MsgContext, which: str, out: PVAccessor) -> int:
    found = user_and_domain(ctx, which)
    if found is None or not found[0]:
        return -1
    groups = _groups(ctx)
    uri = f"sip:{found[0]}@{found[1]}"
    matched = 0
    for expression, gid in groups.re_groups:
        if expression.search(uri):
            out.set(ctx, gid)
            matched += 1
            if not groups.config.multiple_gid:
                break
    return matched or -1


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Groups:
    try:
        url = parse_db_url(str(params["db_url"]))
    except DbUrlError as exc:
        raise RuntimeError(f"group: {exc}") from None
    config = GroupConfig(url, str(params["table"]), str(params["user_column"]),
                         str(params["domain_column"]), str(params["group_column"]),
                         bool(params["use_domain"]), params["re_table"] or None,
                         str(params["re_exp_column"]), str(params["re_gid_column"]),
                         bool(params["multiple_gid"]))
    groups = Groups(config)
    try:
        groups.database()
        groups.load_re_groups()
    except DbError as exc:
        raise RuntimeError(f"group: {exc}") from None
    return groups


def _destroy(runtime: object) -> None:
    if isinstance(runtime, Groups):
        runtime.close()


_ROUTES = RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH | RouteType.LOCAL
_WHO = ArgSpec(ArgKind.STR, "uri")

exports = ModuleExports(
    "group",
    functions=(
        FunctionExport("db_is_user_in", w_db_is_user_in, (_WHO, ArgSpec(ArgKind.STR, "group")),
                       _ROUTES, doc="the user (Request-URI, To, From, Credentials or a URI) is in"
                       " the group (grp table)"),
        FunctionExport("db_get_user_group", w_db_get_user_group,
                       (_WHO, ArgSpec(ArgKind.VAR, "avp")), _ROUTES,
                       doc="the group ids of the re_grp expressions matching the user"),
        # the names OpenSIPS 1.x exported, for older scripts (used when nothing else exports them)
        FunctionExport("is_user_in", w_db_is_user_in, (_WHO, ArgSpec(ArgKind.STR, "group")),
                       _ROUTES, fallback=True, doc="1.x name of db_is_user_in()"),
        FunctionExport("get_user_group", w_db_get_user_group,
                       (_WHO, ArgSpec(ArgKind.VAR, "avp")), _ROUTES, fallback=True,
                       doc="1.x name of db_get_user_group()"),
        FunctionExport("aaa_is_user_in", lambda ctx, *args: -1,
                       (_WHO, ArgSpec(ArgKind.STR, "group")), _ROUTES,
                       missing="needs an AAA (RADIUS/Diameter) backend, not in pysips"),
    ),
    params=(
        ParamExport("db_url", ParamType.STR, "mysql://opensipsro:opensipsro@localhost/opensips"),
        ParamExport("table", ParamType.STR, "grp"),
        ParamExport("user_column", ParamType.STR, "username"),
        ParamExport("domain_column", ParamType.STR, "domain"),
        ParamExport("group_column", ParamType.STR, "grp"),
        ParamExport("use_domain", ParamType.INT_OR_STR, 0, check=check_bool),
        ParamExport("re_table", ParamType.STR, None),
        ParamExport("re_exp_column", ParamType.STR, "reg_exp"),
        ParamExport("re_gid_column", ParamType.STR, "group_id"),
        ParamExport("multiple_gid", ParamType.INT_OR_STR, 1, check=check_bool),
        ParamExport("aaa_url", ParamType.STR, None),
    ),
    init=_init,
    destroy=_destroy,
    doc="group membership from the grp and re_grp tables",
)
