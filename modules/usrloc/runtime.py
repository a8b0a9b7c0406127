"""The usrloc runtime of one process (`process.modules["usrloc"]`): tables, timer, connection hook.

Other modules (registrar, nathelper) use it as OpenSIPS modules use the usrloc API: `domain(name)`
for a table, `nat_flag`, `all_contacts()`, and the settings registrar needs (matching, cseq_delay).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from pysips.db.api import Database, DbError, connect
from pysips.script.errors import FixupError
from pysips.script.flags import FlagKind, FlagRegistry

from .config import UlConfig
from .contact import UContact, methods_mask
from .domain import NO_DB, UDomain
from .record import check_cseq

log = logging.getLogger("pysips.usrloc")

DEFAULT_TABLE = "location"


class UsrlocError(Exception):
    """usrloc cannot start (no database driver, unreadable table ...)."""


class Usrloc:
    __slots__ = ("_by_conn", "_flags", "_timer", "config", "core", "db", "domains")

    def __init__(self, config: UlConfig, flags: FlagRegistry | None = None, core: Any = None,
                 db: Database | None = None) -> None:
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
        if core is not None:
            if config.handle_lost_tcp:
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
        """One timer run: expire bindings everywhere, flush write-back. Returns bindings removed."""
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


RuntimeFactory = Callable[[UlConfig], Usrloc]
