"""Reading the `dispatcher` table (OpenSIPS 3.6, version 9) into destination sets."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pysips.core.host_addresses import host_addresses
from pysips.db.api import Database
from pysips.sip.uri import SipUri, parse_uri

from .sets import INACTIVE, PROBING, PROBING_PERM, Destination, DsSet, order_destinations

log = logging.getLogger("pysips.modules.dispatcher")


@dataclass(frozen=True, slots=True)
class Columns:
    setid: str = "setid"
    destination: str = "destination"
    socket: str = "socket"
    weight: str = "weight"
    attrs: str = "attrs"
    priority: str = "priority"
    description: str = "description"
    probe_mode: str = "probe_mode"
    state: str = "state"


def default_port(uri: SipUri) -> int:
    return 5061 if uri.scheme == "sips" or uri.transport in ("tls", "wss") else 5060


def resolve_addresses(uri: SipUri) -> list[tuple[str, int]]:
    """The (ip, port) pairs a destination stands for (ds_is_in_list matches against them). An IP
    is itself; a name is looked up once, at load, as OpenSIPS does. [] when it does not resolve."""
    port = uri.port if uri.port is not None else default_port(uri)
    return [(ip, port) for ip in host_addresses(uri.bare_host)]


def selectable_uri(uri: SipUri) -> str:
    """What ds_select_dst puts in $du: the table's URI without user, password and headers."""
    if uri.user is None and uri.password is None and not uri.headers:
        return uri.text
    text = uri.text
    rest = ""
    semi = text.find(";", text.rfind("@") + 1)
    if semi >= 0:
        rest = text[semi:].split("?", 1)[0]
    return f"{uri.scheme}:{uri.hostport}{rest}"


def _int(value: object, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        return default


def make_destination(
    text: str,
    weight: int,
    priority: int,
    attrs: str | None,
    description: str | None,
    sock: str | None,
    state: int,
    probe_mode: int,
) -> Destination | None:
    parsed = parse_uri(text)
    if not isinstance(parsed, SipUri) or len(parsed.host) > 254:
        log.error("bad uri [%s]", text)
        return None
    addresses = resolve_addresses(parsed)
    if not addresses:
        log.error("could not resolve %s, skipping it", parsed.host)
        return None
    flags = {0: 0, 1: INACTIVE, 2: PROBING}.get(state, 0)
    if probe_mode == 1:
        flags |= PROBING_PERM
    return Destination(
        text,
        selectable_uri(parsed),
        weight,
        priority,
        attrs or None,
        description or None,
        sock or None,
        flags,
        addresses,
    )


def load_sets(
    db: Database, table: str, cols: Columns, persistent_state: bool
) -> tuple[dict[int, DsSet], int, int]:
    """The sets of the table, in OpenSIPS's listing order (the set seen last first), with the
    number of destinations loaded and discarded."""
    names = [
        cols.setid,
        cols.destination,
        cols.socket,
        cols.weight,
        cols.attrs,
        cols.priority,
        cols.description,
        cols.probe_mode,
    ]
    if persistent_state:
        names.append(cols.state)
    rows = db.query(table, names)
    if not rows:
        log.warning("no dispatching data in the db -- empty destination set")
    order: list[int] = []
    members: dict[int, list[Destination]] = {}
    loaded = discarded = 0
    for row in rows:
        if row[0] is None or not row[1]:
            log.error("ds ID or URI column cannot be NULL -> skipping")
            discarded += 1
            continue
        set_id = int(row[0])
        weight_text = row[3]
        if isinstance(weight_text, str) and weight_text.strip().lower().startswith("fs://"):
            log.warning("FreeSWITCH weights are not supported, using weight 1 for %s", row[1])
            weight = 1
        else:
            weight = _int(weight_text, 1)
        state = _int(row[8], 0) if persistent_state else 0
        dest = make_destination(
            str(row[1]),
            weight,
            _int(row[5], 0),
            None if row[4] is None else str(row[4]),
            None if row[6] is None else str(row[6]),
            None if row[2] is None else str(row[2]),
            state,
            _int(row[7], 0),
        )
        if dest is None:
            log.warning("failed to add destination <%s> in group %d", row[1], set_id)
            discarded += 1
            continue
        if set_id not in members:
            members[set_id] = []
            order.insert(0, set_id)
        members[set_id].append(dest)
        loaded += 1
    sets: dict[int, DsSet] = {}
    for set_id in order:
        ds_set = DsSet(set_id, order_destinations(members[set_id]))
        ds_set.recalculate()
        sets[set_id] = ds_set
    return sets, loaded, discarded


def inherit_state(old: dict[int, DsSet], new: dict[int, DsSet]) -> None:
    """ds_reload keeps the state of the destinations that stayed (matched by set and URI)."""
    for set_id, new_set in new.items():
        old_set = old.get(set_id)
        if old_set is None:
            continue
        changed = False
        for dest in new_set.dests:
            i = old_set.find(dest.uri)
            if i < 0:
                continue
            before = old_set.dests[i].flags & ~PROBING_PERM
            if (dest.flags & ~PROBING_PERM) != before:
                dest.flags = before | (dest.flags & PROBING_PERM)
                changed = True
        if changed:
            new_set.recalculate()
