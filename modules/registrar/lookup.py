"""lookup(), registered(), is_registered(), is_contact_registered(), remove().

lookup() turns the bindings of an AOR into forwarding targets: the best (highest q) one becomes
the new R-URI (with $du from Path or `received`, its branch flags and socket), the others become
branches tm forks in parallel. Return codes as OpenSIPS: 1 found, -1 none, -2 none allows the
method, -3 internal error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pysips.core.replies import RURI_Q
from pysips.script.context import RURI_ATTRS_KEY, MsgContext
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.nameaddr import parse_name_addr_list
from pysips.sip.uri import parse_uri

from .aor import aor_key
from .flags import BRANCH_AOR, METHOD_FILTER, NO_BRANCHES, TO_BRANCHES_ONLY, LookupFlags
from .runtime import Registrar, now_of

if TYPE_CHECKING:
    from pysips.core.services import LocationContact as UContact

log = logging.getLogger("pysips.registrar")

FOUND = 1
NOT_FOUND = -1
METHOD_UNSUPPORTED = -2
INTERNAL_ERROR = -3


def _aor(reg: Registrar, uri: str) -> str | None:
    return aor_key(uri, reg.usrloc.config.use_domain, reg.config.case_sensitive, reg.config.realm_prefix)


def _select(contacts: list[UContact], method: str, lflags: LookupFlags,
            now: float) -> tuple[list[UContact], int]:
    ret = NOT_FOUND
    chosen: list[UContact] = []
    for c in contacts:
        if not c.is_valid(now):
            continue
        if ret == NOT_FOUND:
            ret = METHOD_UNSUPPORTED
        if lflags.flags & METHOD_FILTER and not c.allows(method):
            continue
        if ret == METHOD_UNSUPPORTED:
            ret = NOT_FOUND
        if lflags.ua_regex is not None and not lflags.ua_regex.search(c.user_agent):
            continue
        ret = FOUND
        chosen.append(c)
    return chosen, ret


def path_destination(path: str) -> str | None:
    """The first Path URI: where a request to a binding registered through a proxy goes first."""
    hops = parse_name_addr_list([path])
    if isinstance(hops, ParseError) or not hops:
        return None
    return hops[0].uri


def _socket(ctx: MsgContext, name: str | None) -> Any:
    core: Any = ctx.process.core
    if core is None or not name:
        return None
    for sock in core.sockets:
        if sock.name == name:
            return sock
    return None


def _branch(ctx: MsgContext, c: UContact) -> dict[str, Any] | None:
    dst = c.received
    if c.path:
        dst = path_destination(c.path)
        if dst is None:
            log.error("lookup: bad Path %r stored for %s", c.path, c.aor)
            return None
    return {"uri": c.uri, "dst_uri": dst, "bflags": c.cflags, "force_socket": _socket(ctx, c.socket),
            "path": c.path, "q": c.q if c.q >= 0 else None}


def _set_ruri(ctx: MsgContext, msg: SipMessage | None, c: UContact) -> bool:
    dst = c.received
    if c.path:
        dst = path_destination(c.path)
        if dst is None:
            log.error("lookup: bad Path %r stored for %s", c.path, c.aor)
            return False
        if msg is not None:
            # Path becomes the route set of the request (RFC 3327 section 5.3); insertions at one
            # offset keep their order, so the first hop is inserted first
            hops = parse_name_addr_list([c.path])
            for hop in hops if isinstance(hops, list) else []:
                msg.insert_header(f"Route: {hop.text}")
    ctx.new_ruri = c.uri
    if c.q >= 0:
        ctx.extra[RURI_Q] = c.q  # the R-URI's q, as OpenSIPS's set_ruri_q() (a 3xx prints it)
    else:
        ctx.extra.pop(RURI_Q, None)
    ctx.dst_uri = dst
    ctx.bflags |= c.cflags
    sock = _socket(ctx, c.socket)
    if sock is not None:
        ctx.force_socket = sock
    return True


def lookup(reg: Registrar, ctx: MsgContext, domain: str, lflags: LookupFlags, aor_uri: str | None) -> int:
    msg = ctx.msg if isinstance(ctx.msg, SipMessage) else None
    method = msg.method if msg is not None else ""
    if aor_uri is None:
        if msg is None or not msg.is_request:
            log.error("lookup: no AOR given and no request URI")
            return INTERNAL_ERROR
        aor_uri = ctx.new_ruri or msg.ruri
    aor = _aor(reg, aor_uri)
    if aor is None:
        return NOT_FOUND
    now = now_of(ctx)
    dom = reg.usrloc.domain(domain)
    rec = dom.get(aor)
    chosen, ret = _select(rec.contacts if rec is not None else [], method, lflags, now)
    if lflags.flags & BRANCH_AOR:
        extra, extra_ret = _expand_branches(reg, ctx, domain, method, lflags, now)
        chosen += extra
        ret = max(ret, extra_ret) if ret < 0 and extra_ret < 0 else (FOUND if chosen else ret)
    if not chosen:
        return ret
    rest = chosen
    attr_name = reg.config.attr_avp
    if not lflags.flags & TO_BRANCHES_ONLY:
        if not _set_ruri(ctx, msg, chosen[0]):
            return INTERNAL_ERROR
        if attr_name is not None:
            # attr_avp: the binding's saved value becomes $msg.branch.attr(name) of its branch
            attrs = ctx.extra.setdefault(RURI_ATTRS_KEY, {})
            if chosen[0].attr is not None:
                attrs[attr_name] = chosen[0].attr
            else:
                attrs.pop(attr_name, None)
        rest = chosen[1:]
    if lflags.flags & NO_BRANCHES and not lflags.flags & TO_BRANCHES_ONLY:
        return FOUND
    for c in rest:
        branch = _branch(ctx, c)
        if branch is not None:
            if attr_name is not None and c.attr is not None:
                branch["attrs"] = {attr_name: c.attr}
            ctx.branches.append(branch)
    return FOUND


def _expand_branches(reg: Registrar, ctx: MsgContext, domain: str, method: str, lflags: LookupFlags,
                     now: float) -> tuple[list[UContact], int]:
    """The 'branch' flag: branches holding AORs are replaced by those AORs' bindings."""
    dom = reg.usrloc.domain(domain)
    found: list[UContact] = []
    ret = NOT_FOUND
    kept: list[dict[str, Any]] = []
    for branch in ctx.branches:
        uri = branch.get("uri")
        aor = _aor(reg, uri) if isinstance(uri, str) else None
        rec = dom.get(aor) if aor is not None else None
        if rec is None:
            kept.append(branch)
            continue
        chosen, r = _select(rec.contacts, method, lflags, now)
        found += chosen
        ret = max(ret, r)
    ctx.branches[:] = kept
    return found, ret


def _default_aor(ctx: MsgContext, to_for_register: bool) -> str | None:
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return None
    if not to_for_register:
        return ctx.new_ruri or msg.ruri if msg.is_request else None
    return msg.to.uri if msg.method == "REGISTER" else msg.from_.uri


def registered(reg: Registrar, ctx: MsgContext, domain: str, aor_uri: str | None,
               callid: str | None = None, to_for_register: bool = False) -> int:
    uri = aor_uri or _default_aor(ctx, to_for_register)
    aor = _aor(reg, uri) if uri else None
    if aor is None:
        return -1
    rec = reg.usrloc.domain(domain).get(aor)
    if rec is None:
        return -1
    now = now_of(ctx)
    for c in rec.contacts:
        if c.is_valid(now) and (callid is None or c.callid == callid):
            return 1
    return -1


def is_contact_registered(reg: Registrar, ctx: MsgContext, domain: str, aor_uri: str | None,
                          contact: str | None, callid: str | None) -> int:
    uri = aor_uri or _default_aor(ctx, True)
    aor = _aor(reg, uri) if uri else None
    if aor is None:
        return -1
    if contact is None and callid is None and isinstance(ctx.msg, SipMessage):
        cts = ctx.msg.contacts()
        contact = cts[0].uri if isinstance(cts, list) and cts and not cts[0].star else None
    rec = reg.usrloc.domain(domain).get(aor)
    if rec is None:
        return -1
    now = now_of(ctx)
    for c in rec.contacts:
        if not c.is_valid(now):
            continue
        if (contact is None or c.uri == contact) and (callid is None or c.callid == callid):
            return 1
    return -1


def _hostport_of(uri: str) -> tuple[str, int] | None:
    parsed = parse_uri(uri)
    if isinstance(parsed, ParseError):
        return None
    return parsed.host.strip("[]").lower(), parsed.port or (5061 if parsed.scheme == "sips" else 5060)


def _next_hop(c: UContact) -> tuple[str, int] | None:
    """Where requests to this binding go first: Path, else received, else the Contact itself."""
    if c.path:
        first = path_destination(c.path)
        return _hostport_of(first) if first else None
    return _hostport_of(c.received or c.uri)


def remove(reg: Registrar, ctx: MsgContext, domain: str, aor_uri: str, contact: str | None,
           next_hop: str | None, instance: str | None) -> int:
    aor = _aor(reg, aor_uri)
    if aor is None:
        log.error("remove: bad AOR %r", aor_uri)
        return -1
    dom = reg.usrloc.domain(domain)
    rec = dom.get(aor)
    if rec is None:
        return -1
    hop = next_hop.strip("[]").lower() if next_hop else None
    removed = 0
    for c in list(rec.contacts):
        if contact is not None and c.uri != contact:
            continue
        if instance is not None and c.instance != instance:
            continue
        if hop is not None and (_next_hop(c) or ("", 0))[0] != hop:
            continue
        if dom.delete(rec, c):
            removed += 1
    return 1 if removed else -1


def remove_ip_port(reg: Registrar, ctx: MsgContext, ip: str, port: int, domain: str,
                   aor_uri: str | None) -> int:
    """Removes the bindings whose next hop is ip:port (of one AOR, or of all)."""
    dom = reg.usrloc.domain(domain)
    target = (ip.strip("[]").lower(), port)
    if aor_uri is not None:
        aor = _aor(reg, aor_uri)
        found = dom.get(aor) if aor is not None else None
        records = [found] if found is not None else []
    else:
        records = list(dom.records.values())
        if not records and dom.mode == 3:  # database only: scan the table
            by_aor: dict[str, list[UContact]] = {}
            for c in dom.all_contacts():
                by_aor.setdefault(c.aor, []).append(c)
            records = [r for r in (dom.get(a) for a in by_aor) if r is not None]
    removed = 0
    for rec in records:
        for c in list(rec.contacts):
            if _next_hop(c) == target and dom.delete(rec, c):
                removed += 1
    return 1 if removed else -1
