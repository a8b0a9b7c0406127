"""usrloc's MI commands (ul_dump, ul_show_contact, ul_add, ul_rm, ul_rm_contact, ul_flush) and
statistics, with OpenSIPS's parameter names and result shapes; declared in usrloc's exports.

Each handler finds this process's usrloc runtime in its own slot, `process.modules["usrloc"]`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pysips.mi.command import MICall, MICommand, command
from pysips.mi.errors import MIError
from pysips.mi.runtime import stats_of
from pysips.mi.stats import StatsRegistry
from pysips.script.exports import StatExport
from pysips.sip.qvalue import q_text

from .labels import core_hash

if TYPE_CHECKING:
    from pysips.script.context import ProcessState


# What OpenSIPS writes into a binding made by ul_add.
MI_CALLID = "dfjrewr12386fd6-343@opensips.mi"
MI_USER_AGENT = "OpenSIPS MI Server"
MI_CSEQ = 1
ALL_METHODS = 0xFFFFFFFF
MATCH_CONTACT = 0
_STATES = {0: "CS_SYNC", 1: "CS_NEW", 2: "CS_DIRTY"}  # usrloc CLEAN / NEW / DIRTY

OK = "OK"
TABLE_NOT_FOUND = (404, "Table not found")
AOR_NOT_FOUND = (404, "AOR not found")
NO_DOMAIN = (400, "Domain missing in AOR")




def contact_json(c: Any, dom: Any, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {"Contact": c.uri, "ContactID": str(c.contact_id)}
    if c.expires == 0:
        item["Expires"] = "permanent"
    elif now > c.expires:
        item["Expires"] = "expired"
    else:
        item["Expires"] = int(c.expires - now)
    item["Q"] = q_text(c.q)
    item["Callid"] = c.callid
    item["Cseq"] = c.cseq
    if c.user_agent:
        item["User-agent"] = c.user_agent
    if c.received:
        item["Received"] = c.received
    if c.path:
        item["Path"] = c.path
    item["State"] = _STATES.get(c.state, "CS_UNKNOWN")
    item["Flags"] = c.flags
    item["Cflags"] = dom.flag_names(c.cflags) if c.cflags else ""
    if c.socket:
        item["Socket"] = c.socket
    item["Methods"] = ALL_METHODS if c.methods is None else c.methods
    if c.instance:
        item["SIP_instance"] = c.instance
    return item


def aor_json(rec: Any, dom: Any, now: float, brief: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {"AOR": rec.aor}
    if not brief:
        item["Contacts"] = [contact_json(c, dom, now) for c in rec.contacts]
    return item


class UsrlocCommands:
    """The commands bound to one usrloc runtime."""

    def __init__(self, ul: Any) -> None:
        self.ul = ul

    # ---------------------------------------------------------------- helpers

    def _table(self, call: MICall) -> Any:
        dom = self.ul.domains.get(call.get_str("table_name"))
        if dom is None:
            raise MIError(*TABLE_NOT_FOUND)
        return dom

    def _aor(self, call: MICall) -> str:
        aor = call.get_str("aor")
        if self.ul.config.use_domain:
            if "@" not in aor:
                raise MIError(*NO_DOMAIN)
            return aor
        return aor.split("@", 1)[0]

    @staticmethod
    def _records(dom: Any) -> list[Any]:
        records = getattr(dom, "records", None)
        if isinstance(records, dict) and records:
            return list(records.values())
        # sql-only tables keep nothing in memory: group what the table holds
        grouped: dict[str, Any] = {}
        for c in dom.all_contacts():
            rec = grouped.get(c.aor)
            if rec is None:
                rec = grouped[c.aor] = _Record(c.aor)
            rec.contacts.append(c)
        return list(grouped.values())

    # ---------------------------------------------------------------- commands

    def dump(self, call: MICall) -> Any:
        return self._dump(False)

    def dump_brief(self, call: MICall) -> Any:
        return self._dump(bool(call.get_int("brief")))

    def _dump(self, brief: bool) -> Any:
        now = int(time.time())  # whole seconds, as usrloc stores expiry times
        domains = []
        for name, dom in list(self.ul.domains.items()):
            size = int(getattr(dom, "size", 512))
            # OpenSIPS walks its hash slots in order, each slot's records by AOR: the same order
            records = sorted(self._records(dom), key=lambda rec: (core_hash(rec.aor, size), rec.aor))
            aors = [aor_json(rec, dom, now, brief) for rec in records]
            domains.append({"name": name, "hash_size": size, "AORs": aors})
        return {"Domains": domains}

    def show_contact(self, call: MICall) -> Any:
        dom = self._table(call)
        rec = dom.get(self._aor(call))
        if rec is None:
            raise MIError(*AOR_NOT_FOUND)
        return aor_json(rec, dom, int(time.time()))

    def rm_aor(self, call: MICall) -> Any:
        dom = self._table(call)
        rec = dom.get(self._aor(call))
        if rec is not None:
            for c in list(rec.contacts):
                if not dom.delete(rec, c):
                    raise MIError(500, "Failed to delete AOR")
        return OK

    def rm_contact(self, call: MICall) -> Any:
        dom = self._table(call)
        rec = dom.get(self._aor(call))
        if rec is None:
            raise MIError(*AOR_NOT_FOUND)
        uri = call.get_str("contact")
        found = next((c for c in rec.contacts if c.uri == uri), None)
        if found is None:
            raise MIError(404, "Contact not found")
        if not dom.delete(rec, found):
            raise MIError(500, "Internal error")
        return OK

    def add(self, call: MICall) -> Any:
        dom = self._table(call)
        aor = self._aor(call)
        uri = call.get_str("contact")
        expires = call.get_int("expires")
        q = parse_q(call.get_str("q"))
        flags = call.get_int("flags")
        cflags = call.get_int("cflags")
        methods = call.get_int("methods")
        if q is None or expires < 0:
            raise MIError(400, "Bad parameter value")
        now = time.time()
        rec = dom.get_or_create(aor)
        old = rec.match(uri, MI_CALLID, None, 0, MATCH_CONTACT)
        new = self.ul.new_contact(
            aor, uri, int(now) + expires if expires else 0, q=q, callid=MI_CALLID,
            cseq=old.cseq if old is not None else MI_CSEQ, flags=flags, cflags=cflags,
            user_agent=MI_USER_AGENT, methods=methods & ALL_METHODS, last_modified=now)
        ok = dom.update(rec, old, new) if old is not None else dom.insert(rec, new)
        if not ok:
            dom.release(rec)
            raise MIError(500, "Internal Error")
        return OK

    def flush(self, call: MICall) -> Any:
        for dom in list(self.ul.domains.values()):
            dom.flush()
        return OK


class _Record:
    __slots__ = ("aor", "contacts")

    def __init__(self, aor: str) -> None:
        self.aor = aor
        self.contacts: list[Any] = []


def parse_q(text: str) -> float | None:
    """OpenSIPS str2q: a decimal within 0..1 with at most 3 decimals; None when malformed."""
    t = text.strip()
    try:
        q = float(t)
    except ValueError:
        return None
    if not 0 <= q <= 1 or "e" in t.lower() or len(t.partition(".")[2]) > 3:
        return None
    return q


def _commands(call: MICall) -> UsrlocCommands:
    return UsrlocCommands(call.process.modules["usrloc"])


_TABLE_AOR = ("table_name", "aor")
MI_COMMANDS: tuple[MICommand, ...] = (
    command("ul_rm", "deletes an entire AOR record (with all its contacts)",
            {_TABLE_AOR: lambda c: _commands(c).rm_aor(c)}, "usrloc"),
    command("ul_rm_contact", "deletes a contact of an AOR record",
            {(*_TABLE_AOR, "contact"): lambda c: _commands(c).rm_contact(c)}, "usrloc"),
    command("ul_dump", "dumps the entire content of the usrloc tables",
            {(): lambda c: _commands(c).dump(c), ("brief",): lambda c: _commands(c).dump_brief(c)}, "usrloc"),
    command("ul_flush", "writes the pending changes of the tables to the database",
            {(): lambda c: _commands(c).flush(c)}, "usrloc"),
    command("ul_add", "adds a new contact for a user AOR",
            {(*_TABLE_AOR, "contact", "expires", "q", "flags", "cflags", "methods"):
             lambda c: _commands(c).add(c)}, "usrloc"),
    command("ul_show_contact", "dumps the contacts of an AOR",
            {_TABLE_AOR: lambda c: _commands(c).show_contact(c)}, "usrloc"),
)


def _registered_users(ul: Any) -> int:
    return sum(len(getattr(dom, "records", {})) for dom in list(ul.domains.values()))


STATS = (StatExport("registered_users", _registered_users, doc="AORs in every table"),)


def register_table_stats(process: ProcessState, ul: Any) -> None:
    """Per table, as OpenSIPS's location-users / location-contacts: for the tables the script's
    modules opened while initialising (called from usrloc's per-process init)."""
    stats = stats_of(process)
    for name, dom in list(ul.domains.items()):
        records = getattr(dom, "records", None)
        if isinstance(records, dict) and stats.find(f"usrloc:{name}-users") is None:
            _table_stats(stats, name, records, dom)


def _table_stats(stats: StatsRegistry, name: str, records: dict[str, Any], dom: Any) -> None:
    def users() -> int:
        return len(records)

    def contacts() -> int:
        return sum(len(rec.contacts) for rec in records.values())

    def expired() -> int:
        return int(dom.expired)

    def reset_expired() -> None:
        dom.expired = 0

    stats.gauge("usrloc", f"{name}-users", users)
    stats.gauge("usrloc", f"{name}-contacts", contacts)
    # bindings removed by the expiry timer (OpenSIPS's <table>-expires)
    stats.register("usrloc", f"{name}-expires", expired, reset_expired)
