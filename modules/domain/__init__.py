"""domain: which domains this proxy serves (OpenSIPS module `domain`).

is_domain_local(domain[, attrs_var]), is_from_local([attrs_var]) and
is_uri_host_local([attrs_var]) look the host up in the `domain` table: the host itself, then each
parent domain that still has a dot in it, where a row matches the host exactly (case-insensitive)
or, with accept_subdomain set, as a dot-separated suffix. The row's attrs go into the variable.
db_mode 0 asks the database on every call; db_mode 1 keeps the table in memory (MI
`domain_reload`, `domain_dump`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pysips.db.api import Database, DbError, DbValue
from pysips.db.lazy import LazyDatabase
from pysips.db.text import text_or_none as _text
from pysips.db.url import DbUrl, DbUrlError, parse_db_url
from pysips.mi import MICall, MIError, command
from pysips.script.context import MsgContext, RouteType
from pysips.script.corefuncs import current_ruri
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
)
from pysips.script.module_runtime import module_runtime
from pysips.script.pv_base import PVAccessor
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

__all__ = ["Domains", "exports"]

log = logging.getLogger("pysips.modules.domain")


@dataclass(frozen=True, slots=True)
class DomainRow:
    domain: str
    attrs: str | None
    accept_subdomain: bool

    def matches(self, host: str) -> bool:
        """OpenSIPS's match_domain: equal ignoring case, or a suffix after a dot when
        accept_subdomain is set."""
        name, host = self.domain.lower(), host.lower()
        if not self.accept_subdomain:
            return name == host
        if len(host) < len(name) or not host.endswith(name):
            return False
        return len(host) == len(name) or host[len(host) - len(name) - 1] == "."


def lookup_names(host: str) -> Iterator[str]:
    """The host, then each parent domain that still has a dot (a.b.example.com, b.example.com,
    example.com), the names OpenSIPS looks up."""
    name = host
    while True:
        yield name
        _, dot, rest = name.partition(".")
        if not dot or "." not in rest:
            return
        name = rest


def row_of(values: tuple[DbValue, ...]) -> DomainRow:
    name, attrs, accept = values
    flag = accept if isinstance(accept, int) else 0
    return DomainRow(_text(name) or "", _text(attrs), bool(flag))


class Domains:
    __slots__ = ("cached", "columns", "db", "table", "url")

    def __init__(self, url: DbUrl, table: str, columns: tuple[str, str, str], cache: bool) -> None:
        self.url = url
        self.table = table
        self.columns = columns
        self.db = LazyDatabase(url)
        self.cached: dict[str, list[DomainRow]] | None = {} if cache else None

    def database(self) -> Database:
        return self.db.get()

    def reload(self) -> None:
        rows = [row_of(r) for r in self.database().query(self.table, self.columns)]
        table: dict[str, list[DomainRow]] = {}
        for row in rows:
            table.setdefault(row.domain.lower(), []).append(row)
        self.cached = table

    def rows_for(self, name: str) -> list[DomainRow]:
        if self.cached is not None:
            return self.cached.get(name.lower(), [])
        found = self.database().query(self.table, self.columns, {self.columns[0]: name})
        return [row_of(r) for r in found[:1]]  # OpenSIPS looks at the first row only

    def find(self, host: str) -> DomainRow | None:
        for name in lookup_names(host):
            for row in self.rows_for(name):
                if row.matches(host):
                    return row
        return None

    def close(self) -> None:
        self.db.close()


def _domains(ctx: MsgContext) -> Domains:
    return module_runtime(ctx.process, "domain", Domains)


def _check(ctx: MsgContext, host: str, attrs: PVAccessor | None) -> int:
    try:
        row = _domains(ctx).find(host)
    except DbError as exc:
        log.error("Error while querying database: %s", exc)
        return -3
    if row is None:
        return -1
    if attrs is not None and row.attrs is not None:
        attrs.set(ctx, row.attrs)
    return 1


def w_is_domain_local(ctx: MsgContext, domain: str, attrs: PVAccessor | None = None) -> int:
    return _check(ctx, domain, attrs)


def w_is_from_local(ctx: MsgContext, attrs: PVAccessor | None = None) -> int:
    msg = ctx.msg
    header = msg.from_header() if isinstance(msg, SipMessage) else None
    uri = header.parsed_uri() if header is not None and not isinstance(header, ParseError) else None
    if not isinstance(uri, SipUri):
        log.error("Error while parsing From header")
        return -2
    return _check(ctx, uri.host, attrs)


def w_is_uri_host_local(ctx: MsgContext, attrs: PVAccessor | None = None) -> int:
    ruri = current_ruri(ctx)
    uri = parse_uri(ruri) if ruri else None
    if not isinstance(uri, SipUri):
        log.error("Error while parsing R-URI")
        return -1
    return _check(ctx, uri.host, attrs)


def _check_mode(value: Any) -> int:
    if value not in (0, 1):
        raise FixupError(f"db_mode must be 0 or 1, not {value!r}")
    return int(value)


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Domains:
    try:
        url = parse_db_url(str(params["db_url"]))
    except DbUrlError as exc:
        raise RuntimeError(f"domain: {exc}") from None
    columns = (str(params["domain_col"]), str(params["attrs_col"]),
               str(params["accept_subdomain_col"]))
    domains = Domains(url, str(params["domain_table"]), columns, params["db_mode"] == 1)
    try:
        if params["db_mode"] == 1:
            domains.reload()
        else:
            domains.database()
    except DbError as exc:
        raise RuntimeError(f"domain: {exc}") from None
    return domains


def _destroy(runtime: object) -> None:
    if isinstance(runtime, Domains):
        runtime.close()


def _runtime(call: MICall) -> Domains:
    found = call.process.modules.get("domain")
    if not isinstance(found, Domains):
        raise MIError(500, "domain is not initialised")
    if found.cached is None:
        raise MIError(500, "DB is disabled (db_mode=0)")
    return found


def mi_domain_reload(call: MICall) -> Any:
    domains = _runtime(call)
    try:
        domains.reload()
    except DbError as exc:
        log.error("domain: reload: %s", exc)
        raise MIError(500, "Domain table reload failed") from None
    return "OK"


def mi_domain_dump(call: MICall) -> Any:
    out: list[dict[str, Any]] = []
    for rows in (_runtime(call).cached or {}).values():
        for row in rows:
            item: dict[str, Any] = {"name": row.domain}
            if row.attrs is not None:
                item["attributes"] = row.attrs
            out.append(item)
    return {"Domains": out}


_ATTRS = ArgSpec(ArgKind.VAR, "attrs_var", optional=True)
_ROUTES = RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH | RouteType.LOCAL

exports = ModuleExports(
    "domain",
    functions=(
        FunctionExport("is_domain_local", w_is_domain_local,
                       (ArgSpec(ArgKind.STR, "domain"), _ATTRS), _ROUTES,
                       doc="the domain is in the domain table (its attrs into the variable)"),
        FunctionExport("is_from_local", w_is_from_local, (_ATTRS,), _ROUTES,
                       doc="the From URI's host is a local domain"),
        FunctionExport("is_uri_host_local", w_is_uri_host_local, (_ATTRS,), _ROUTES,
                       doc="the R-URI's host is a local domain"),
    ),
    params=(
        ParamExport("db_url", ParamType.STR, "mysql://opensipsro:opensipsro@localhost/opensips"),
        ParamExport("db_mode", ParamType.INT, 0, check=_check_mode,
                    doc="0: query the database each time; 1: keep the table in memory"),
        ParamExport("domain_table", ParamType.STR, "domain"),
        ParamExport("domain_col", ParamType.STR, "domain"),
        ParamExport("attrs_col", ParamType.STR, "attrs"),
        ParamExport("accept_subdomain_col", ParamType.STR, "accept_subdomain"),
    ),
    init=_init,
    destroy=_destroy,
    mi_commands=(
        command("domain_reload", "reload the domain table (db_mode 1)", {(): mi_domain_reload},
                "domain"),
        command("domain_dump", "the domains in memory (db_mode 1)", {(): mi_domain_dump},
                "domain"),
    ),
    doc="local domains from the domain table",
)
