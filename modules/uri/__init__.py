"""uri: the OpenSIPS 2.x `uri` module (removed in 3.x, its functions spread over other modules).

Scripts written for 2.x load it and set its parameters (the seed: `modparam("uri",
"use_uri_table", 0)`), so the module and every parameter exist. The database checks
db_check_to(), db_check_from(), db_does_uri_exist() and db_get_auth_id() work over `db_url` (see
dbchecks.py); the AAA ones are declared, and using one is a load error naming it.
has_user_part() and uri_param() need nothing but the message;
has_totag(), is_uri_user_e164(), tel2sip(), add_uri_param() and del_uri_param(), which 3.x moved to
sipmsgops, answer as fallbacks when sipmsgops is not loaded.
"""

from __future__ import annotations

from typing import Any

from pysips.script.context import MsgContext, RouteType
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    fallback_alias,
)
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

from .dbchecks import UriDb, check_header_user, config_from, does_uri_exist, get_auth_id, open_uri_db

_NEEDS_AAA = "needs an AAA (RADIUS/Diameter) client, which pysips does not have"


def _current_ruri(ctx: MsgContext) -> SipUri | None:
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        return None
    parsed = parse_uri(ctx.new_ruri or msg.ruri)
    return parsed if isinstance(parsed, SipUri) else None


def has_user_part(ctx: MsgContext) -> int:
    """The R-URI has a user part."""
    uri = _current_ruri(ctx)
    return 1 if uri is not None and uri.user else -1


def uri_param(ctx: MsgContext, name: str, value: str | None = None) -> int:
    """The R-URI has the parameter (with this value when given)."""
    uri = _current_ruri(ctx)
    if uri is None:
        return -1
    key = name.lower()
    if key not in uri.params:
        return -1
    if value is None:
        return 1
    return 1 if uri.params[key] == value else -1


def _check_to(ctx: MsgContext) -> int:
    return check_header_user(ctx, "to")


def _check_from(ctx: MsgContext) -> int:
    return check_header_user(ctx, "from")


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> UriDb:
    return open_uri_db(config_from(params))


def _unavailable(ctx: MsgContext, *args: object) -> int:
    return -1


def _missing(name: str, arity: int, why: str) -> FunctionExport:
    args = tuple(ArgSpec(ArgKind.ANY, f"arg{i + 1}", optional=True) for i in range(arity))
    return FunctionExport(name, _unavailable, args, RouteType.REQUEST, missing=why)


exports = ModuleExports(
    "uri",
    functions=(
        FunctionExport("has_user_part", has_user_part, (), RouteType.REQUEST | RouteType.FAILURE,
                       doc="the R-URI has a user part"),
        FunctionExport(
            "uri_param",
            uri_param,
            (ArgSpec(ArgKind.STR, "name"), ArgSpec(ArgKind.STR, "value", optional=True)),
            RouteType.REQUEST | RouteType.FAILURE | RouteType.BRANCH,
            doc="the R-URI has the parameter (with this value)",
        ),
        # Functions of the 1.x/2.x uri module that 3.x moved to sipmsgops (two renamed).
        fallback_alias("has_totag", "sipmsgops"),
        fallback_alias("is_uri_user_e164", "sipmsgops"),
        fallback_alias("tel2sip", "sipmsgops", "ruri_tel2sip"),
        fallback_alias("add_uri_param", "sipmsgops", "ruri_add_param"),
        fallback_alias("del_uri_param", "sipmsgops", "ruri_del_param"),
        FunctionExport("db_check_to", _check_to, (), RouteType.REQUEST,
                       doc="the To user may be used by the authenticated user"),
        FunctionExport("db_check_from", _check_from, (), RouteType.REQUEST,
                       doc="the From user may be used by the authenticated user"),
        FunctionExport("db_does_uri_exist", does_uri_exist, (), RouteType.REQUEST,
                       doc="the R-URI user is in db_table"),
        FunctionExport(
            "db_get_auth_id", get_auth_id,
            (ArgSpec(ArgKind.STR, "uri"), ArgSpec(ArgKind.VAR, "auth_user"),
             ArgSpec(ArgKind.VAR, "auth_realm")),
            RouteType.REQUEST | RouteType.FAILURE | RouteType.LOCAL,
            doc="the digest user and realm a URI maps to (uri table)",
        ),
        _missing("aaa_does_uri_exist", 1, _NEEDS_AAA),
        _missing("aaa_does_uri_user_exist", 1, _NEEDS_AAA),
    ),
    params=(
        ParamExport("db_url", ParamType.STR, None, doc="database URL of the db_* functions"),
        ParamExport("db_table", ParamType.STR, "subscriber", doc="table to check users in"),
        ParamExport("user_column", ParamType.STR, "username"),
        ParamExport("domain_column", ParamType.STR, "domain"),
        ParamExport("uriuser_column", ParamType.STR, "uri_user"),
        ParamExport("use_uri_table", ParamType.INT, 0, doc="check the 'uri' table instead of subscriber"),
        ParamExport("use_domain", ParamType.INT, 0, doc="match the domain too"),
        ParamExport("aaa_url", ParamType.STR, None),
        ParamExport("service_type", ParamType.INT, 10),
        ParamExport("use_sip_uri_host", ParamType.INT, 0),
    ),
    init=_init,
    doc="URI checks of OpenSIPS 2.x (the AAA checks are not available).",
)
