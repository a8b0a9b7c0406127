"""permissions: source address and URI based access control (OpenSIPS module `permissions`).

check_address(group, ip, port, proto[, context_info[, pattern[, partition]]]),
check_source_address(group[, context_info[, pattern[, partition]]]) and
get_source_group(var[, partition]) match against the `address` table of a partition, loaded into
memory at start and by MI `address_reload`; `address_dump` shows it. allow_routing(),
allow_register() and allow_uri() apply OpenSIPS's .allow/.deny rule files.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.db.api import DbError
from pysips.mi import MICall, MIError, command
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
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

from .address import PROTO_ANY, AddressEntry, parse_ip, parse_proto
from .rules import RulePair, load_rules, search
from .runtime import (
    DEFAULT_PARTITION,
    Partition,
    Permissions,
    build_partitions,
    load_partitions,
    parse_partition,
    permissions_of,
    resolve_rule_file,
)

__all__ = ["Permissions", "exports"]

log = logging.getLogger("pysips.modules.permissions")

RULES_KEY = "_rule_files"  # fixup cache: resolved path -> RulePair


# ---- address matching ------------------------------------------------------------------------

def _fix_proto(value: Any, fctx: FixupContext) -> str:
    proto = parse_proto(str(value))
    if proto is None:
        raise FixupError(f"unknown protocol <{value}>", fctx.pos)
    return proto


def _fix_partition(value: Any, fctx: FixupContext) -> str:
    name = str(value).strip()
    known = {parse_partition(str(p)).name for p in fctx.params.get("partition") or []}
    if fctx.params.get("db_url"):
        known.add(DEFAULT_PARTITION)
    if name not in known:
        raise FixupError(f"invoked partition <{name}> not defined", fctx.pos)
    return name


def _partition(ctx: MsgContext, name: str | None) -> Partition | None:
    part = permissions_of(ctx).partition(name)
    if part is None:
        log.error("permissions: partition <%s> not defined", name or DEFAULT_PARTITION)
    return part


def _answer(ctx: MsgContext, found: AddressEntry | int, info: PVAccessor | None) -> int:
    if isinstance(found, int):
        return found
    if info is not None:
        info.set(ctx, found.context_info or "")
    return 1


def w_check_address(ctx: MsgContext, group: int, ip_text: str, port: int, proto: str,
                    info: PVAccessor | None = None, pattern: str | None = None,
                    partition: str | None = None) -> int:
    ip = parse_ip(ip_text)
    if ip is None:
        log.error("invalid ip address <%s>!", ip_text)
        return -1
    part = _partition(ctx, partition)
    if part is None:
        return -1
    return _answer(ctx, part.table.match(group, ip, port, proto, pattern), info)


def w_check_source_address(ctx: MsgContext, group: int, info: PVAccessor | None = None,
                           pattern: str | None = None, partition: str | None = None) -> int:
    rcv = ctx.rcv
    ip = parse_ip(rcv.src_ip) if rcv is not None else None
    part = _partition(ctx, partition)
    if ip is None or rcv is None or part is None:
        return -1
    found = part.table.match(group, ip, rcv.src_port, parse_proto(rcv.proto) or PROTO_ANY, pattern)
    return _answer(ctx, found, info)


def w_get_source_group(ctx: MsgContext, out: PVAccessor, partition: str | None = None) -> int:
    rcv = ctx.rcv
    ip = parse_ip(rcv.src_ip) if rcv is not None else None
    part = _partition(ctx, partition)
    if ip is None or rcv is None or part is None:
        return -1
    group = part.table.find_group(ip, rcv.src_port)
    if group is None:
        return -1
    out.set(ctx, group)
    return 1


# ---- rule files ------------------------------------------------------------------------------

def _fix_basename(value: Any, fctx: FixupContext) -> RulePair:
    base = str(value)
    allow_suffix = str(fctx.params.get("allow_suffix") or ".allow")
    deny_suffix = str(fctx.params.get("deny_suffix") or ".deny")
    cache: dict[str, RulePair] = fctx.params.setdefault(RULES_KEY, {})
    if base not in cache:
        script = fctx.pos.file
        cache[base] = RulePair(load_rules(resolve_rule_file(base + allow_suffix, script)),
                               load_rules(resolve_rule_file(base + deny_suffix, script)))
    return cache[base]


def plain_uri(text: str) -> str | None:
    """sip:user@host (or sip:host), as the rule expressions are written against."""
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        return None
    return f"sip:{uri.user}@{uri.host}" if uri.user else f"sip:{uri.host}"


def _from_uri(msg: SipMessage) -> str | None:
    header = msg.from_header()
    if isinstance(header, ParseError):
        log.error("permissions: failed to parse the From header")
        return None
    return header.uri


def w_allow_routing(ctx: MsgContext, rules: RulePair | None = None) -> int:
    pair = rules if rules is not None else permissions_of(ctx).default_rules
    msg = ctx.msg
    if pair.empty:
        return 1
    if not isinstance(msg, SipMessage):
        return -1
    from_uri = _from_uri(msg)
    ruri = plain_uri(ctx.new_ruri or msg.ruri)
    if from_uri is None or ruri is None:
        return -1
    check_all = permissions_of(ctx).check_all_branches
    if search(pair.allow, from_uri, ruri):
        if not check_all:
            return 1
    elif search(pair.deny, from_uri, ruri):
        return -1
    elif not check_all:
        return 1
    for branch in ctx.branches:
        target = plain_uri(str(branch.get("uri") or ""))
        if target is None:
            return -1
        if search(pair.allow, from_uri, target):
            continue
        if search(pair.deny, from_uri, target):
            return -1
    return 1


def w_allow_register(ctx: MsgContext, rules: RulePair) -> int:
    if rules.empty:
        return 1
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    to = msg.to_header()
    contacts = msg.contacts()
    if isinstance(to, ParseError) or isinstance(contacts, ParseError):
        log.error("permissions: failed to parse To or Contact")
        return -1
    for contact in contacts:
        if contact.star:
            continue
        target = plain_uri(contact.uri)
        if target is None:
            return -1
        if search(rules.allow, to.uri, target):
            continue
        if search(rules.deny, to.uri, target):
            return -1
    return 1


def w_allow_uri(ctx: MsgContext, rules: RulePair, uri: str) -> int:
    if rules.empty:
        return 1
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    from_uri = _from_uri(msg)
    target = plain_uri(uri)
    if from_uri is None or target is None:
        return -1
    if search(rules.allow, from_uri, target):
        return 1
    if search(rules.deny, from_uri, target):
        return -1
    return 1


# ---- lifecycle and MI ------------------------------------------------------------------------

def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Permissions:
    parts = build_partitions(params)
    load_partitions(parts)
    script_files = getattr(getattr(ictx.script, "script", None), "files", ()) or ("opensips.cfg",)
    main = str(script_files[0])
    default_rules = RulePair(
        load_rules(resolve_rule_file(str(params["default_allow_file"]), main)),
        load_rules(resolve_rule_file(str(params["default_deny_file"]), main)))
    return Permissions(parts, default_rules, bool(params["check_all_branches"]))


def _destroy(runtime: object) -> None:
    if isinstance(runtime, Permissions):
        runtime.close()


def _runtime(call: MICall) -> Permissions:
    found = call.process.modules.get("permissions")
    if not isinstance(found, Permissions):
        raise MIError(500, "permissions is not initialised")
    return found


def _dump_entries(part: Partition, subnets: bool) -> list[dict[str, Any]]:
    """address_dump lists single addresses (mask 32 or 128), subnet_dump the others, the mask
    then written as an address (255.255.255.224) as OpenSIPS prints it."""
    return [{"grp": e.group, "ip": str(e.net.network_address),
             "mask": str(e.net.netmask) if subnets else str(e.net.prefixlen),
             "port": e.port, "proto": e.proto, "pattern": e.pattern or "",
             "context_info": e.context_info or ""}
            for e in part.table.entries() if e.is_host != subnets]


def mi_address_reload(call: MICall) -> Any:
    for part in _runtime(call).partitions.values():
        try:
            part.reload()
        except DbError as exc:
            log.error("permissions: reloading partition %s: %s", part.name, exc)
            raise MIError(400, f"failed to reload partition  {part.name}!") from None
    return "OK"


def mi_address_reload_part(call: MICall) -> Any:
    part = _runtime(call).partitions.get(call.get_str("partition"))
    if part is None:
        raise MIError(400, "Trusted table reload failed")
    try:
        part.reload()
    except DbError as exc:
        log.error("permissions: reloading partition %s: %s", part.name, exc)
        raise MIError(500, "Failed to reolad") from None
    return "OK"


def mi_address_dump(call: MICall) -> Any:
    return {"Partitions": [{"name": p.name, "Destinations": _dump_entries(p, False)}
                           for p in _runtime(call).partitions.values()]}


def mi_address_dump_part(call: MICall) -> Any:
    part = _runtime(call).partitions.get(call.get_str("partition"))
    if part is None:
        raise MIError(404, "No such partition")
    return {"part": part.name, "Destinations": _dump_entries(part, False)}


def mi_subnet_dump(call: MICall) -> Any:
    return {"Partitions": [{"name": p.name, "Destinations": _dump_entries(p, True)}
                           for p in _runtime(call).partitions.values()]}


def mi_subnet_dump_part(call: MICall) -> Any:
    part = _runtime(call).partitions.get(call.get_str("partition"))
    if part is None:
        raise MIError(404, "No such partition")
    return {"part": part.name, "Destinations": _dump_entries(part, True)}


_PART = ArgSpec(ArgKind.STR, "partition", optional=True, fixup=_fix_partition)
_INFO = ArgSpec(ArgKind.VAR, "context_info", optional=True)
_PATTERN = ArgSpec(ArgKind.STR, "pattern", optional=True)
_BASENAME = ArgSpec(ArgKind.STR, "basename", static=True, fixup=_fix_basename)
_SIP_ROUTES = RouteType.REQUEST | RouteType.FAILURE | RouteType.LOCAL | RouteType.BRANCH
_ANY_ROUTES = _SIP_ROUTES | RouteType.STARTUP | RouteType.TIMER | RouteType.EVENT
_RULE_ROUTES = RouteType.REQUEST | RouteType.FAILURE | RouteType.LOCAL


def _str_param(name: str, default: str) -> ParamExport:
    return ParamExport(name, ParamType.STR, default)


exports = ModuleExports(
    "permissions",
    functions=(
        FunctionExport("check_address", w_check_address,
                       (ArgSpec(ArgKind.INT, "group"), ArgSpec(ArgKind.STR, "ip"),
                        ArgSpec(ArgKind.INT, "port"),
                        ArgSpec(ArgKind.STR, "proto", fixup=_fix_proto),
                        _INFO, _PATTERN, _PART), _ANY_ROUTES,
                       doc="the address is in the group (0 any) of the address table"),
        FunctionExport("check_source_address", w_check_source_address,
                       (ArgSpec(ArgKind.INT, "group"), _INFO, _PATTERN, _PART), _SIP_ROUTES,
                       doc="the message's source is in the group (0 any) of the address table"),
        FunctionExport("get_source_group", w_get_source_group,
                       (ArgSpec(ArgKind.VAR, "var"), _PART), _SIP_ROUTES,
                       doc="the group of the message's source, into the variable"),
        FunctionExport("allow_routing", w_allow_routing,
                       (ArgSpec(ArgKind.STR, "basename", optional=True, static=True,
                                fixup=_fix_basename),), _RULE_ROUTES,
                       doc="From and R-URI (and branches) are allowed by the .allow/.deny files"),
        FunctionExport("allow_register", w_allow_register, (_BASENAME,), _RULE_ROUTES,
                       doc="the REGISTER's Contacts are allowed for its To by the rule files"),
        FunctionExport("allow_uri", w_allow_uri, (_BASENAME, ArgSpec(ArgKind.STR, "uri")),
                       _ANY_ROUTES, doc="the URI is allowed for the From by the rule files"),
    ),
    params=(
        ParamExport("db_url", ParamType.STR, None),
        _str_param("address_table", "address"),
        _str_param("ip_col", "ip"),
        _str_param("proto_col", "proto"),
        _str_param("pattern_col", "pattern"),
        _str_param("info_col", "context_info"),
        _str_param("grp_col", "grp"),
        _str_param("mask_col", "mask"),
        _str_param("port_col", "port"),
        ParamExport("partition", ParamType.STR, None, multi=True,
                    doc="\"name: db_url=URL; table_name=T\""),
        _str_param("default_allow_file", "permissions.allow"),
        _str_param("default_deny_file", "permissions.deny"),
        _str_param("allow_suffix", ".allow"),
        _str_param("deny_suffix", ".deny"),
        ParamExport("check_all_branches", ParamType.INT_OR_STR, 1, check=check_bool),
    ),
    init=_init,
    destroy=_destroy,
    mi_commands=(
        command("address_reload", "reload the address table",
                {(): mi_address_reload, ("partition",): mi_address_reload_part}, "permissions"),
        command("address_dump", "the address table entries (single addresses)",
                {(): mi_address_dump, ("partition",): mi_address_dump_part}, "permissions"),
        command("subnet_dump", "the address table entries that are subnets",
                {(): mi_subnet_dump, ("partition",): mi_subnet_dump_part}, "permissions"),
    ),
    doc="address and URI based permissions (address table, .allow/.deny files)",
)
