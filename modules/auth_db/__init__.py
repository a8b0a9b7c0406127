"""auth_db: digest authorization against a database table (OpenSIPS module `auth_db`).

www_authorize(realm, table) / proxy_authorize(realm, table) check the Authorization /
Proxy-Authorization credentials of the request against a subscriber-like table: plain passwords
(calculate_ha1=1, HA1 computed per request) or stored HA1 columns (password_column for MD5,
hash_column_sha256, hash_column_sha512t256). Nonce handling and the challenge belong to the auth
module. Also: db_does_uri_exist(), db_is_to_authorized(), db_is_from_authorized(),
db_get_auth_id() (3.x names of the 2.x uri module's db_* checks).
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import DIGEST_AUTH
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
    ParamType,
    check_bool,
)
from pysips.script.pv_base import PVAccessor

from .api import auth_api_of
from .authorize import authorize
from .checks import does_uri_exist, get_auth_id, is_authorized_for
from .config import TABLES_KEY, check_column, check_db_url, config_from, parse_credentials
from .runtime import AuthDb, auth_db_of

__all__ = ["AuthDb", "exports"]

WWW = "authorization"
PROXY = "proxy-authorization"


def _table(kind: str) -> Any:
    def fix(value: Any, fctx: FixupContext) -> str:
        name = str(value).strip()
        if not name or not all(c.isalnum() or c == "_" for c in name):
            raise FixupError(f"bad table name {name!r}", fctx.pos)
        tables = fctx.params.setdefault(TABLES_KEY, {})
        tables.setdefault(name, kind)
        return name

    return fix


def w_www_authorize(ctx: MsgContext, realm: str, table: str) -> int:
    return authorize(auth_db_of(ctx), auth_api_of(ctx), ctx, realm, table, WWW)


def w_proxy_authorize(ctx: MsgContext, realm: str, table: str) -> int:
    return authorize(auth_db_of(ctx), auth_api_of(ctx), ctx, realm, table, PROXY)


def w_does_uri_exist(ctx: MsgContext, uri: str, table: str) -> int:
    return does_uri_exist(auth_db_of(ctx), ctx, uri, table)


def w_is_to_authorized(ctx: MsgContext, table: str) -> int:
    return is_authorized_for(auth_db_of(ctx), ctx, table, "to")


def w_is_from_authorized(ctx: MsgContext, table: str) -> int:
    return is_authorized_for(auth_db_of(ctx), ctx, table, "from")


def w_get_auth_id(
    ctx: MsgContext, table: str, uri: str, auth_user: PVAccessor, auth_realm: PVAccessor
) -> int:
    return get_auth_id(auth_db_of(ctx), ctx, table, uri, auth_user, auth_realm)


def _check_credentials(value: Any) -> list[tuple[str, str]]:
    return parse_credentials(value)


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> AuthDb:
    tables = params.get(TABLES_KEY)
    return AuthDb.open(config_from(params), tables if isinstance(tables, dict) else {})


_SUBSCRIBER = ArgSpec(ArgKind.STR, "table", static=True, fixup=_table("subscriber"))
_URI_TABLE = ArgSpec(ArgKind.STR, "table", static=True, fixup=_table("uri"))
_REALM = ArgSpec(ArgKind.STR, "realm")
_REQ = RouteType.REQUEST
_LOOKUP_ROUTES = RouteType.REQUEST | RouteType.FAILURE | RouteType.LOCAL

exports = ModuleExports(
    "auth_db",
    functions=(
        FunctionExport("www_authorize", w_www_authorize, (_REALM, _SUBSCRIBER), _REQ,
                       doc="check Authorization credentials against the table (1, or -1..-5)"),
        FunctionExport("proxy_authorize", w_proxy_authorize, (_REALM, _SUBSCRIBER), _REQ,
                       doc="check Proxy-Authorization credentials against the table (1, or -1..-5)"),
        FunctionExport("db_does_uri_exist", w_does_uri_exist,
                       (ArgSpec(ArgKind.STR, "uri"), _SUBSCRIBER), _LOOKUP_ROUTES,
                       doc="the URI's user (and domain, with use_domain) is in the table"),
        FunctionExport("db_is_to_authorized", w_is_to_authorized, (_URI_TABLE,), _REQ,
                       doc="the To user may be used with the authenticated credentials (uri table)"),
        FunctionExport("db_is_from_authorized", w_is_from_authorized, (_URI_TABLE,), _REQ,
                       doc="the From user may be used with the authenticated credentials (uri table)"),
        FunctionExport("db_get_auth_id", w_get_auth_id,
                       (_URI_TABLE, ArgSpec(ArgKind.STR, "uri"), ArgSpec(ArgKind.VAR, "auth_user"),
                        ArgSpec(ArgKind.VAR, "auth_realm")), _LOOKUP_ROUTES,
                       doc="the authentication user and realm of a URI (uri table)"),
    ),
    params=(
        ParamExport("db_url", ParamType.STR, None, check=check_db_url),
        ParamExport("user_column", ParamType.STR, "username", check=check_column),
        ParamExport("domain_column", ParamType.STR, "domain", check=check_column),
        ParamExport("password_column", ParamType.STR, "ha1", check=check_column,
                    doc="MD5 HA1 (calculate_ha1=0) or plain password (calculate_ha1=1)"),
        ParamExport("password_column_2", ParamType.STR, None, check=check_column,
                    doc="2.x: HA1 for usernames written user@domain"),
        ParamExport("hash_column_sha256", ParamType.STR, "ha1_sha256", check=check_column),
        ParamExport("hash_column_sha512t256", ParamType.STR, "ha1_sha512t256", check=check_column),
        ParamExport("calculate_ha1", ParamType.INT_OR_STR, 0, check=check_bool),
        ParamExport("use_domain", ParamType.INT_OR_STR, 1, check=check_bool),
        ParamExport("load_credentials", ParamType.STR, "", check=_check_credentials,
                    doc="columns copied into AVPs on success: \"$avp(x)=column;column\""),
        ParamExport("skip_version_check", ParamType.INT_OR_STR, 0, check=check_bool),
        ParamExport("uri_user_column", ParamType.STR, "username", check=check_column),
        ParamExport("uri_domain_column", ParamType.STR, "domain", check=check_column),
        ParamExport("uri_uriuser_column", ParamType.STR, "uri_user", check=check_column),
    ),
    requires=(DIGEST_AUTH,),
    init=_init,
    doc="digest authorization against the subscriber table",
)
