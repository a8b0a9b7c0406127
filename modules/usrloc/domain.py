"""One usrloc table ("location"): bindings by address-of-record, and their database mirror.

How changes reach the database depends on the write mode (OpenSIPS db_mode):
  NO_DB         memory only;
  WRITE_THROUGH each change is written at once (restart-safe, slower);
  WRITE_BACK    changes are marked and written by the timer (`flush()`);
  DB_ONLY       no memory copy: every lookup reads the table, every change writes it.
A database failure is logged and reported to the caller as an error value, never raised.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator

from pysips.db.api import Database, DbError, DbValue
from pysips.db.schema import LOCATION

from .contact import CLEAN, DIRTY, FL_MEM, NEW, UContact
from .dbrow import COLUMNS, FlagBits, FlagNames, from_row, split_aor, to_row
from .labels import CLABEL_MASK, SlotLabels, core_hash, pack, unpack
from .record import URecord

log = logging.getLogger("pysips.usrloc")

NO_DB = 0
WRITE_THROUGH = 1
WRITE_BACK = 2
DB_ONLY = 3

# (table, binding, old connection id, new connection id): keeps the by-connection index current
ConnHook = Callable[["UDomain", UContact, int, int], None]
# ("ins" | "upd" | "del", table, binding) after a change: how worker processes share the table
ChangeHook = Callable[[str, "UDomain", UContact], None]


class UDomain:
    __slots__ = ("_deleted", "db", "expired", "flag_bits", "flag_names", "labels", "mode", "name",
                 "on_change", "on_conn", "records", "size", "time_order", "use_domain")

    def __init__(
        self,
        name: str,
        mode: int = NO_DB,
        db: Database | None = None,
        use_domain: bool = True,
        flag_names: FlagNames = lambda mask: str(mask) if mask else "",
        flag_bits: FlagBits = lambda text: int(text) if text.isdigit() else 0,
        time_order: bool = False,
        size: int = 512,
    ) -> None:
        if mode != NO_DB and db is None:
            raise ValueError(f"usrloc table {name!r}: write mode {mode} needs a database")
        self.name = name
        self.mode = mode
        self.db = db
        self.use_domain = use_domain
        self.time_order = time_order
        self.flag_names = flag_names
        self.flag_bits = flag_bits
        self.records: dict[str, URecord] = {}
        self._deleted: list[int] = []  # contact_ids to delete at the next write-back flush
        self.expired = 0  # bindings the expiry timer removed (MI statistic <table>-expires)
        self.on_conn: ConnHook | None = None
        self.on_change: ChangeHook | None = None
        self.size = size  # OpenSIPS's hash table size: shown by ul_dump, shapes the contact ids
        self.labels = SlotLabels(size)

    # ------------------------------------------------------------------ startup

    def prepare_table(self) -> None:
        """Creates the table when missing and loads the stored bindings (modes 1 and 2)."""
        if self.db is None:
            return
        self.db.ensure_table(LOCATION, self.name)
        version = self.db.table_version(self.name)
        if version is not None and version != LOCATION.version:
            log.warning("usrloc: table %s has version %s, expected %s", self.name, version,
                        LOCATION.version)
        if self.mode in (WRITE_THROUGH, WRITE_BACK):
            for row in self.db.query(self.name, COLUMNS):
                c = from_row(row, self.use_domain, self.flag_bits)
                c.state = CLEAN
                rec = self.records.get(c.aor)
                if rec is None:
                    rec = self.records[c.aor] = URecord(c.aor, self.time_order)
                rec.add(c)
            for rec in self.records.values():
                self._adopt_labels(rec)

    # ------------------------------------------------------------------ reading

    def get(self, aor: str) -> URecord | None:
        if self.mode == DB_ONLY:
            return self._load(aor)
        return self.records.get(aor)

    def get_or_create(self, aor: str) -> URecord:
        if self.mode == DB_ONLY:
            return self._load(aor) or URecord(aor, self.time_order)
        # the table itself, not through get(): save() calls this for every new AOR
        rec = self.records.get(aor)
        if rec is None:
            rec = self.records[aor] = URecord(aor, self.time_order)
        return rec

    def release(self, rec: URecord) -> None:
        """Forget a record that has no bindings left."""
        if not rec.contacts and self.records.get(rec.aor) is rec:
            del self.records[rec.aor]

    def all_contacts(self) -> Iterator[UContact]:
        if self.mode == DB_ONLY:
            yield from self._load_all()
            return
        for rec in list(self.records.values()):
            yield from list(rec.contacts)

    def _load(self, aor: str) -> URecord | None:
        assert self.db is not None
        username, domain = split_aor(aor, self.use_domain)
        where = {"username": username, "domain": domain} if self.use_domain else {"username": username}
        try:
            rows = self.db.query(self.name, COLUMNS, where)
        except DbError as exc:
            log.error("usrloc: reading %s of %s failed: %s", self.name, aor, exc)
            return None
        if not rows:
            return None
        rec = URecord(aor, self.time_order)
        for row in rows:
            c = from_row(row, self.use_domain, self.flag_bits)
            c.state = CLEAN
            rec.add(c)
        return rec

    def _load_all(self) -> list[UContact]:
        assert self.db is not None
        try:
            rows = self.db.query(self.name, COLUMNS)
        except DbError as exc:
            log.error("usrloc: reading %s failed: %s", self.name, exc)
            return []
        return [from_row(row, self.use_domain, self.flag_bits) for row in rows]

    # ------------------------------------------------------------------ contact ids

    def _adopt_labels(self, rec: URecord) -> None:
        """Loaded bindings keep their ids; new ones of the record continue their labels."""
        aorhash = core_hash(rec.aor) & 0xFFFF
        ids = [unpack(c.contact_id) for c in rec.contacts if c.contact_id]
        if not ids or ids[0][0] != aorhash:
            return  # ids from another hash_size or another tool: new bindings get fresh labels
        rec.aorhash = aorhash
        rec.label = ids[0][1]
        rec.next_clabel = (max(cl for _, _, cl in ids) + 1) & CLABEL_MASK
        self.labels.seen(aorhash, rec.label)

    def _next_contact_id(self, rec: URecord) -> int:
        if rec.label is None:
            rec.aorhash = core_hash(rec.aor) & 0xFFFF
            rec.label = self.labels.next_record_label(rec.aorhash)
            rec.next_clabel = random.getrandbits(14)
        contact_id = pack(rec.aorhash, rec.label, rec.next_clabel)
        rec.next_clabel = (rec.next_clabel + 1) & CLABEL_MASK
        return contact_id

    def _row(self, c: UContact) -> dict[str, DbValue]:
        row = to_row(c, self.use_domain, self.flag_names)
        if self.mode != DB_ONLY and c.contact_id:
            row["contact_id"] = c.contact_id  # OpenSIPS writes its own ids; sql-only lets SQL pick
        return row

    # ------------------------------------------------------------------ changes

    def _writes_now(self, c: UContact) -> bool:
        return self.mode in (WRITE_THROUGH, DB_ONLY) and not c.flags & FL_MEM

    def insert(self, rec: URecord, c: UContact) -> bool:
        c.state = NEW
        if self.mode != DB_ONLY:
            # a record emptied a moment ago (force-registration dropped its only binding to make
            # room) was released from the table: the binding brings it back
            self.records.setdefault(rec.aor, rec)
        if not c.contact_id and self.mode != DB_ONLY:
            c.contact_id = self._next_contact_id(rec)
        if self._writes_now(c):
            assert self.db is not None
            try:
                c.contact_id = self.db.insert(self.name, self._row(c))
            except DbError as exc:
                log.error("usrloc: inserting %s into %s failed: %s", c.uri, self.name, exc)
                return False
            c.state = CLEAN
        rec.add(c)
        if c.conn_id and self.on_conn is not None:
            self.on_conn(self, c, 0, c.conn_id)
        if self.on_change is not None:
            self.on_change("ins", self, c)
        return True

    def update(self, rec: URecord, c: UContact, new: UContact) -> bool:
        old_conn = c.conn_id
        c.update_from(new)
        rec.resort(c)
        if self._writes_now(c):
            assert self.db is not None
            try:
                row = self._row(c)
                if c.state == NEW or not self.db.update(self.name, {"contact_id": c.contact_id}, row):
                    c.contact_id = self.db.insert(self.name, row)
            except DbError as exc:
                log.error("usrloc: updating %s in %s failed: %s", c.uri, self.name, exc)
                return False
            c.state = CLEAN
        elif c.state == CLEAN:
            c.state = DIRTY
        if old_conn != c.conn_id and self.on_conn is not None:
            self.on_conn(self, c, old_conn, c.conn_id)
        if self.on_change is not None:
            self.on_change("upd", self, c)
        return True

    def delete(self, rec: URecord, c: UContact) -> bool:
        rec.remove(c)
        self.release(rec)
        if c.conn_id and self.on_conn is not None:
            self.on_conn(self, c, c.conn_id, 0)
        if self.on_change is not None:
            self.on_change("del", self, c)
        if c.flags & FL_MEM or c.state == NEW:
            return True
        if self.mode == WRITE_BACK:
            self._deleted.append(c.contact_id)
            return True
        if self._writes_now(c):
            assert self.db is not None
            try:
                self.db.delete(self.name, {"contact_id": c.contact_id})
            except DbError as exc:
                log.error("usrloc: deleting %s from %s failed: %s", c.uri, self.name, exc)
                return False
        return True

    # ------------------------------------------------------------------ timer

    def expire(self, now: float) -> int:
        """Drop expired bindings (and, in write-back, write pending changes). Returns how many."""
        removed = 0
        if self.mode == DB_ONLY:
            assert self.db is not None
            try:
                removed = self.db.delete(self.name, [("expires", "!=", 0), ("expires", "<=", int(now))])
            except DbError as exc:
                log.error("usrloc: expiring %s failed: %s", self.name, exc)
            return removed
        for rec in list(self.records.values()):
            for c in [c for c in rec.contacts if not c.is_valid(now)]:
                self.delete(rec, c)
                removed += 1
        self.expired += removed
        if self.mode == WRITE_BACK:
            self.flush()
        return removed

    def flush(self) -> bool:
        """Write-back: store new and changed bindings, delete removed ones, in one transaction."""
        if self.mode != WRITE_BACK or self.db is None:
            return True
        db = self.db
        pending = [c for rec in self.records.values() for c in rec.contacts
                   if c.state != CLEAN and not c.flags & FL_MEM]
        deleted, self._deleted = self._deleted, []
        if not pending and not deleted:
            return True
        try:
            with db.transaction():
                for contact_id in deleted:
                    db.delete(self.name, {"contact_id": contact_id})
                for c in pending:
                    row = self._row(c)
                    if c.state == NEW or not db.update(self.name, {"contact_id": c.contact_id}, row):
                        c.contact_id = db.insert(self.name, row)
        except DbError as exc:
            log.error("usrloc: write-back of %s failed: %s", self.name, exc)
            self._deleted = deleted + self._deleted
            return False
        for c in pending:
            c.state = CLEAN
        return True

