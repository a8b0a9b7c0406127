"""The drouting tables (OpenSIPS 3.6: dr_gateways 6, dr_carriers 3, dr_rules 4, dr_groups 2) and
the rule lookup: longest prefix first, then priority (highest first, table order among equals),
each rule only while its time recurrence holds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pysips.core.host_addresses import host_addresses
from pysips.db.api import Database, DbError, Row
from pysips.db.text import text_or_none as _text
from pysips.script.timerec import TimeRecError, TimeRecExpr, parse_expr
from pysips.sip.uri import SipUri, parse_uri

log = logging.getLogger("pysips.modules.drouting")

PING_DSBL = 1  # probe_mode 1: probed while disabled
PING_PERM = 2  # probe_mode 2: always probed
STAT_DSBL = 4  # not used for routing
STAT_NOEN = 8  # disabled by MI (or state 1): probing does not re-enable it
STAT_DIRTY = 16  # state to be written to the table

CR_FIRST = 1  # carrier flag 0x1: only its first usable gateway
CR_OFF = 2  # carrier state / flag 0x2: not used


@dataclass(slots=True)
class Gateway:
    id: str
    address: str  # as OpenSIPS keeps it: the table's address without "sip:" and user part
    strip: int
    pri_prefix: str | None
    type: int
    attrs: str | None
    flags: int
    socket: str | None
    addresses: list[tuple[str, int, str | None]] = field(default_factory=list)  # ip, port, proto

    @property
    def enabled(self) -> bool:
        return not self.flags & STAT_DSBL

    @property
    def state_name(self) -> str:
        if self.flags & STAT_DSBL:
            if self.flags & STAT_NOEN:
                return "Disabled MI"
            return "Probing" if self.flags & PING_DSBL else "Inactive"
        return "Active"

    @property
    def state_code(self) -> int:
        return (1 if self.flags & STAT_NOEN else 2) if self.flags & STAT_DSBL else 0


@dataclass(slots=True)
class ListEntry:
    """One element of a gwlist: a gateway or a carrier ("#id"), with its weight."""

    gateway: Gateway | None
    carrier: Carrier | None
    weight: int = 0


@dataclass(slots=True)
class Carrier:
    id: str
    gateways: list[ListEntry]
    flags: int
    sort_alg: str
    attrs: str | None
    dirty: bool = False

    @property
    def enabled(self) -> bool:
        return not self.flags & CR_OFF


@dataclass(slots=True)
class Rule:
    id: int
    priority: int
    timerec: TimeRecExpr | None
    route: str | None
    destinations: list[ListEntry]
    sort_alg: str
    attrs: str | None

    def valid_at(self, now: float) -> bool:
        return self.timerec is None or self.timerec.matches(now)


@dataclass(slots=True)
class RoutingData:
    gateways: dict[str, Gateway] = field(default_factory=dict)
    carriers: dict[str, Carrier] = field(default_factory=dict)
    # prefix -> group -> rules by priority; "" holds the rules without prefix
    rules: dict[str, dict[int, list[Rule]]] = field(default_factory=dict)
    inner: set[str] = field(default_factory=set)  # prefixes with longer ones below (tree nodes)
    prefix_chars: str = "0123456789"

    def add_rule(self, prefix: str, group: int, rule: Rule) -> None:
        rules = self.rules.setdefault(prefix, {}).setdefault(group, [])
        at = len(rules)
        for i, other in enumerate(rules):
            if rule.priority > other.priority:
                at = i
                break
        rules.insert(at, rule)
        for i in range(1, len(prefix)):
            self.inner.add(prefix[:i])

    def candidates(self, number: str) -> list[str] | None:
        """The prefixes of `number` the rule tree can match, longest first; None when a digit it
        has to walk over is not a prefix character (OpenSIPS then uses the rules without prefix)."""
        if not number:
            return None
        stop = len(number) - 1
        for k in range(len(number)):
            if number[k] not in self.prefix_chars:
                return None
            if k == len(number) - 1 or number[: k + 1] not in self.inner:
                stop = k
                break
        return [number[:length] for length in range(stop + 1, 0, -1)]

    def find(
        self, number: str, group: int, start: int, now: float, strict: bool = False
    ) -> tuple[Rule, int, int] | None:
        """(rule, matched prefix length, index to resume from: 0 when none left there) as
        OpenSIPS's get_prefix + the prefixless fallback; `start` skips rules (rule fallback)."""
        prefixes = self.candidates(number) or []
        index = start
        for prefix in prefixes:
            found = _pick(self.rules.get(prefix, {}).get(group, []), index, now)
            if found is not None:
                rule, index = found
                if strict and len(prefix) != len(number):
                    return None
                return rule, len(prefix), index
        if strict:
            return None
        if index < 0:
            return None
        found = _pick(self.rules.get("", {}).get(group, []), index, now)
        if found is None:
            return None
        rule, index = found
        return rule, 0, index if index else -1


def _pick(rules: list[Rule], start: int, now: float) -> tuple[Rule, int] | None:
    for i in range(max(start, 0), len(rules)):
        if rules[i].valid_at(now):
            return rules[i], (i + 1 if i + 1 < len(rules) else 0)
    return None


def valid_id(text: str, extra: str) -> bool:
    return bool(text) and all(c.isalnum() or c in extra for c in text)


def parse_gwlist(text: str, data: RoutingData, extra_id_chars: str) -> list[ListEntry]:
    """ "gw1=10,#carrier2,gw3": unknown ids are warned about and left out, as OpenSIPS does."""
    entries: list[ListEntry] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        is_carrier = text[i] == "#"
        if is_carrier:
            i += 1
        start = i
        while i < n and (text[i].isalnum() or text[i] in extra_id_chars):
            i += 1
        ident = text[start:i]
        if not ident:
            raise ValueError(f"bad id at {start} in {text!r}")
        weight = 0
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == "=":
            i += 1
            digits_start = i
            if i < n and text[i] in "+-":
                i += 1
            while i < n and text[i].isdigit():
                i += 1
            if i == digits_start:
                raise ValueError(f"bad weight value in {text!r}")
            weight = int(text[digits_start:i])
            while i < n and text[i] in " \t":
                i += 1
        gateway = None if is_carrier else data.gateways.get(ident)
        carrier = data.carriers.get(ident) if is_carrier else None
        if gateway is None and carrier is None:
            log.warning("destination ID <%s> was not found", ident)
        else:
            entries.append(ListEntry(gateway, carrier, weight))
        if i < n and text[i] in "|,":
            i += 1
        elif i < n:
            raise ValueError(f"bad char {text[i]!r} ({i}) [{text}]")
    return entries


def _resolve(uri: SipUri) -> list[tuple[str, int, str | None]]:
    proto = uri.transport or ("tls" if uri.scheme == "sips" else None)
    port = uri.port if uri.port is not None else (5061 if uri.scheme == "sips" or proto == "tls" else 5060)
    return [(ip, port, proto) for ip in host_addresses(uri.bare_host)]


@dataclass(frozen=True, slots=True)
class Tables:
    gateways: str = "dr_gateways"
    rules: str = "dr_rules"
    carriers: str = "dr_carriers"
    groups: str = "dr_groups"


def make_gateway(
    row: Row, persistent_state: bool, force_dns: bool, extra_id_chars: str
) -> Gateway | None:
    gwid, address, strip, pri, gtype, attrs, probe, sock = (row[i] for i in range(1, 9))
    ident = str(gwid or "")
    if not valid_id(ident, extra_id_chars):
        log.error("invalid char in gateway's name [%s]", ident)
        return None
    text = str(address or "")
    full = text if text[:4].lower() == "sip:" or text[:5].lower() == "sips:" else "sip:" + text
    uri = parse_uri(full)
    if not isinstance(uri, SipUri):
        log.error("invalid uri <%s>", full)
        return None
    skip = full.find("@") + 1 if uri.user is not None else full.find(":") + 1
    flags = {0: 0, 1: PING_DSBL, 2: PING_PERM}.get(int(str(probe or 0)), -1)
    state = int(str(row[9] or 0)) if persistent_state else 0
    state_flags = {0: 0, 1: STAT_DSBL | STAT_NOEN, 2: STAT_DSBL}.get(state, -1)
    if flags < 0 or state_flags < 0:
        log.error("bad probe_mode or state for gateway <%s>", ident)
        return None
    gw = Gateway(
        ident,
        full[skip:],
        int(str(strip or 0)),
        _text(pri),
        int(str(gtype or 0)),
        _text(attrs),
        flags | state_flags,
        _text(sock) or None,
    )
    gw.addresses = _resolve(uri)
    if not gw.addresses and force_dns:
        log.error("cannot resolve <%s>", uri.host)
        return None
    return gw


def load(
    db: Database,
    tables: Tables,
    persistent_state: bool,
    force_dns: bool,
    extra_id_chars: str,
    extra_prefix_chars: str,
    route_exists: Callable[[str], bool],
) -> RoutingData:
    data = RoutingData(prefix_chars="0123456789" + extra_prefix_chars)
    gw_cols = ["id", "gwid", "address", "strip", "pri_prefix", "type", "attrs", "probe_mode", "socket"]
    if persistent_state:
        gw_cols.append("state")
    loaded = discarded = 0
    for row in db.query(tables.gateways, gw_cols):
        gw = None
        try:
            gw = make_gateway(tuple(row), persistent_state, force_dns, extra_id_chars)
        except ValueError as exc:
            log.error("bad gateway row %s: %s", row, exc)
        if gw is None or gw.id in data.gateways:
            if gw is not None:
                log.error("Duplicate gateway!")
            log.error("failed to add destination <%s>(%s) -> skipping", row[1], row[0])
            discarded += 1
            continue
        data.gateways[gw.id] = gw
        loaded += 1
    log.info("loaded %d (discarded %d) gateways in partition 'Default'", loaded, discarded)
    cr_cols = ["id", "carrierid", "flags", "sort_alg", "gwlist", "attrs"]
    if persistent_state:
        cr_cols.append("state")
    for row in db.query(tables.carriers, cr_cols):
        try:
            entries = parse_gwlist(str(row[4] or ""), data, extra_id_chars)
        except ValueError as exc:
            log.error("failed to add carrier db_id <%s> -> skipping (%s)", row[0], exc)
            continue
        if any(e.carrier is not None for e in entries):
            log.error("invalid carrier <%s> definition as points to other carrier", row[1])
            continue
        flags = int(str(row[2] or 0))
        if persistent_state and int(str(row[6] or 0)) != 0:
            flags |= CR_OFF
        else:
            flags &= ~CR_OFF
        data.carriers[str(row[1])] = Carrier(
            str(row[1]), entries, flags, _sort_alg(row[3]), _text(row[5]) or None
        )
    rule_cols = [
        "ruleid",
        "groupid",
        "prefix",
        "timerec",
        "priority",
        "routeid",
        "gwlist",
        "sort_alg",
        "sort_profile",
        "attrs",
    ]
    loaded = discarded = 0
    for row in db.query(tables.rules, rule_cols):
        rule = _make_rule(row, data, extra_id_chars, route_exists)
        if rule is None:
            discarded += 1
            continue
        try:
            groups = _groups(str(row[1] or ""))
        except ValueError as exc:
            log.error("failed to add rule id %s -> skipping (%s)", row[0], exc)
            discarded += 1
            continue
        for group in groups:
            data.add_rule(str(row[2] or ""), group, rule)
        loaded += 1
    log.info("loaded %d (discarded %d) rules in partition 'Default'", loaded, discarded)
    return data


def _sort_alg(value: object) -> str:
    text = str(value or "N")[:1].upper()
    if text == "Q":
        log.error("sort_alg 'Q' needs the qrouting module, not available: using the table order")
        return "N"
    return text if text in ("N", "W") else "N"


def _groups(text: str) -> list[int]:
    groups = [int(p) for p in text.replace("|", ",").replace(" ", ",").split(",") if p.strip()]
    if not groups:
        raise ValueError(f"no id in grp list [{text}]")
    return groups


def _make_rule(
    row: Row, data: RoutingData, extra_id_chars: str, route_exists: Callable[[str], bool]
) -> Rule | None:
    rule_id = int(str(row[0]))
    timerec = None
    if row[3]:
        try:
            timerec = parse_expr(str(row[3]))
        except TimeRecError as exc:
            log.error("bad time definition <%s> for rule id %d -> skipping (%s)", row[3], rule_id, exc)
            return None
    route = _text(row[5]) or None
    if route is not None and not route_exists(route):
        log.warning("route <%s> not found for now, not running it", route)
    try:
        destinations = parse_gwlist(str(row[6] or ""), data, extra_id_chars)
    except ValueError as exc:
        log.error("failed to add routing info for rule id %d -> skipping (%s)", rule_id, exc)
        return None
    return Rule(
        rule_id, int(str(row[4] or 0)), timerec, route, destinations, _sort_alg(row[7]), _text(row[9]) or None
    )


def group_of(db: Database, table: str, user: str, domain: str | None) -> int | None:
    where: dict[str, str | None] = {"username": user}
    if domain is not None:
        where["domain"] = domain
    try:
        rows = db.query(table, ("groupid",), where)
    except DbError as exc:
        log.error("DB query failed: %s", exc)
        return None
    if not rows or rows[0][0] is None:
        return None
    value = rows[0][0]
    return int(str(value))


def inherit_state(old: RoutingData, new: RoutingData) -> None:
    for gw in new.gateways.values():
        before = old.gateways.get(gw.id)
        if before is not None:
            gw.flags = (gw.flags & ~(STAT_DSBL | STAT_NOEN)) | (before.flags & (STAT_DSBL | STAT_NOEN))
    for cr in new.carriers.values():
        was = old.carriers.get(cr.id)
        if was is not None:
            cr.flags = (cr.flags & ~CR_OFF) | (was.flags & CR_OFF)
