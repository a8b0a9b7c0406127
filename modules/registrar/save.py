"""save(): process a REGISTER against usrloc (RFC 3261 section 10.3) and answer it.

Order of checks follows OpenSIPS (lib/reg + registrar/save.c): Contact syntax and `*` rules, AOR,
then per Contact: expiry, matching an existing binding (Contact URI, or +sip.instance/reg-id per
RFC 5626), the Call-ID/CSeq ordering check, max-contacts. The 200 OK lists every binding left.
"""

from __future__ import annotations

import logging
import random
import sys
from typing import TYPE_CHECKING

from pysips.script.context import MsgContext
from pysips.script.errinfo import set_parse_error
from pysips.sip.errors import ParseError
from pysips.sip.headers import unquote
from pysips.sip.message import SipMessage
from pysips.sip.nameaddr import Contact
from pysips.sip.receive import ReceiveInfo

from . import errors as E
from .aor import aor_key
from .errors import RegError
from .flags import (
    FORCE_REG,
    MEMORY_ONLY,
    NO_REPLY,
    PATH_ANY,
    PATH_OFF,
    PATH_RECEIVED,
    PATH_STRICT,
    REQ_CT_ONLY,
    SOCKET_HEADER,
    SaveFlags,
)
from .reply import contact_header, send, send_error
from .runtime import Registrar, now_of

if TYPE_CHECKING:
    from pysips.core.services import LocationContact as UContact
    from pysips.core.services import LocationDomain as UDomain
    from pysips.core.services import LocationRecord as URecord
    from pysips.core.services import LocationService

log = logging.getLogger("pysips.registrar")

# asked of the transport when tcp_persistent_flag is set: (connection id, seconds to stay open)
CONN_LIFETIME = "core.conn_lifetime"

# usrloc constants, repeated to keep modules independent at import time
FL_MEM = 1
RETRANSMISSION = -2
BAD_CSEQ = -1

# $err.info of the header parse failures save() meets (OpenSIPS parse_contact / parse_rr wording)
_PARSE_ERROR_INFO = {E.PARSE_CONT: "error parsing CONTACT headers", E.PARSE_PATH: "error parsing RR headers"}


class _Request:
    """What every binding of one REGISTER shares."""

    __slots__ = ("attr", "callid", "cflags", "conn_id", "cseq", "flags", "methods", "path", "rcv",
                 "received", "socket", "user_agent")

    def __init__(self, callid: str, cseq: int, flags: int, cflags: int, user_agent: str) -> None:
        self.callid = callid
        self.cseq = cseq
        self.flags = flags  # usrloc's FL_MEM or 0
        self.cflags = cflags
        self.user_agent = user_agent
        self.received: str | None = None
        self.path: str | None = None
        self.socket: str | None = None
        self.methods: int | None = None
        self.conn_id = 0
        self.rcv: ReceiveInfo | None = None
        self.attr: str | None = None  # attr_avp's value


def save(reg: Registrar, ctx: MsgContext, domain: str, sflags: SaveFlags, aor_uri: str | None,
         forced: list[Contact] | None = None) -> int:
    """1 saved and answered, -2 refused (answered unless no-reply), -1 the reply could not be sent.
    `forced` replaces the request's Contacts (the binding a reply imposed, see reply_save.py)."""
    msg = ctx.msg
    flags = sflags.flags
    if not isinstance(msg, SipMessage) or not msg.is_request:
        log.error("save: no request to process")
        return -1
    try:
        headers = _save(reg, ctx, msg, domain, sflags, aor_uri, forced)
    except RegError as err:
        reg.rejected += 1
        log.info("save: %s %s: %s (AOR from %s)", err.code, err.reason, err.info, aor_uri or msg.to.uri)
        parse_info = _PARSE_ERROR_INFO.get(err.info)
        if parse_info is not None:
            set_parse_error(ctx, parse_info)  # for the script's error_route, as OpenSIPS's parsers
        send_error(ctx, err, reg.config.retry_after, bool(flags & NO_REPLY))
        return -2
    reg.accepted += 1
    if flags & NO_REPLY:
        return 1
    return 1 if send(ctx, 200, "OK", headers) else -1


def _save(reg: Registrar, ctx: MsgContext, msg: SipMessage, domain: str, sflags: SaveFlags,
          aor_uri: str | None, forced: list[Contact] | None = None) -> tuple[str, ...]:
    cfg = reg.config
    flags = sflags.flags
    contacts = msg.contacts() if forced is None else forced
    if isinstance(contacts, ParseError):
        raise RegError(400, E.PARSE_CONT)
    star = _is_wildcard(msg, contacts, cfg.max_contact_len)

    ul = reg.usrloc
    aor = aor_key(aor_uri or msg.to.uri, ul.config.use_domain, cfg.case_sensitive, cfg.realm_prefix)
    if aor is None:
        raise RegError(400, E.AOR_PARSE)
    user, _, host = aor.rpartition("@") if "@" in aor else (aor, "", "")
    if len(aor) > cfg.max_aor_len or len(user) > cfg.max_username_len or len(host) > cfg.max_domain_len:
        raise RegError(500, E.AOR_LEN)

    now = now_of(ctx)
    dom = ul.domain(domain)
    extra_headers: list[str] = []
    shared = _shared(reg, ul, ctx, msg, flags, extra_headers)

    if star:
        rec = dom.get(aor)
        if rec is not None:
            for binding in list(rec.contacts):
                binding.flags = (binding.flags | FL_MEM) if flags & MEMORY_ONLY else (binding.flags & ~FL_MEM)
                if not dom.delete(rec, binding):
                    raise RegError(500, E.UL_DEL_C)
        return tuple(extra_headers)

    if contacts:
        if cfg.reject_brief_expires:
            _brief_check(reg, msg, contacts, sflags)
        rec = _update(reg, ul, dom, msg, aor, contacts, sflags, shared, now)
    else:
        rec = dom.get(aor)
    if rec is not None and cfg.tcp_persistent_flag and ctx.flags & cfg.tcp_persistent_flag:
        _keep_connection(ctx, rec, now)
    if rec is not None:
        header = _binding_list(reg, rec, contacts if flags & REQ_CT_ONLY else None, now)
        if header:
            extra_headers.insert(0, header)
    return tuple(extra_headers)


def _is_wildcard(msg: SipMessage, contacts: list[Contact], max_contact_len: int) -> bool:
    """True for `Contact: *` (remove every binding), after its rules; refuses an overlong URI."""
    star = too_long = False
    for c in contacts:  # one pass: REGISTERs mostly carry a single Contact
        if c.star:
            star = True
        elif len(c.uri) > max_contact_len:
            too_long = True
    if star:
        if len(contacts) > 1:
            raise RegError(400, E.STAR_CONT)
        # RFC 3261 10.3 step 6 and OpenSIPS: a missing or unparsable Expires is not zero either
        if msg.expires() != 0:
            raise RegError(400, E.STAR_EXP)
    elif too_long:
        raise RegError(400, E.CONTACT_LEN)
    return star


def _shared(reg: Registrar, ul: LocationService, ctx: MsgContext, msg: SipMessage, flags: int,
            out: list[str]) -> _Request:
    cfg = reg.config
    s = _Request(
        msg.call_id, msg.cseq.number, FL_MEM if flags & MEMORY_ONLY else 0, ctx.bflags,
        # shared by many bindings: interned, so that each binding does not keep its own copy
        sys.intern((msg.header("user-agent") or "")[:255]),
    )
    if cfg.attr_avp is not None:
        values = ctx.avps.get(cfg.attr_avp)
        if values:
            s.attr = str(values[0])
    allow = msg.headers("allow")
    if allow:
        s.methods = ul.methods_mask(",".join(allow))
    rcv = s.rcv = ctx.rcv
    if rcv is not None:
        s.socket = _socket_name(rcv.proto, rcv.local_ip, rcv.local_port)
        if rcv.proto != "udp":
            s.conn_id = rcv.conn_id
    if flags & SOCKET_HEADER and cfg.sock_hdr_name:
        value = msg.header(cfg.sock_hdr_name)
        if value:
            s.socket = value.strip()
    if cfg.received_avp:
        values = ctx.avps.get(cfg.received_avp)
        if values and values[0] is not None and str(values[0]):
            s.received = str(values[0])
    if flags & PATH_ANY:
        _path(msg, flags, s, ul.nat_flag, out)
    return s


# (proto, ip, port) of our listeners -> "proto:ip:port", the `socket` column's spelling
_SOCKET_NAMES: dict[tuple[str, str, int], str] = {}


def _socket_name(proto: str, ip: str, port: int) -> str:
    key = (proto, ip, port)
    name = _SOCKET_NAMES.get(key)
    if name is None:
        host = f"[{ip}]" if ":" in ip else ip
        name = _SOCKET_NAMES[key] = sys.intern(f"{proto}:{host}:{port}")
    return name


def _path(msg: SipMessage, flags: int, s: _Request, nat_flag: int, out: list[str]) -> None:
    hops = msg.name_addrs("path")
    if isinstance(hops, ParseError):
        raise RegError(400, E.PARSE_PATH)
    if not hops:
        return
    text = ",".join(msg.headers("path"))
    supported = "path" in msg.option_tags("supported")
    if flags & PATH_STRICT and not supported:
        raise RegError(420, E.PATH_UNSUP, ("Unsupported: path", f"Path: {text}"))
    s.path = text
    if flags & PATH_RECEIVED:
        received = hops[0].parsed_uri()
        if not isinstance(received, ParseError):
            value = received.params.get("received")
            if value:
                s.received = unquote(value)
                s.cflags |= nat_flag
    if supported and not flags & PATH_OFF:
        out.append(f"Path: {text}")


def _requested_expires(msg: SipMessage, c: Contact, default: int) -> int:
    # as OpenSIPS: an `expires` parameter without a value counts as absent (the header decides),
    # one that is not a number gives default_expires
    if c.params.get("expires"):
        value = c.expires
        return default if value is None else value
    header = msg.expires()
    return default if header is None else header


def _limits(reg: Registrar, sflags: SaveFlags) -> tuple[int, int]:
    cfg = reg.config
    lo = cfg.min_expires if sflags.min_expires is None else sflags.min_expires
    hi = cfg.max_expires if sflags.max_expires is None else sflags.max_expires
    return lo, hi


def _brief_check(reg: Registrar, msg: SipMessage, contacts: list[Contact], sflags: SaveFlags) -> None:
    """RFC 3261 10.3 step 7, when reject_brief_expires is set: refuse rather than raise a short
    expiry."""
    lo, _ = _limits(reg, sflags)
    for c in contacts:
        e = _requested_expires(msg, c, reg.config.default_expires)
        if 0 < e < lo:
            raise RegError(423, E.INTERVAL_BRIEF, (f"Min-Expires: {lo}",))


def _expires(reg: Registrar, msg: SipMessage, c: Contact, limits: tuple[int, int], now: float) -> int:
    """Absolute expiry (0 = remove) of one Contact, within the (min, max) limits."""
    cfg = reg.config
    e = _requested_expires(msg, c, cfg.default_expires)
    if e == 0:
        return 0
    lo, hi = limits
    if e < lo:
        e = lo
    if hi and e > hi:
        e = hi
    if cfg.expires_max_deviation:
        e = max(1, e + random.randint(-cfg.expires_max_deviation, cfg.expires_max_deviation))
    return int(now) + e


def _q(reg: Registrar, c: Contact) -> float:
    if "q" not in c.params:
        return reg.config.default_q
    q = c.q
    if q is None:
        raise RegError(400, E.INV_Q)
    return q


def _invalid_host_route(c: Contact, rcv: ReceiveInfo) -> str | None:
    """pysips addition: a `.invalid` Contact host (RFC 7118 browsers) can never be resolved, so the
    binding is reached at the address the REGISTER came from, over that connection."""
    uri = c.parsed_uri()
    if isinstance(uri, ParseError) or not uri.host.lower().endswith(".invalid"):
        return None
    ip = f"[{rcv.src_ip}]" if ":" in rcv.src_ip else rcv.src_ip
    return f"sip:{ip}:{rcv.src_port};transport={rcv.proto}"


def _new_binding(reg: Registrar, ul: LocationService, aor: str, c: Contact, expires: int, s: _Request,
                 now: float) -> UContact:
    received = s.received
    if received is None:
        value = c.params.get("received")
        if value:
            received = unquote(value)
        elif s.rcv is not None and s.path is None:  # behind a Path, the edge proxy delivers
            received = _invalid_host_route(c, s.rcv)
    methods = s.methods
    param = c.params.get("methods")
    if param:
        methods = ul.methods_mask(unquote(param))
    return ul.new_contact(
        aor, c.uri, expires, q=_q(reg, c), callid=s.callid, cseq=s.cseq, flags=s.flags,
        cflags=s.cflags, user_agent=s.user_agent, received=received, path=s.path, socket=s.socket,
        methods=methods, instance=c.instance, reg_id=c.reg_id or 0, conn_id=s.conn_id,
        last_modified=now, attr=s.attr,
    )


def _update(reg: Registrar, ul: LocationService, dom: UDomain, msg: SipMessage, aor: str,
            contacts: list[Contact], sflags: SaveFlags, s: _Request, now: float) -> URecord | None:
    cfg = reg.config
    limits = _limits(reg, sflags)
    max_contacts = cfg.max_contacts if sflags.max_contacts is None else sflags.max_contacts
    mode = ul.config.matching_mode if sflags.matching_mode is None else sflags.matching_mode
    force = bool(sflags.flags & FORCE_REG)
    rec = dom.get(aor)
    num = len(rec.valid(now)) if rec is not None and max_contacts else 0
    for c in contacts:
        expires = _expires(reg, msg, c, limits, now)
        found = rec.match(c.uri, s.callid, c.instance, c.reg_id or 0, mode) if rec is not None else None
        if found is not None:
            verdict = ul.check_cseq(found, s.callid, s.cseq, cfg.allow_dup_cseq, now)
            if verdict == BAD_CSEQ:
                raise RegError(400, E.INV_CSEQ)
            if verdict == RETRANSMISSION:
                continue
        if found is None:
            if expires == 0:
                continue
            if rec is None:
                rec = dom.get_or_create(aor)
            while max_contacts and num >= max_contacts:
                if not force or not _drop_oldest(dom, rec, None, now):
                    dom.release(rec)
                    raise RegError(503, E.TOO_MANY)
                num -= 1
            if not dom.insert(rec, _new_binding(reg, ul, aor, c, expires, s, now)):
                raise RegError(500, E.UL_INS_C)
            num += 1
            continue
        assert rec is not None
        if expires == 0:
            found.flags = (found.flags | FL_MEM) if s.flags & FL_MEM else (found.flags & ~FL_MEM)
            if not dom.delete(rec, found):
                raise RegError(500, E.UL_DEL_C)
            num -= 1 if max_contacts and found.is_valid(now) else 0
            continue
        if max_contacts and not found.is_valid(now):
            num += 1
        while max_contacts and num > max_contacts:
            if not force or not _drop_oldest(dom, rec, found, now):
                raise RegError(503, E.TOO_MANY)
            num -= 1
        if not dom.update(rec, found, _new_binding(reg, ul, aor, c, expires, s, now)):
            raise RegError(500, E.UL_UPD_C)
    return rec


def _drop_oldest(dom: UDomain, rec: URecord, keep: UContact | None, now: float) -> bool:
    """force-registration: make room by removing the least preferred, least recent binding."""
    victims = [c for c in rec.contacts if c.is_valid(now) and c is not keep]
    if not victims:
        return False
    victim = min(victims, key=lambda c: (c.q, c.last_modified))
    return dom.delete(rec, victim)


def _keep_connection(ctx: MsgContext, rec: URecord, now: float) -> None:
    """tcp_persistent_flag: the connection must outlive its longest binding (+10 s, as OpenSIPS)."""
    rcv = ctx.rcv
    if rcv is None or rcv.proto == "udp" or not rcv.conn_id:
        return
    ends = [c.expires for c in rec.contacts if c.conn_id == rcv.conn_id and c.expires]
    if not ends:
        return
    seconds = max(ends) - int(now) + 10
    ctx.extra[CONN_LIFETIME] = (rcv.conn_id, seconds)
    setter = getattr(ctx.process.core, "set_connection_lifetime", None)
    if setter is not None:
        setter(rcv.conn_id, seconds)


def _binding_list(reg: Registrar, rec: URecord, only: list[Contact] | None, now: float) -> str | None:
    if only is None:
        bindings = [c for c in rec.contacts if c.is_valid(now)]
    else:
        wanted = {c.uri for c in only}
        bindings = [c for c in rec.contacts if c.is_valid(now) and c.uri in wanted]
    return contact_header(bindings, now, reg.config.received_param)
