"""The dynamic router of one process: do_routing() and use_next_gw() over the loaded rules, the
gateway checks (is_from_gw, goes_to_gw, dr_is_gw), states (dr_disable, MI, probing) written back
to dr_gateways/dr_carriers, and E_DROUTING_STATUS.

As in OpenSIPS the routing of a call lives in AVPs, so that use_next_gw() in a failure_route
finds it: the R-URIs, sockets, ids and attributes of the gateways still to try, in order.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pysips.core.periodic import Periodic
from pysips.core.probing import probe_verdict, send_probe
from pysips.core.services import TransactionService, UacRequest
from pysips.db.api import Database, DbError
from pysips.script.context import MsgContext
from pysips.script.events import EventParam
from pysips.sip.uri import SipUri

from .data import (
    CR_FIRST,
    CR_OFF,
    PING_DSBL,
    PING_PERM,
    STAT_DIRTY,
    STAT_DSBL,
    STAT_NOEN,
    Carrier,
    Gateway,
    ListEntry,
    RoutingData,
    Rule,
    Tables,
    group_of,
    inherit_state,
    load,
)

log = logging.getLogger("pysips.modules.drouting")

EVENT = "E_DROUTING_STATUS"
FALLBACK, STRICT_LEN, ONLY_CHECK = 1, 2, 4


@dataclass(slots=True)
class Avps:
    """The AVP names (modparams ruri_avp, gw_id_avp, ...; None when not configured)."""

    ruri: str = "___dr_ruri__"
    gw_id: str = "___dr_gw_id__"
    gw_sock: str = "___dr_sock__"
    gw_attrs: str = "___dr_gw_att__"
    rule_attrs: str = "___dr_ru_att__"
    carrier_attrs: str = "___dr_cr_att__"
    gw_priprefix: str | None = None
    rule_id: str | None = None
    rule_prefix: str | None = None
    carrier_id: str | None = None
    # rule fallback ('F'): where to resume
    fb_index: str = "___dr_fb_index__"
    fb_prefix: str = "___dr_fb_prefix__"
    fb_ruri: str = "___dr_fb_ruri__"
    fb_whitelist: str = "___dr_fb_wl__"
    fb_group: str = "___dr_fb_group__"
    fb_flags: str = "___dr_fb_flags__"


def parse_flags(text: str | None) -> int:
    flags = 0
    for ch in text or "":
        flags |= {"F": FALLBACK, "L": STRICT_LEN, "C": ONLY_CHECK}.get(ch, 0)
    return flags


IFG_STRIP, IFG_PREFIX, IFG_IDS, IFG_IGNOREPORT, IFG_CARRIERID, IFG_CHECKPROTO = 1, 2, 8, 16, 32, 64


def parse_gw_flags(text: str | None) -> int:
    flags = 0
    for ch in text or "":
        bit = {
            "s": IFG_STRIP,
            "p": IFG_PREFIX,
            "i": IFG_IDS,
            "n": IFG_IGNOREPORT,
            "r": IFG_CHECKPROTO,
            "c": IFG_CARRIERID,
        }.get(ch)
        if bit is None:
            log.warning("unsupported flag %s", ch)
        else:
            flags |= bit
    return flags


def build_ruri(uri: SipUri, strip: int, pri: str, hostport: str) -> str:
    """The R-URI towards a gateway: its prefix, the user minus `strip` digits, its address."""
    user = uri.user or ""
    strip = min(strip, len(user))
    new_user = pri + user[strip:]
    out = "sip:" + new_user
    if uri.password:
        out += ":" + uri.password
    if uri.password or new_user:
        out += "@"
    out += hostport
    text = uri.text
    start = text.find("@") + 1 if uri.user is not None else text.find(":") + 1
    rest = text[start:]
    semi, question = rest.find(";"), rest.find("?")
    if semi >= 0 and (question < 0 or semi < question):
        out += rest[semi:]
    elif question >= 0:
        out += rest[question:]
    return out


def weight_sort(entries: list[ListEntry], rand: Callable[[], float]) -> list[int]:
    """OpenSIPS's weight-based ordering: repeatedly draw by weight among the rest."""
    idx = list(range(len(entries)))
    first = 0
    while len(idx) - first > 1:
        running: list[int] = []
        total = 0
        for i in range(first, len(idx)):
            total += entries[idx[i]].weight
            running.append(total)
        pick = first
        if total:
            drawn = int(total * rand())
            pick = next((first + k for k, s in enumerate(running) if s > drawn), len(idx) - 1)
        idx[pick], idx[first] = idx[first], idx[pick]
        first += 1
    return idx


class DRouting:
    def __init__(self, db: Database, tables: Tables, avps: Avps) -> None:
        self.db = db
        self.tables = tables
        self.avps = avps
        self.data = RoutingData()
        self.persistent_state = True
        self.force_dns = True
        self.extra_id_chars = ""
        self.extra_prefix_chars = ""
        self.default_group: int | None = None
        self.use_domain = True
        self.route_exists: Callable[[str], bool] = lambda name: False
        # runs a rule's script route: <0 when the route dropped the routing
        self.run_route: Callable[[MsgContext, str], int] | None = None
        self.tm: TransactionService | None = None
        self.raise_event: Callable[[str, list[EventParam]], Any] | None = None
        self.probe_method = "OPTIONS"
        self.probe_from = "sip:prober@localhost"
        self.probe_socket: str | None = None
        self.reply_codes: frozenset[int] = frozenset()
        self.probing_enabled = True
        self.last_reload = 0.0
        self.rand: Callable[[], float] = random.random
        self.timers: list[Periodic] = []  # state write-back and probing rounds
        # with worker processes (sharing.py): only the main process probes and writes states
        # back; a gateway's or carrier's change made here and a reload's result are handed on
        self.owner = True
        self.on_gateway: Callable[[Gateway], None] | None = None
        self.on_carrier: Callable[[Carrier], None] | None = None
        self.on_reload: Callable[[], None] | None = None

    # ------------------------------------------------------------------ data

    def reload(self, now: float, inherit: bool = True) -> bool:
        try:
            data = load(
                self.db,
                self.tables,
                self.persistent_state,
                self.force_dns,
                self.extra_id_chars,
                self.extra_prefix_chars,
                self.route_exists,
            )
        except DbError as exc:
            log.error("failed to load routing info: %s", exc)
            return False
        if inherit:
            inherit_state(self.data, data)
        self.data = data
        self.last_reload = now
        if self.on_reload is not None:
            self.on_reload()
        return True

    # ------------------------------------------------------------------ do_routing

    def _clear(self, ctx: MsgContext) -> None:
        a = self.avps
        for name in (
            a.ruri,
            a.gw_id,
            a.gw_sock,
            a.rule_attrs,
            a.gw_attrs,
            a.carrier_attrs,
            a.carrier_id,
            a.gw_priprefix,
            a.rule_id,
            a.rule_prefix,
        ):
            if name:
                ctx.avps.pop(name, None)

    def do_routing(
        self,
        ctx: MsgContext,
        group: int | None,
        flags: int,
        whitelist: str | None,
        out: Callable[[str, str], None],
        resume: bool = False,
    ) -> int:
        """1 routed (R-URI set to the first gateway, the others in AVPs), -1 otherwise.
        `out(kind, value)` receives the rule/gw/carrier attributes for the script variables."""
        data = self.data
        if not flags & ONLY_CHECK:
            self._clear(ctx)
        a = self.avps
        if not resume:
            if group is None or group < 0:
                group = self._group_of_caller(ctx)
                if group is None:
                    log.error("failed to get group id")
                    return -1
            ruri = _current_ruri(ctx)
            if ruri is None:
                log.error("unable to parse RURI")
                return -1
            number = ruri.user or ""
            index = 0
        else:
            index_v, prefix_v, ruri_v = (_first(ctx, n) for n in (a.fb_index, a.fb_prefix, a.fb_ruri))
            if not isinstance(index_v, int) or not isinstance(prefix_v, str) or not isinstance(ruri_v, str):
                log.error("Cannot find fallback data")
                return -1
            index, number = index_v, prefix_v
            if not number and index < 0:
                return -1
            parsed = _parse(ruri_v)
            if parsed is None:
                return -1
            ruri = parsed
        assert group is not None
        wl = self._whitelist(whitelist)
        found: tuple[Rule, int, int] | None = None
        while True:
            if found is not None:
                # rule fallback: the next rule under the same prefix, or a shorter prefix
                rule, length, index = found
                number = number[: length - (0 if index else 1)]
                if not number and index <= 0:
                    flags &= ~FALLBACK
                    return -1
            found = data.find(number, group, index, ctx.now, bool(flags & STRICT_LEN))
            if found is None:
                return -1
            rule, length, index = found
            if rule.route and self.run_route is not None and self.run_route(ctx, rule.route) < 0:
                log.debug("script route [%s] drops routing", rule.route)
                return -1
            if flags & ONLY_CHECK:
                break
            if length == 0 and index <= 0:
                flags &= ~FALLBACK
            pushed = self._use_rule(ctx, ruri, rule, wl, out)
            if pushed:
                break
            if not flags & FALLBACK:
                return -1
        self._after_match(ctx, rule, number[:length], out)
        if flags & FALLBACK and not resume and index > 0:
            ctx.avps[a.fb_index] = [index]
            ctx.avps[a.fb_prefix] = [number[: length - (0 if index else 1)]]
            ctx.avps[a.fb_ruri] = [ruri.text]
            if whitelist:
                ctx.avps[a.fb_whitelist] = [whitelist]
            ctx.avps[a.fb_group] = [group]
            ctx.avps[a.fb_flags] = [flags]
        elif flags & FALLBACK and resume:
            ctx.avps[a.fb_index] = [index]
            if index == 0:
                ctx.avps[a.fb_prefix] = [number[: max(length - 1, 0)]]
        elif resume:
            ctx.avps.pop(a.fb_flags, None)
        return 1

    def _group_of_caller(self, ctx: MsgContext) -> int | None:
        msg = ctx.msg
        found = msg.from_header() if msg is not None else None
        uri = _parse(getattr(found, "uri", "") or "")
        if uri is None:
            log.error("unable to parse from uri")
            return None
        group = group_of(self.db, self.tables.groups, uri.user or "", uri.host if self.use_domain else None)
        if group is None:
            if self.default_group is not None:
                return self.default_group
            log.error('no group for user "%s"@"%s"', uri.user or "", uri.host)
        return group

    def _whitelist(self, text: str | None) -> set[int] | None:
        if not text:
            return None
        from .data import parse_gwlist

        try:
            entries = parse_gwlist(text, self.data, self.extra_id_chars)
        except ValueError:
            log.error("invalid format in whitelist-> ignoring...")
            return None
        return {id(e.gateway if e.gateway is not None else e.carrier) for e in entries}

    def _order(self, entries: list[ListEntry], alg: str) -> list[int]:
        return weight_sort(entries, self.rand) if alg == "W" else list(range(len(entries)))

    def _use_rule(
        self, ctx: MsgContext, ruri: SipUri, rule: Rule, wl: set[int] | None, out: Callable[[str, str], None]
    ) -> int:
        """Pushes the usable gateways of a rule; how many."""
        count = 0
        first_attrs: tuple[str | None, str | None] | None = None
        for i in self._order(rule.destinations, rule.sort_alg):
            entry = rule.destinations[i]
            carrier = entry.carrier
            if carrier is not None:
                if not carrier.enabled or (wl is not None and id(carrier) not in wl):
                    continue
                pushed = self.push_carrier(ctx, ruri, carrier, count)
                if pushed and count == 0:
                    first_attrs = (pushed[0].attrs, carrier.attrs)
                count += len(pushed)
                continue
            gw = entry.gateway
            if gw is None or not gw.enabled or (wl is not None and id(gw) not in wl):
                continue
            self._push(ctx, ruri, gw, None, count)
            count += 1
            if count == 1:
                first_attrs = (gw.attrs, None)
        if first_attrs is not None:
            out("gw", first_attrs[0] or "")
            out("carrier", first_attrs[1] or "")
        return count

    def push_carrier(self, ctx: MsgContext, ruri: SipUri, carrier: Carrier, count: int) -> list[Gateway]:
        """Pushes the enabled gateways of a carrier in its order (only the first one when the
        carrier says so), numbered on from `count`; the ones pushed."""
        pushed: list[Gateway] = []
        for j in self._order(carrier.gateways, carrier.sort_alg):
            gw = carrier.gateways[j].gateway
            if gw is None or not gw.enabled:
                continue
            self._push(ctx, ruri, gw, carrier, count + len(pushed))
            pushed.append(gw)
            if carrier.flags & CR_FIRST:
                break
        return pushed

    def _push(self, ctx: MsgContext, ruri: SipUri, gw: Gateway, carrier: Carrier | None, idx: int) -> None:
        a = self.avps
        target = build_ruri(ruri, gw.strip, gw.pri_prefix or "", gw.address)
        if idx == 0:
            ctx.new_ruri = target
            if gw.socket:
                _force_socket(ctx, gw.socket)
        else:
            ctx.avps.setdefault(a.ruri, []).append(target)
            ctx.avps.setdefault(a.gw_sock, []).append(gw.socket or "")
        ctx.avps.setdefault(a.gw_id, []).append(gw.id)
        ctx.avps.setdefault(a.gw_attrs, []).append(gw.attrs or "")
        if a.gw_priprefix:
            ctx.avps.setdefault(a.gw_priprefix, []).append(gw.pri_prefix or "")
        if a.carrier_id:
            ctx.avps.setdefault(a.carrier_id, []).append(carrier.id if carrier else "")
        ctx.avps.setdefault(a.carrier_attrs, []).append((carrier.attrs or "") if carrier else "")

    def _after_match(self, ctx: MsgContext, rule: Rule, prefix: str, out: Callable[[str, str], None]) -> None:
        a = self.avps
        if a.rule_prefix:
            ctx.avps.setdefault(a.rule_prefix, []).insert(0, prefix)
        ctx.avps.setdefault(a.rule_attrs, []).insert(0, rule.attrs or "")
        out("rule", rule.attrs or "")
        if a.rule_id:
            ctx.avps.setdefault(a.rule_id, []).insert(0, rule.id)

    # ------------------------------------------------------------------ use_next_gw

    def use_next_gw(self, ctx: MsgContext, out: Callable[[str, str], None]) -> int:
        a = self.avps
        while True:
            rule_attrs = _first(ctx, a.rule_attrs)
            if rule_attrs is not None:
                out("rule", str(rule_attrs))
            for name in (a.gw_attrs, a.carrier_attrs, a.gw_priprefix, a.carrier_id):
                if name and ctx.avps.get(name):
                    ctx.avps[name].pop(0)
            if ctx.avps.get(a.gw_attrs):
                out("gw", str(ctx.avps[a.gw_attrs][0]))
            if ctx.avps.get(a.carrier_attrs):
                out("carrier", str(ctx.avps[a.carrier_attrs][0]))
            ids = ctx.avps.get(a.gw_id)
            if not ids:
                log.warning("no GWs found at all -> have you done do_routing in script ??")
                return -1
            ids.pop(0)
            ruris = ctx.avps.get(a.ruri)
            if not ids or not ruris:
                return self._rule_fallback(ctx, out)
            ruri = str(ruris.pop(0))
            socks = ctx.avps.get(a.gw_sock)
            sock = str(socks.pop(0)) if socks else ""
            gw = self.data.gateways.get(str(ids[0]))
            if gw is not None and gw.enabled:
                ctx.new_ruri = ruri
                if sock:
                    _force_socket(ctx, sock)
                return 1

    def _rule_fallback(self, ctx: MsgContext, out: Callable[[str, str], None]) -> int:
        a = self.avps
        flags = _first(ctx, a.fb_flags)
        if not isinstance(flags, int) or not flags & FALLBACK:
            return -1
        group = _first(ctx, a.fb_group)
        if not isinstance(group, int):
            log.error("Cannot find group AVP during a fallback")
            ctx.avps.pop(a.fb_flags, None)
            return -1
        whitelist = _first(ctx, a.fb_whitelist)
        if self.do_routing(ctx, group, flags, str(whitelist) if whitelist else None, out, resume=True) == 1:
            return 1
        ctx.avps.pop(a.fb_flags, None)
        return -1

    # ------------------------------------------------------------------ gateways

    def find_gateway(self, ip: str, port: int, proto: str | None, gtype: int, flags: int) -> Gateway | None:
        for gw in sorted(self.data.gateways.values(), key=lambda g: g.id):
            if gtype >= 0 and gw.type != gtype:
                continue
            for g_ip, g_port, g_proto in gw.addresses:
                port_ok = g_port in (0, 1) or (flags & IFG_IGNOREPORT) or port == 0 or g_port == port
                proto_ok = (
                    not (flags & IFG_CHECKPROTO) or g_proto is None or proto is None or g_proto == proto
                )
                if port_ok and proto_ok and g_ip == ip:
                    return gw
        return None

    def carrier_of(self, gw: Gateway) -> Carrier | None:
        for cr in sorted(self.data.carriers.values(), key=lambda c: c.id):
            if any(e.gateway is gw for e in cr.gateways):
                return cr
        return None

    def apply_match(self, ctx: MsgContext, gw: Gateway, flags: int, out: Callable[[str, str], None]) -> None:
        """What is_from_gw()/goes_to_gw() do with the gateway found (flags s, p, i, c)."""
        a = self.avps
        if flags & IFG_STRIP and gw.strip > 0:
            _rewrite_user(ctx, lambda user: user[gw.strip :])
        if flags & IFG_PREFIX and gw.pri_prefix is not None:
            if a.gw_priprefix:
                ctx.avps.setdefault(a.gw_priprefix, []).insert(0, gw.pri_prefix)
            prefix = gw.pri_prefix
            _rewrite_user(ctx, lambda user: prefix + user)
        out("gw", gw.attrs or "")
        if flags & IFG_IDS:
            ctx.avps.setdefault(a.gw_id, []).insert(0, gw.id)
        carrier = self.carrier_of(gw)
        if carrier is not None:
            if flags & IFG_CARRIERID and a.carrier_id:
                ctx.avps.setdefault(a.carrier_id, []).append(carrier.id)
            out("carrier", carrier.attrs or "")

    # ------------------------------------------------------------------ states

    def _gw_changed(self, gw: Gateway, reason: str) -> None:
        gw.flags |= STAT_DIRTY
        if self.on_gateway is not None:
            self.on_gateway(gw)
        log.info("GW <%s>/%s switched to [%s] due to %s", gw.id, gw.address, gw.state_name.lower(), reason)
        if self.raise_event is not None:
            status = {
                "Disabled MI": "disabled MI",
                "Probing": "probing",
                "Inactive": "inactive",
                "Active": "active",
            }[gw.state_name]
            self.raise_event(
                EVENT,
                [
                    ("partition", "Default"),
                    ("gwid", gw.id),
                    ("address", gw.address),
                    ("status", status),
                    ("reason", reason),
                ],
            )

    def disable_current(self, ctx: MsgContext) -> int:
        ident = _first(ctx, self.avps.gw_id)
        if ident is None:
            log.debug("no AVP ID ->nothing to disable")
            return -1
        gw = self.data.gateways.get(str(ident))
        if gw is not None and gw.enabled:
            gw.flags |= STAT_DSBL
            self._gw_changed(gw, "script dr_disable")
        return 1

    def set_gw_status(self, gw: Gateway, enable: bool) -> None:
        before = gw.flags
        if enable:
            gw.flags &= ~(STAT_DSBL | STAT_NOEN)
        else:
            gw.flags |= STAT_DSBL | STAT_NOEN
        if gw.flags != before:
            self._gw_changed(gw, "MI command")

    def set_carrier_status(self, cr: Carrier, enable: bool) -> None:
        before = cr.flags
        cr.flags = cr.flags & ~CR_OFF if enable else cr.flags | CR_OFF
        if cr.flags != before:
            cr.dirty = True
            if self.on_carrier is not None:
                self.on_carrier(cr)
            log.info(
                "CARRIER <%s> switched to [%s] due to MI command",
                cr.id,
                "active" if enable else "disabled MI",
            )

    def flush(self) -> None:
        if not self.persistent_state or not self.owner:  # a worker: the main process writes
            return
        for gw in self.data.gateways.values():
            if gw.flags & STAT_DIRTY:
                try:
                    self.db.update(self.tables.gateways, {"gwid": gw.id}, {"state": gw.state_code})
                    gw.flags &= ~STAT_DIRTY
                except DbError as exc:
                    log.error("DB update failed: %s", exc)
        for cr in self.data.carriers.values():
            if cr.dirty:
                try:
                    self.db.update(
                        self.tables.carriers, {"carrierid": cr.id}, {"state": 1 if cr.flags & CR_OFF else 0}
                    )
                    cr.dirty = False
                except DbError as exc:
                    log.error("DB update failed: %s", exc)

    # ------------------------------------------------------------------ probing

    def probe_round(self) -> None:
        if self.tm is None or not self.probing_enabled:
            return
        for gw in sorted(self.data.gateways.values(), key=lambda g: g.id):
            if gw.flags & STAT_NOEN:
                continue
            if not (gw.flags & PING_PERM or (gw.flags & PING_DSBL and gw.flags & STAT_DSBL)):
                continue
            request = UacRequest(
                self.probe_method,
                "sip:" + gw.address,
                from_uri=self.probe_from,
                socket=gw.socket or self.probe_socket,
            )
            if not send_probe(self.tm, request, partial(self.probe_answered, gw.id)):
                log.error("unable to execute dialog, disabling destination...")
                if gw.enabled:
                    gw.flags |= STAT_DSBL
                    self._gw_changed(gw, "failure to send probe")

    def probe_answered(self, ident: str, code: int) -> None:
        gw = self.data.gateways.get(ident)
        if gw is None:
            return
        enable = probe_verdict(code, self.reply_codes, gw.enabled, not gw.flags & STAT_NOEN)
        if enable is True:
            gw.flags &= ~STAT_DSBL
            self._gw_changed(gw, "200 OK probing reply")
        elif enable is False:
            gw.flags |= STAT_DSBL
            self._gw_changed(gw, "negative probing reply")


def _first(ctx: MsgContext, name: str | None) -> str | int | None:
    if not name:
        return None
    values = ctx.avps.get(name)
    return values[0] if values else None


def _parse(text: str) -> SipUri | None:
    from pysips.sip.uri import parse_uri

    parsed = parse_uri(text.strip())
    return parsed if isinstance(parsed, SipUri) else None


def _current_ruri(ctx: MsgContext) -> SipUri | None:
    from pysips.script.corefuncs import current_ruri

    text = current_ruri(ctx)
    return _parse(text) if text else None


def _force_socket(ctx: MsgContext, text: str) -> None:
    from pysips.script.pv_core import split_socket

    where = split_socket(text)
    engine = ctx.process.core
    found = engine.table.find(*where) if where is not None and engine is not None else None
    if found is None:
        log.error("socket <%s> is not local to pysips (we must listen on it)", text)
    else:
        ctx.force_socket = found


def _rewrite_user(ctx: MsgContext, change: Callable[[str], str]) -> None:
    from pysips.script.corefuncs import current_ruri
    from pysips.script.uri_rewrite import set_user, split_uri

    text = current_ruri(ctx)
    parts = split_uri(text) if text else None
    if parts is None:
        log.error("error while rewriting the R-URI user")
        return
    ctx.new_ruri = set_user(parts, change(parts.user or "")).build()


def route_to_gateways(dr: DRouting, ctx: MsgContext, ids: str, out: Callable[[str, str], None]) -> int:
    """route_to_gw("gw1,gw2"): the enabled ones in that order; 1 when at least one was set."""
    ruri = _current_ruri(ctx)
    if ruri is None:
        log.error("unable to parse RURI")
        return -1
    count = 0
    for part in ids.split(","):
        ident = part.strip()
        if not ident:
            log.error("empty slot")
            return -1
        gw = dr.data.gateways.get(ident)
        if gw is None:
            log.error("no GW found with ID <%s> -> ignorring", ident)
            continue
        if not gw.enabled:
            continue
        dr._push(ctx, ruri, gw, None, count)
        count += 1
        out("gw", gw.attrs or "")
        carrier = dr.carrier_of(gw)
        if carrier is not None:
            out("carrier", carrier.attrs or "")
    if not count:
        log.error("no GW added at all")
        return -1
    return 1


def route_to_carriers(dr: DRouting, ctx: MsgContext, ids: str, out: Callable[[str, str], None]) -> int:
    """route_to_carrier("cr1,cr2"): the gateways of each enabled carrier, in its order."""
    dr._clear(ctx)
    ruri = _current_ruri(ctx)
    if ruri is None:
        log.error("unable to parse RURI")
        return -1
    count = 0
    first: tuple[str | None, str | None] | None = None
    for part in ids.split(","):
        carrier = dr.data.carriers.get(part.strip()) if part.strip() else None
        if carrier is None:
            if part.strip():
                log.error("carrier <%s> was not found, skipping...", part.strip())
            continue
        if not carrier.enabled:
            continue
        pushed = dr.push_carrier(ctx, ruri, carrier, count)
        if pushed and count == 0:
            first = (pushed[0].attrs, carrier.attrs)
        count += len(pushed)
    if first is None:
        return -1
    out("gw", first[0] or "")
    out("carrier", first[1] or "")
    return 1
