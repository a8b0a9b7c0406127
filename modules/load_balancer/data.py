"""The `load_balancer` table (OpenSIPS 3.6, version 3): destinations, their groups and the
capacity of each resource they offer ("pstn=32;transc=8")."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pysips.core.host_addresses import host_addresses
from pysips.db.api import Database
from pysips.script.errors import FixupError
from pysips.sip.uri import SipUri, parse_uri

log = logging.getLogger("pysips.modules.load_balancer")

PING_DISABLED = 1  # probe_mode 0: never probed
PING_PERMANENT = 2  # probe_mode 2: always probed
DISABLED = 4  # not used for new calls
NO_REENABLE = 8  # disabled by MI: probing does not bring it back


def parse_resources(text: str, with_values: bool) -> list[tuple[str, int]]:
    """OpenSIPS's resource list: "name=value;..." in the table, "name;..." in lb_start()."""
    found: list[tuple[str, int]] = []
    for item in text.split(";"):
        if not item.strip():
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if not name:
            raise ValueError(f"empty resource name in {text!r}")
        if bool(eq) != with_values:
            raise ValueError("resource must have value!" if with_values else "resource must not have value!")
        number = 0
        if with_values:
            value = value.strip()
            if not value.isdigit():
                raise ValueError(f"invalid value [{value}]")
            number = int(value)
        found.append((name, number))
    if not found:
        raise ValueError("empty list of resources")
    return found


def resources_fixup(value: object) -> list[str]:
    try:
        return [name for name, _ in parse_resources(str(value), False)]
    except ValueError as exc:
        raise FixupError(f"load_balancer: bad resources {value!r}: {exc}") from None


@dataclass(slots=True)
class LbDestination:
    id: int
    group: int
    uri: str
    resources: dict[str, int]  # name -> max load, in the table's order
    flags: int = 0
    attrs: str | None = None
    addresses: list[tuple[str, int]] = field(default_factory=list)

    @property
    def profile_value(self) -> str:
        """The value this destination's calls carry in the resources' dialog profiles."""
        return f"{self.id:X}"

    @property
    def enabled(self) -> bool:
        return not self.flags & DISABLED


def profile_name(resource: str) -> str:
    return f"lbX{resource}"


def _addresses(uri: SipUri) -> list[tuple[str, int]]:
    port = uri.port if uri.port is not None else (5061 if uri.scheme == "sips" else 5060)
    return [(ip, port) for ip in host_addresses(uri.bare_host)]


def load_destinations(db: Database, table: str) -> list[LbDestination]:
    rows = db.query(table, ("id", "group_id", "dst_uri", "resources", "probe_mode", "attrs"))
    if not rows:
        log.warning('table "%s" empty', table)
    found: list[LbDestination] = []
    for n, row in enumerate(rows):
        try:
            ident, group, uri_text, res_text = int(row[0] or 0), int(row[1] or 0), str(row[2]), str(row[3])
            resources = dict(parse_resources(res_text, True))
        except ValueError as exc:
            log.error("failed to add destination %d -> skipping (%s)", n, exc)
            continue
        uri = parse_uri(uri_text)
        if not isinstance(uri, SipUri):
            log.error("bad uri [%s] for destination", uri_text)
            continue
        addresses = _addresses(uri)
        if not addresses:
            log.error("could not resolve %s", uri.host)
            continue
        mode = int(row[4] or 0)
        flags = PING_DISABLED if mode == 0 else PING_PERMANENT if mode >= 2 else 0
        found.append(
            LbDestination(
                ident, group, uri_text, resources, flags, None if row[5] is None else str(row[5]), addresses
            )
        )
    return found


def inherit_state(old: list[LbDestination], new: list[LbDestination]) -> None:
    """lb_reload keeps the enabled/disabled state of the destinations that stayed."""
    for dst in new:
        for before in old:
            if before.id == dst.id and before.group == dst.group and before.uri.lower() == dst.uri.lower():
                dst.flags = (dst.flags & ~(DISABLED | NO_REENABLE)) | (
                    before.flags & (DISABLED | NO_REENABLE)
                )
                break
