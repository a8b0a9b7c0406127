"""alias_db: user aliases from a database table (OpenSIPS module `alias_db`).

alias_db_lookup(table[, flags]) replaces the R-URI by the canonical user the alias (R-URI user
and host) points to; alias_db_find(table, input, out_var[, flags]) does the same for any URI
into a variable. Flags: `d` match the user only (not the domain), `r` reverse (user -> alias).
With append_branches, every further row becomes a branch (or another value of an AVP).
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.db.api import Database, DbError, DbValue
from pysips.db.lazy import LazyDatabase
from pysips.db.text import text_or_empty as _text
from pysips.db.url import DbUrl, DbUrlError, parse_db_url
from pysips.script.context import MsgContext, RouteType
from pysips.script.corefuncs import current_ruri, new_branch
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    check_bool,
)
from pysips.script.module_runtime import module_runtime
from pysips.script.pv_base import PVAccessor
from pysips.sip.uri import SipUri, parse_uri

__all__ = ["AliasDb", "exports"]

log = logging.getLogger("pysips.modules.alias_db")

REVERSE = 1
NO_DOMAIN = 2


class AliasDb:
    __slots__ = ("append_branches", "columns", "db", "domain_prefix", "url")

    def __init__(self, url: DbUrl, columns: dict[str, str], domain_prefix: str,
                 append_branches: bool) -> None:
        self.url = url
        self.columns = columns
        self.domain_prefix = domain_prefix
        self.append_branches = append_branches
        self.db = LazyDatabase(url)

    def database(self) -> Database:
        return self.db.get()

    def query(self, table: str, uri: SipUri, flags: int) -> list[str]:
        """The target URIs ("sip:user@domain") of the alias, in the table's order."""
        c = self.columns
        if flags & REVERSE:
            keys, wanted = (c["user"], c["domain"]), (c["alias_user"], c["alias_domain"])
        else:
            keys, wanted = (c["alias_user"], c["alias_domain"]), (c["user"], c["domain"])
        where: dict[str, DbValue] = {keys[0]: uri.user or ""}
        if not flags & NO_DOMAIN:
            host = uri.host
            prefix = self.domain_prefix
            if prefix and len(prefix) < len(host) and host[:len(prefix)].lower() == prefix.lower():
                host = host[len(prefix):]
            where[keys[1]] = host
        rows = self.database().query(table, wanted, where)
        if not rows or rows[0][0] is None:
            return []
        return [f"sip:{_text(user)}@{_text(domain)}" for user, domain in rows]

    def close(self) -> None:
        self.db.close()


def _fix_flags(value: Any, fctx: FixupContext) -> int:
    flags = 0
    for ch in str(value):
        if ch in "rR":
            flags |= REVERSE
        elif ch in "dD":
            flags |= NO_DOMAIN
        else:
            raise FixupError(f"unsupported flag '{ch}'", fctx.pos)
    return flags


def _runtime(ctx: MsgContext) -> AliasDb:
    return module_runtime(ctx.process, "alias_db", AliasDb)


def _lookup(ctx: MsgContext, table: str, uri_text: str | None, flags: int) -> list[str] | None:
    uri = parse_uri(uri_text) if uri_text else None
    if not isinstance(uri, SipUri):
        log.error("failed to parse uri %s", uri_text)
        return None
    try:
        return _runtime(ctx).query(table, uri, flags)
    except DbError as exc:
        log.error("failed to query database: %s", exc)
        return None


def w_alias_db_lookup(ctx: MsgContext, table: str, flags: int | None = None) -> int:
    targets = _lookup(ctx, table, current_ruri(ctx), flags or 0)
    if not targets:
        return -1
    ctx.new_ruri = targets[0]
    if _runtime(ctx).append_branches:
        for target in targets[1:]:
            ctx.branches.append(new_branch(ctx, target, 0.0))
    return 1


def w_alias_db_find(ctx: MsgContext, table: str, text: str, out: PVAccessor,
                    flags: int | None = None) -> int:
    targets = _lookup(ctx, table, text, flags or 0)
    if not targets:
        return -1
    out.set_replace(ctx, targets[0])
    if _runtime(ctx).append_branches:
        for target in targets[1:]:
            out.set(ctx, target)
    return 1


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> AliasDb:
    try:
        url = parse_db_url(str(params["db_url"]))
    except DbUrlError as exc:
        raise RuntimeError(f"alias_db: {exc}") from None
    columns = {"user": str(params["user_column"]), "domain": str(params["domain_column"]),
               "alias_user": str(params["alias_user_column"]),
               "alias_domain": str(params["alias_domain_column"])}
    runtime = AliasDb(url, columns, str(params["domain_prefix"] or ""),
                      bool(params["append_branches"]))
    try:
        runtime.database()
    except DbError as exc:
        raise RuntimeError(f"alias_db: {exc}") from None
    return runtime


def _destroy(runtime: object) -> None:
    if isinstance(runtime, AliasDb):
        runtime.close()


_FLAGS = ArgSpec(ArgKind.STR, "flags", optional=True, static=True, fixup=_fix_flags)
_TABLE = ArgSpec(ArgKind.STR, "table")
_ROUTES = RouteType.REQUEST | RouteType.FAILURE
_FIND_ROUTES = _ROUTES | RouteType.ONREPLY | RouteType.BRANCH | RouteType.LOCAL | RouteType.STARTUP

exports = ModuleExports(
    "alias_db",
    functions=(
        FunctionExport("alias_db_lookup", w_alias_db_lookup, (_TABLE, _FLAGS), _ROUTES,
                       doc="replace the R-URI by the user its alias points to"),
        FunctionExport("alias_db_find", w_alias_db_find,
                       (_TABLE, ArgSpec(ArgKind.STR, "input"), ArgSpec(ArgKind.VAR, "out_var"),
                        _FLAGS), _FIND_ROUTES,
                       doc="the user an alias URI points to, into a variable"),
    ),
    params=(
        ParamExport("db_url", ParamType.STR, "mysql://opensipsro:opensipsro@localhost/opensips"),
        ParamExport("user_column", ParamType.STR, "username"),
        ParamExport("domain_column", ParamType.STR, "domain"),
        ParamExport("alias_user_column", ParamType.STR, "alias_username"),
        ParamExport("alias_domain_column", ParamType.STR, "alias_domain"),
        ParamExport("domain_prefix", ParamType.STR, None),
        ParamExport("append_branches", ParamType.INT_OR_STR, 0, check=check_bool),
    ),
    init=_init,
    destroy=_destroy,
    doc="user aliases from the dbaliases table",
)
