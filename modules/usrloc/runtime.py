"""The usrloc runtime of one process (`process.modules["usrloc"]`): tables, timer, connection hook.

Other modules (registrar, nathelper) use it as OpenSIPS modules use the usrloc API: `domain(name)`
for a table, `nat_flag`, `all_contacts()`, and the settings registrar needs (matching, cseq_delay).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import Any

from pysips.core.services import SharedChannel, SharedStateService
from pysips.db.api import Database, DbError, connect
from pysips.script.errors import FixupError
from pysips.script.flags import FlagKind, FlagRegistry

from .config import UlConfig
from .contact import UContact, methods_mask
from .domain import DB_ONLY, NO_DB, UDomain
from .record import check_cseq
from .sharing import Change, contact_from, delete_change, insert_change, update_change

log = logging.getLogger("pysips.usrloc")

DEFAULT_TABLE = "location"


class UsrlocError(Exception):
    """usrloc cannot start (no database driver, unreadable table ...)."""


class Usrloc:
    __slots__ = ("_applying", "_by_conn", "_channel", "_flags", "_timer", "config", "core", "db", "domains",
                 "replica")

    def __init__(self, config: UlConfig, flags: FlagRegistry | None = None, core: Any = None,
                 db: Database | None = None, shared: SharedStateService | None = None) -> None:
        # With worker processes (shared given) and tables in memory, each process keeps a copy:
        # the owner's is the persistent one; a replica keeps no database and runs no expiry
        self._channel: SharedChannel | None = None
        self._applying = False
        self.replica = shared is not None and not shared.owner and config.mode != DB_ONLY
        if self.replica:
            config = dataclasses.replace(config, mode=NO_DB)
        self.config = config
        self._flags = flags
        self.core = core
        self.domains: dict[str, UDomain] = {}
        self._by_conn: dict[int, list[tuple[UDomain, UContact]]] = {}
        self._timer: Any = None
        self.db = db
        if config.mode != NO_DB and db is None:
            try:
                self.db = connect(config.db_url)
            except DbError as exc:
                raise UsrlocError(f"usrloc: {exc}") from exc
        if self.db is not None:
            # the usual table is opened at startup, so a broken database stops the server there
            self.domain(DEFAULT_TABLE)
        if shared is not None and config.mode != DB_ONLY:
            self._channel = shared.share("usrloc", self.apply_change, self.snapshot)
            for dom in self.domains.values():
                dom.on_change = self._publish
        if core is not None:
            # a replica hears of lost connections through the owner's deletions
            if config.handle_lost_tcp and not self.replica:
                core.hooks.connection_closed.append(self.connection_closed)
            self._schedule()

    @property
    def nat_flag(self) -> int:
        return self.config.nat_flag

    # ------------------------------------------------------------------ the API other modules bind to

    new_contact = UContact
    methods_mask = staticmethod(methods_mask)

    def check_cseq(self, found: UContact, callid: str, cseq: int, allow_dup: bool, now: float) -> int:
        """0 to go on, -1 out of order (reject), -2 retransmission (answer, change nothing)."""
        return check_cseq(found, callid, cseq, allow_dup, self.config.cseq_delay, now)

    # ------------------------------------------------------------------ tables

    def domain(self, name: str) -> UDomain:
        """The table `name`, created (and loaded from the database) on first use."""
        found = self.domains.get(name)
        if found is not None:
            return found
        dom = UDomain(name, self.config.mode, self.db, self.config.use_domain,
                      self._flag_names, self._flag_bits, self.config.desc_time_order,
                      self.config.hash_size)
        dom.on_conn = self._index_conn if self.config.handle_lost_tcp else None
        if self._channel is not None:
            dom.on_change = self._publish
        if self.db is not None:
            try:
                dom.prepare_table()
            except DbError as exc:
                raise UsrlocError(f"usrloc: table {name!r}: {exc}") from exc
        self.domains[name] = dom
        return dom

    def all_contacts(self) -> Iterator[tuple[UDomain, UContact]]:
        for dom in list(self.domains.values()):
            for c in dom.all_contacts():
                yield dom, c

    # ------------------------------------------------------------------ flags in the database

    def _flag_names(self, mask: int) -> str:
        if not mask:
            return ""
        names = self._flags.names(FlagKind.BRANCH) if self._flags is not None else {}
        by_bit = {bit: name for name, bit in names.items()}
        return " ".join(by_bit.get(bit, str(bit)) for bit in range(32) if mask & (1 << bit))

    def _flag_bits(self, text: str) -> int:
        if text.isdigit():  # an old numeric cflags column
            return int(text)
        mask = 0
        for name in text.replace(",", " ").split():
            if self._flags is None:
                continue
            try:
                mask |= self._flags.mask(FlagKind.BRANCH, name)
            except FixupError:
                log.warning("usrloc: no room for branch flag %r read from the database", name)
        return mask

    # ------------------------------------------------------------------ timer

    def timer(self, now: float) -> int:
        """One timer run: expire bindings everywhere, flush write-back. Returns bindings removed.
        A replica leaves it to the owner, whose deletions it applies."""
        if self.replica:
            return 0
        removed = 0
        for dom in list(self.domains.values()):
            removed += dom.expire(now)
        return removed

    def _schedule(self) -> None:
        core = self.core
        self._timer = core.call_at(core.now() + self.config.timer_interval, self._tick)

    def _tick(self) -> None:
        try:
            self.timer(self.core.wall_time())
        except Exception:  # a timer must survive anything a table throws at it
            log.exception("usrloc: timer run failed")
        self._schedule()

    def shutdown(self) -> None:
        """Last write-back before the process ends (OpenSIPS syncs on shutdown too)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for dom in self.domains.values():
            dom.flush()
        if self.db is not None:
            self.db.close()

    # ------------------------------------------------------------------ worker processes

    def _publish(self, op: str, dom: UDomain, c: UContact) -> None:
        channel = self._channel
        if channel is None or self._applying:
            return
        if op == "ins":
            channel.publish(insert_change(dom.name, c))
        elif op == "upd":
            channel.publish(update_change(dom.name, c))
        else:
            channel.publish(delete_change(dom.name, c))

    def snapshot(self) -> list[Change]:
        """Every binding, as the insertions that rebuild the tables in a new worker."""
        return [insert_change(dom.name, c) for dom, c in self.all_contacts()]

    def apply_change(self, change: Change) -> None:
        """A change another process made: applied here, not published again."""
        op, table, aor = change[0], str(change[1]), str(change[2])
        dom = self.domain(table)
        self._applying = True
        try:
            if op == "ins":
                new = contact_from(change[3])
                rec = dom.get_or_create(aor)
                old = _by_id(rec.contacts, new.contact_id, new.uri)
                if old is None:
                    dom.insert(rec, new)
                else:
                    dom.update(rec, old, new)
            elif op == "upd":
                new = contact_from(change[4])
                rec = dom.get_or_create(aor)
                old = _by_id(rec.contacts, int(change[3]), new.uri)
                if old is None:
                    dom.insert(rec, new)
                else:
                    dom.update(rec, old, new)
            elif op == "del":
                found = dom.get(aor)
                old = _by_id(found.contacts, int(change[3]), str(change[4])) if found is not None else None
                if found is not None and old is not None:
                    dom.delete(found, old)
            else:
                log.error("usrloc: unknown shared change %r", op)
        finally:
            self._applying = False

    # ------------------------------------------------------------------ connections

    def _index_conn(self, dom: UDomain, c: UContact, old: int, new: int) -> None:
        if old:
            entries = self._by_conn.get(old)
            if entries is not None:
                entries[:] = [(d, x) for d, x in entries if x is not c]
                if not entries:
                    del self._by_conn[old]
        if new:
            self._by_conn.setdefault(new, []).append((dom, c))

    def connection_closed(self, conn_id: int) -> None:
        """A TCP/TLS/WS connection ended: its bindings cannot be reached any more."""
        for dom, c in list(self._by_conn.pop(conn_id, ())):
            if c.conn_id != conn_id:
                continue
            rec = dom.get(c.aor)
            if rec is not None and c in rec.contacts:
                log.info("usrloc: connection %d closed, removing %s of %s", conn_id, c.uri, c.aor)
                dom.delete(rec, c)


def _by_id(contacts: list[UContact], contact_id: int, uri: str) -> UContact | None:
    """The binding a change names: by id (ids travel with bindings), else by Contact URI."""
    if contact_id:
        for c in contacts:
            if c.contact_id == contact_id:
                return c
    for c in contacts:
        if c.uri == uri:
            return c
    return None


RuntimeFactory = Callable[[UlConfig], Usrloc]
