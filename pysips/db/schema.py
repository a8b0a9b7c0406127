"""The OpenSIPS table layouts pysips reads and writes, so an existing `opensips.db` works as is.

Only the tables our modules use are described. Versions are those of OpenSIPS 3.x (`version`
table rows); a table created here gets its version row too, as `opensips-cli database create` does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql_type: str  # as written in OpenSIPS's SQLite schema
    default: str | None = None  # SQL literal
    nullable: bool = True
    primary_key: bool = False  # INTEGER PRIMARY KEY AUTOINCREMENT

    def ddl(self) -> str:
        if self.primary_key:
            return f"{self.name} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"
        text = f"{self.name} {self.sql_type}"
        if self.default is not None:
            text += f" DEFAULT {self.default}"
        if not self.nullable:
            text += " NOT NULL"
        return text


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    version: int
    columns: tuple[Column, ...]
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()  # plain (non-unique) indexes, as OpenSIPS creates

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def ddl(self, name: str | None = None) -> str:
        table = name or self.name
        parts = [c.ddl() for c in self.columns]
        for i, cols in enumerate(self.unique):
            parts.append(f"CONSTRAINT `{table}_idx{i}` UNIQUE ({', '.join(cols)})")
        return f"CREATE TABLE `{table}` (\n    " + ",\n    ".join(parts) + "\n)"


VERSION = Table(
    "version",
    0,
    (
        Column("table_name", "CHAR(32)", nullable=False),
        Column("table_version", "INTEGER", "0", nullable=False),
    ),
    unique=(("table_name",),),
)

LOCATION = Table(
    "location",
    1013,
    (
        Column("contact_id", "BIGINT", primary_key=True),  # usrloc writes 64-bit ids
        Column("username", "CHAR(64)", "''", nullable=False),
        Column("domain", "CHAR(64)", "NULL"),
        Column("contact", "TEXT", nullable=False),
        Column("received", "CHAR(255)", "NULL"),
        Column("path", "CHAR(255)", "NULL"),
        Column("expires", "INTEGER", nullable=False),
        Column("q", "FLOAT(10,2)", "1.0", nullable=False),
        Column("callid", "CHAR(255)", "'Default-Call-ID'", nullable=False),
        Column("cseq", "INTEGER", "13", nullable=False),
        Column("last_modified", "DATETIME", "'1900-01-01 00:00:01'", nullable=False),
        Column("flags", "INTEGER", "0", nullable=False),
        Column("cflags", "CHAR(255)", "NULL"),
        Column("user_agent", "CHAR(255)", "''", nullable=False),
        Column("socket", "CHAR(64)", "NULL"),
        Column("methods", "INTEGER", "NULL"),
        Column("sip_instance", "CHAR(255)", "NULL"),
        Column("kv_store", "TEXT(512)", "NULL"),
        Column("attr", "CHAR(255)", "NULL"),
    ),
)

SUBSCRIBER = Table(
    "subscriber",
    8,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("username", "CHAR(64)", "''", nullable=False),
        Column("domain", "CHAR(64)", "''", nullable=False),
        Column("password", "CHAR(25)", "''", nullable=False),
        Column("ha1", "CHAR(64)", "''", nullable=False),
        Column("ha1_sha256", "CHAR(64)", "''", nullable=False),
        Column("ha1_sha512t256", "CHAR(64)", "''", nullable=False),
    ),
    unique=(("username", "domain"),),
    indexes=(("username",),),
)

URI = Table(
    "uri",
    2,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("username", "CHAR(64)", "''", nullable=False),
        Column("domain", "CHAR(64)", "''", nullable=False),
        Column("uri_user", "CHAR(64)", "''", nullable=False),
        Column("last_modified", "DATETIME", "'1900-01-01 00:00:01'", nullable=False),
    ),
    unique=(("username", "domain", "uri_user"),),
)


def _acc_columns(with_duration: bool) -> tuple[Column, ...]:
    head = (
        Column("id", "INTEGER", primary_key=True),
        Column("method", "CHAR(16)", "''", nullable=False),
        Column("from_tag", "CHAR(64)", "''", nullable=False),
        Column("to_tag", "CHAR(64)", "''", nullable=False),
        Column("callid", "CHAR(64)", "''", nullable=False),
        Column("sip_code", "CHAR(3)", "''", nullable=False),
        Column("sip_reason", "CHAR(32)", "''", nullable=False),
        Column("time", "DATETIME", nullable=False),
    )
    durations = (
        Column("duration", "INTEGER", "0", nullable=False),
        Column("ms_duration", "INTEGER", "0", nullable=False),
    ) if with_duration else ()
    tail = (
        Column("setuptime", "INTEGER", "0", nullable=False),
        Column("created", "DATETIME", "NULL"),
    )
    return head + durations + tail


ACC = Table("acc", 7, _acc_columns(True), indexes=(("callid",),))
MISSED_CALLS = Table("missed_calls", 5, _acc_columns(False), indexes=(("callid",),))

# User preferences: avpops's avp_db_* and sqlops's sql_avp_* functions (type bit 0: the value is
# an integer; bit 1: the name is)
USR_PREFERENCES = Table(
    "usr_preferences",
    3,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("uuid", "CHAR(64)", "''", nullable=False),
        Column("username", "CHAR(64)", "0", nullable=False),
        Column("domain", "CHAR(64)", "''", nullable=False),
        Column("attribute", "CHAR(32)", "''", nullable=False),
        Column("type", "INTEGER", "0", nullable=False),
        Column("value", "CHAR(128)", "''", nullable=False),
        Column("last_modified", "DATETIME", "'1900-01-01 00:00:01'", nullable=False),
    ),
    indexes=(("uuid", "attribute"), ("username", "domain", "attribute"), ("value",)),
)


# Routing and policy modules (permissions, dialplan, domain, alias_db, group), OpenSIPS 3.6 layouts
ADDRESS = Table(
    "address",
    5,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("grp", "SMALLINT", "0", nullable=False),
        Column("ip", "CHAR(50)", nullable=False),
        Column("mask", "SMALLINT", "32", nullable=False),
        Column("port", "SMALLINT", "0", nullable=False),
        Column("proto", "CHAR(4)", "'any'", nullable=False),
        Column("pattern", "CHAR(64)", "NULL"),
        Column("context_info", "CHAR(32)", "NULL"),
    ),
)

DIALPLAN = Table(
    "dialplan",
    5,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("dpid", "INTEGER", nullable=False),
        Column("pr", "INTEGER", "0", nullable=False),
        Column("match_op", "INTEGER", nullable=False),
        Column("match_exp", "CHAR(64)", nullable=False),
        Column("match_flags", "INTEGER", "0", nullable=False),
        Column("subst_exp", "CHAR(64)", "NULL"),
        Column("repl_exp", "CHAR(32)", "NULL"),
        Column("timerec", "CHAR(255)", "NULL"),
        Column("disabled", "INTEGER", "0", nullable=False),
        Column("attrs", "CHAR(255)", "NULL"),
    ),
)

DOMAIN = Table(
    "domain",
    4,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("domain", "CHAR(64)", "''", nullable=False),
        Column("attrs", "CHAR(255)", "NULL"),
        Column("accept_subdomain", "INTEGER", "0", nullable=False),
        Column("last_modified", "DATETIME", "'1900-01-01 00:00:01'", nullable=False),
    ),
    unique=(("domain",),),
)

DBALIASES = Table(
    "dbaliases",
    2,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("alias_username", "CHAR(64)", "''", nullable=False),
        Column("alias_domain", "CHAR(64)", "''", nullable=False),
        Column("username", "CHAR(64)", "''", nullable=False),
        Column("domain", "CHAR(64)", "''", nullable=False),
    ),
    unique=(("alias_username", "alias_domain"),),
    indexes=(("username", "domain"),),
)

GRP = Table(
    "grp",
    3,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("username", "CHAR(64)", "''", nullable=False),
        Column("domain", "CHAR(64)", "''", nullable=False),
        Column("grp", "CHAR(64)", "''", nullable=False),
        Column("last_modified", "DATETIME", "'1900-01-01 00:00:01'", nullable=False),
    ),
    unique=(("username", "domain", "grp"),),
)

RE_GRP = Table(
    "re_grp",
    2,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("reg_exp", "CHAR(128)", "''", nullable=False),
        Column("group_id", "INTEGER", "0", nullable=False),
    ),
    indexes=(("group_id",),),
)

REGISTRANT = Table(
    "registrant",
    3,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("registrar", "CHAR(255)", "''", nullable=False),
        Column("proxy", "CHAR(255)", "NULL"),
        Column("aor", "CHAR(255)", "''", nullable=False),
        Column("third_party_registrant", "CHAR(255)", "NULL"),
        Column("username", "CHAR(64)", "NULL"),
        Column("password", "CHAR(64)", "NULL"),
        Column("binding_URI", "CHAR(255)", "''", nullable=False),
        Column("binding_params", "CHAR(64)", "NULL"),
        Column("expiry", "INTEGER", "NULL"),
        Column("forced_socket", "CHAR(64)", "NULL"),
        Column("cluster_shtag", "CHAR(64)", "NULL"),
        Column("state", "INTEGER", "0", nullable=False),
    ),
    unique=(("aor", "binding_URI", "registrar"),),
)

# Routing modules (dispatcher, load_balancer, drouting): OpenSIPS 3.6 layouts
DISPATCHER = Table(
    "dispatcher",
    9,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("setid", "INTEGER", "0", nullable=False),
        Column("destination", "CHAR(192)", "''", nullable=False),
        Column("socket", "CHAR(128)", "NULL"),
        Column("state", "INTEGER", "0", nullable=False),
        Column("probe_mode", "INTEGER", "0", nullable=False),
        Column("weight", "CHAR(64)", "1", nullable=False),
        Column("priority", "INTEGER", "0", nullable=False),
        Column("attrs", "CHAR(128)", "NULL"),
        Column("description", "CHAR(64)", "NULL"),
    ),
)

LOAD_BALANCER = Table(
    "load_balancer",
    3,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("group_id", "INTEGER", "0", nullable=False),
        Column("dst_uri", "CHAR(128)", nullable=False),
        Column("resources", "CHAR(255)", nullable=False),
        Column("probe_mode", "INTEGER", "0", nullable=False),
        Column("attrs", "CHAR(255)", "NULL"),
        Column("description", "CHAR(128)", "NULL"),
    ),
    indexes=(("dst_uri",),),
)

DR_GATEWAYS = Table(
    "dr_gateways",
    6,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("gwid", "CHAR(64)", nullable=False),
        Column("type", "INTEGER", "0", nullable=False),
        Column("address", "CHAR(128)", nullable=False),
        Column("strip", "INTEGER", "0", nullable=False),
        Column("pri_prefix", "CHAR(16)", "NULL"),
        Column("attrs", "CHAR(255)", "NULL"),
        Column("probe_mode", "INTEGER", "0", nullable=False),
        Column("state", "INTEGER", "0", nullable=False),
        Column("socket", "CHAR(128)", "NULL"),
        Column("description", "CHAR(128)", "NULL"),
    ),
    unique=(("gwid",),),
)

DR_RULES = Table(
    "dr_rules",
    4,
    (
        Column("ruleid", "INTEGER", primary_key=True),
        Column("groupid", "CHAR(255)", nullable=False),
        Column("prefix", "CHAR(64)", nullable=False),
        Column("timerec", "CHAR(255)", "NULL"),
        Column("priority", "INTEGER", "0", nullable=False),
        Column("routeid", "CHAR(255)", "NULL"),
        Column("gwlist", "CHAR(255)"),
        Column("sort_alg", "CHAR(1)", "'N'", nullable=False),
        Column("sort_profile", "INTEGER", "NULL"),
        Column("attrs", "CHAR(255)", "NULL"),
        Column("description", "CHAR(128)", "NULL"),
    ),
)

DR_CARRIERS = Table(
    "dr_carriers",
    3,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("carrierid", "CHAR(64)", nullable=False),
        Column("gwlist", "CHAR(255)", nullable=False),
        Column("flags", "INTEGER", "0", nullable=False),
        Column("sort_alg", "CHAR(1)", "'N'", nullable=False),
        Column("state", "INTEGER", "0", nullable=False),
        Column("attrs", "CHAR(255)", "NULL"),
        Column("description", "CHAR(128)", "NULL"),
    ),
    unique=(("carrierid",),),
)

DR_GROUPS = Table(
    "dr_groups",
    2,
    (
        Column("id", "INTEGER", primary_key=True),
        Column("username", "CHAR(64)", nullable=False),
        Column("domain", "CHAR(128)", "NULL"),
        Column("groupid", "INTEGER", "0", nullable=False),
        Column("description", "CHAR(128)", "NULL"),
    ),
)

ROUTING_TABLES = (DISPATCHER, LOAD_BALANCER, DR_GATEWAYS, DR_RULES, DR_CARRIERS, DR_GROUPS)

TABLES: dict[str, Table] = {t.name: t for t in (
    VERSION,
    LOCATION,
    SUBSCRIBER,
    URI,
    ACC,
    MISSED_CALLS,
    USR_PREFERENCES,
    ADDRESS,
    DIALPLAN,
    DOMAIN,
    DBALIASES,
    GRP,
    RE_GRP,
    REGISTRANT,
    *ROUTING_TABLES,
)}

# What `pysips db create` makes, by OpenSIPS module (opensips-cli's "standard" set and ours)
MODULE_TABLES: dict[str, tuple[Table, ...]] = {
    "usrloc": (LOCATION,),
    "auth_db": (SUBSCRIBER, URI),
    "acc": (ACC, MISSED_CALLS),
    "sqlops": (USR_PREFERENCES,),
    "avpops": (USR_PREFERENCES,),
    "permissions": (ADDRESS,),
    "dialplan": (DIALPLAN,),
    "domain": (DOMAIN,),
    "alias_db": (DBALIASES,),
    "group": (GRP, RE_GRP),
    "uac_registrant": (REGISTRANT,),
    "dispatcher": (DISPATCHER,),
    "load_balancer": (LOAD_BALANCER,),
    "drouting": (DR_GATEWAYS, DR_RULES, DR_CARRIERS, DR_GROUPS),
}
