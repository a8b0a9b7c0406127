"""User preferences in the `usr_preferences` table, loaded into and stored from AVPs.

One implementation for OpenSIPS 3.6's sqlops (`sql_avp_load/store/delete`) and 2.x's avpops
(`avp_db_load/store/delete`), which share their arguments:

- the *source* names whose preferences: a constant (`'bob-uuid'`, a uuid by default) or a
  pseudo-variable, optionally qualified with `/uuid`, `/uri`, `/username` or `/domain`. `$ru`,
  `$fu`, `$tu` and `$ou` hold URIs, so they default to `/uri` (user, plus the domain when the
  module's `use_domain` is set); any other variable defaults to `/uuid`.
- the *name* says which preferences: `$avp(name)` (rows whose attribute is that name, into that
  AVP), or `*`/`s`/`i`/`a` for every attribute of the owner (each into the AVP named by its
  attribute, behind an optional prefix); `/table` after it reads another table of the same layout.

Each row's `type` says (bit 0) whether its value is an integer. Rows loaded, and values stored,
are remembered for the message, so storing after loading does not write them a second time
(OpenSIPS marks such AVPs "in DB"). Values are always bound as parameters.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pysips.db.api import Database, DbError, DbValue
from pysips.script.context import MsgContext
from pysips.script.errors import FixupError
from pysips.script.pv_base import PVAccessor
from pysips.script.pv_vars import avp_key
from pysips.script.pvparam import compile_param_pv
from pysips.sip.errors import ParseError
from pysips.sip.uri import parse_uri

log = logging.getLogger("pysips.db.usr_prefs")

VALUE_IS_INT = 1  # `type` column bits, as OpenSIPS writes them
NAME_IS_INT = 2
_IN_DB = "usr_prefs.in_db"  # ctx.extra key: AVP name -> values that came from / went to the table
_URI_VARIABLES = frozenset(("$ru", "$fu", "$tu", "$ou"))


class Qualifier(enum.Enum):
    UUID = "uuid"
    URI = "uri"
    USERNAME = "username"
    DOMAIN = "domain"


@dataclass(frozen=True, slots=True)
class PrefsColumns:
    """The table and column names (module parameters `avp_table`/`usr_table`, `*_column`)."""

    table: str = "usr_preferences"
    uuid: str = "uuid"
    username: str = "username"
    domain: str = "domain"
    attribute: str = "attribute"
    type: str = "type"
    value: str = "value"
    use_domain: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any], table_param: str) -> PrefsColumns:
        def text(name: str, default: str) -> str:
            return str(params.get(name) or default)
        return cls(
            table=text(table_param, "usr_preferences"),
            uuid=text("uuid_column", "uuid"),
            username=text("username_column", "username"),
            domain=text("domain_column", "domain"),
            attribute=text("attribute_column", "attribute"),
            type=text("type_column", "type"),
            value=text("value_column", "value"),
            use_domain=bool(params.get("use_domain")),
        )


@dataclass(frozen=True, slots=True)
class Source:
    text: str
    qualifier: Qualifier
    constant: str | None = None
    variable: PVAccessor | None = None


@dataclass(frozen=True, slots=True)
class NameSpec:
    avp: str | None  # the AVP key; None: every attribute of the owner
    table: str | None = None


def parse_source(value: Any, fctx: Any = None) -> Source:
    """A load-time fixup of the first argument ("$ru/username", "'uuid-1'", "$avp(id)")."""
    text = str(value).strip()
    body, slash, tail = text.partition("/")
    qualifier: Qualifier | None = None
    if slash:
        try:
            qualifier = Qualifier(tail.strip().lower())
        except ValueError:
            raise FixupError(f"unknown source qualifier {tail!r} (expected uuid, uri, username or domain)") \
                from None
    body = body.strip()
    if not body:
        raise FixupError("empty source")
    if not body.startswith("$"):
        return Source(text, qualifier or Qualifier.UUID, constant=body)
    variable = compile_param_pv(body, "source")
    default = Qualifier.URI if body in _URI_VARIABLES else Qualifier.UUID
    return Source(text, qualifier or default, variable=variable)


def parse_name(value: Any, fctx: Any = None) -> NameSpec:
    """A load-time fixup of the second argument ("$avp(fwd)", "$avp(fwd)/fwd_table", "*")."""
    text = str(value).strip()
    head, slash, table = text.partition("/")
    head = head.strip()
    if slash:
        table = table.strip()
        if not table:
            raise FixupError(f"empty table name in {text!r}")
        if table.startswith("$"):
            raise FixupError(f"{text!r}: DB schemes (db_scheme, '/${table[1:]}') are not supported by "
                             "pysips; name the table instead")
    if head.startswith("$"):
        if not head.startswith("$avp("):
            raise FixupError(f"{text!r}: expected $avp(name) or one of * s i a")
        compile_param_pv(head, "AVP name", writable=True)
        return NameSpec(avp_key(head), table or None)
    if not head or head[0] not in "*sSiIaA":
        raise FixupError(f"{text!r}: expected $avp(name) or one of * s i a")
    return NameSpec(None, table or None)


def _owner(ctx: MsgContext, source: Source, use_domain: bool) -> tuple[str | None, str | None, str | None]:
    """(uuid, username, domain) the rows belong to; DbError when the source gives none."""
    if source.variable is not None:
        got = source.variable.get(ctx)
        if got is None or got == "":
            raise DbError(f"no value for the source {source.text}")
        value = str(got)
    else:
        value = source.constant or ""
    if source.qualifier is Qualifier.UUID:
        return value, None, None
    uri = parse_uri(value)
    if isinstance(uri, ParseError):
        raise DbError(f"source {source.text}: cannot parse URI {value!r}")
    user = domain = None
    if source.qualifier in (Qualifier.URI, Qualifier.USERNAME):
        if not uri.user:
            raise DbError(f"incomplete URI {value!r}: no user")
        user = uri.user
    if source.qualifier in (Qualifier.URI, Qualifier.DOMAIN):
        if not uri.host:
            raise DbError(f"incomplete URI {value!r}: no host")
        domain = uri.host
    if not (use_domain or source.qualifier is Qualifier.DOMAIN):
        domain = None
    return None, user, domain


def _where(cols: PrefsColumns, owner: tuple[str | None, str | None, str | None],
           attribute: str | None) -> dict[str, DbValue]:
    uuid, user, domain = owner
    where: dict[str, DbValue] = {}
    if uuid is not None:
        where[cols.uuid] = uuid
    else:
        if user is not None:
            where[cols.username] = user
        if domain is not None:
            where[cols.domain] = domain
    if attribute is not None:
        where[cols.attribute] = attribute
    return where


def _in_db(ctx: MsgContext) -> dict[str, list[str | int]]:
    found = ctx.extra.get(_IN_DB)
    if found is None:
        found = ctx.extra[_IN_DB] = {}
    return found


def load(ctx: MsgContext, db: Database, cols: PrefsColumns, source: Source, name: NameSpec,
         prefix: str = "") -> int:
    """The owner's rows into AVPs (the last row ends in front); 1 when at least one was loaded."""
    owner = _owner(ctx, source, cols.use_domain)
    rows = db.query(name.table or cols.table, (cols.value, cols.attribute, cols.type),
                    _where(cols, owner, name.avp))
    loaded = 0
    remembered = _in_db(ctx)
    for value, attribute, kind in rows:
        if value is None or attribute is None or kind is None:
            log.error("row of %s contains NULL fields", name.table or cols.table)
            continue
        avp = name.avp if name.avp is not None else prefix + str(attribute)
        item: str | int
        if int(kind) & VALUE_IS_INT:
            try:
                item = int(value)
            except ValueError:
                log.error("value is not an integer as its type says: %r", value)
                continue
        else:
            item = value.decode() if isinstance(value, bytes) else str(value)
        ctx.avps.setdefault(avp, []).insert(0, item)
        remembered.setdefault(avp, []).append(item)
        loaded += 1
    return 1 if loaded else -1


def store(ctx: MsgContext, db: Database, cols: PrefsColumns, source: Source, name: NameSpec) -> int:
    """The AVP's values (every AVP's, for `*`) as rows, except those loaded or stored already."""
    uuid, user, domain = _owner(ctx, source, cols.use_domain)
    names = [name.avp] if name.avp is not None else list(ctx.avps)
    remembered = _in_db(ctx)
    stored = 0
    for avp in names:
        done = list(remembered.get(avp, ()))
        for value in list(ctx.avps.get(avp, ())):
            if value in done:
                done.remove(value)  # this one came from (or went to) the table
                continue
            db.insert(name.table or cols.table, {
                cols.uuid: uuid or "",
                cols.attribute: avp,
                cols.value: str(value),
                cols.type: VALUE_IS_INT if isinstance(value, int) else 0,
                cols.username: user or "",
                cols.domain: domain or "",
            })
            remembered.setdefault(avp, []).append(value)
            stored += 1
    return 1 if stored else -1


def delete(ctx: MsgContext, db: Database, cols: PrefsColumns, source: Source, name: NameSpec) -> int:
    """Deletes the owner's rows (those of one attribute, or all); 1 unless it failed."""
    owner = _owner(ctx, source, cols.use_domain)
    db.delete(name.table or cols.table, _where(cols, owner, name.avp))
    return 1
