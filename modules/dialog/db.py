"""db_mode 1-3: dialogs kept in OpenSIPS's `dialog` table (version 12), so that confirmed calls
survive a restart: they are loaded back at start, keep their timers and match their sequential
requests.

1 realtime: written when they change, deleted when they end; 2 delayed: flushed every
db_update_period seconds; 3 shutdown: written when pysips stops.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.db.api import Database, connect
from pysips.db.schema import Column, Table

from .model import CONFIRMED, CONFIRMED_NA, Dialog, Leg

log = logging.getLogger("pysips.dialog")

REALTIME, DELAYED, SHUTDOWN = 1, 2, 3

DIALOG = Table(
    "dialog",
    12,
    (
        Column("dlg_id", "BIGINT(10)", nullable=False),
        Column("callid", "CHAR(255)", nullable=False),
        Column("from_uri", "CHAR(255)", nullable=False),
        Column("from_tag", "CHAR(64)", nullable=False),
        Column("to_uri", "CHAR(255)", nullable=False),
        Column("to_tag", "CHAR(64)", nullable=False),
        Column("mangled_from_uri", "CHAR(255)", "NULL"),
        Column("mangled_to_uri", "CHAR(255)", "NULL"),
        Column("caller_cseq", "CHAR(11)", nullable=False),
        Column("callee_cseq", "CHAR(11)", nullable=False),
        Column("caller_ping_cseq", "INTEGER", nullable=False),
        Column("callee_ping_cseq", "INTEGER", nullable=False),
        Column("caller_route_set", "TEXT(512)"),
        Column("callee_route_set", "TEXT(512)"),
        Column("caller_contact", "CHAR(255)"),
        Column("callee_contact", "CHAR(255)"),
        Column("caller_sock", "CHAR(64)", nullable=False),
        Column("callee_sock", "CHAR(64)", nullable=False),
        Column("state", "INTEGER", nullable=False),
        Column("start_time", "INTEGER", nullable=False),
        Column("timeout", "INTEGER", nullable=False),
        Column("vars", "BLOB(4096)", "NULL"),
        Column("profiles", "TEXT(512)", "NULL"),
        Column("script_flags", "CHAR(255)", "NULL"),
        Column("module_flags", "INTEGER", "0", nullable=False),
        Column("flags", "INTEGER", "0", nullable=False),
        Column("rt_on_answer", "CHAR(64)", "NULL"),
        Column("rt_on_timeout", "CHAR(64)", "NULL"),
        Column("rt_on_hangup", "CHAR(64)", "NULL"),
    ),
    unique=(("dlg_id",),),
)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("#", "\\h").replace("\n", "\\n")


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"h": "#", "n": "\n"}.get(nxt, nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def encode_pairs(pairs: list[tuple[str, str]]) -> str | None:
    """name#value lines, as OpenSIPS writes the vars and profiles columns."""
    if not pairs:
        return None
    return "".join(f"{_escape(name)}#{_escape(value)}\n" for name, value in pairs)


def decode_pairs(text: Any) -> list[tuple[str, str]]:
    if text is None:
        return []
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    pairs = []
    for line in str(text).split("\n"):
        if not line:
            continue
        name, _, value = line.partition("#")
        pairs.append((_unescape(name), _unescape(value)))
    return pairs


class DialogDb:
    def __init__(self, dialogs: Any, url: str, table: str, mode: int, period: int) -> None:
        self.dialogs = dialogs
        self.url = url
        self.table = table
        self.mode = mode
        self.period = max(period, 1)
        self.db: Database | None = None
        self.to_delete: set[int] = set()
        self._timer: Any = None
        if mode == REALTIME:
            dialogs.changed_callbacks.append(self._write_now)
            dialogs.ended_callbacks.append(self._delete_now)
        else:
            dialogs.ended_callbacks.append(self._forget)

    def _open(self) -> Database:
        if self.db is None:
            self.db = connect(self.url)
            self.db.ensure_table(DIALOG, self.table)
        return self.db

    # ------------------------------------------------------------------ loading

    def load(self) -> int:
        """At start: the stored dialogs back in the table (those already expired are dropped)."""
        db = self._open()
        columns = DIALOG.column_names
        now = int(self.dialogs._wall())
        loaded = 0
        for row in db.query(self.table, columns):
            rec: dict[str, Any] = dict(zip(columns, row, strict=True))
            dlg = self._from_row(rec)
            if dlg is None:
                continue
            if int(rec["timeout"] or 0) and int(rec["timeout"]) <= now:
                db.delete(self.table, {"dlg_id": rec["dlg_id"]})
                continue
            self.dialogs.restore(dlg)
            loaded += 1
        if loaded:
            log.info("dialog: %d dialogs restored from the database", loaded)
        return loaded

    def sync_from_db(self) -> None:
        """dlg_db_sync: reload what the table holds into memory (dialogs not known yet)."""
        known = {d.db_id for d in self.dialogs.all()}
        db = self._open()
        columns = DIALOG.column_names
        for row in db.query(self.table, columns):
            rec: dict[str, Any] = dict(zip(columns, row, strict=True))
            if int(rec["dlg_id"]) in known:
                continue
            dlg = self._from_row(rec)
            if dlg is not None:
                self.dialogs.restore(dlg)

    @staticmethod
    def _from_row(rec: dict[str, Any]) -> Dialog | None:
        state = int(rec["state"])
        if state not in (CONFIRMED_NA, CONFIRMED):
            return None
        db_id = int(rec["dlg_id"])

        def routes(text: Any) -> list[str]:
            return [r for r in str(text or "").split(",") if r]

        caller = Leg(tag=str(rec["from_tag"]), contact=str(rec["caller_contact"] or ""),
                     route_set=routes(rec["caller_route_set"]), cseq=int(rec["caller_cseq"] or 0),
                     bind_addr=str(rec["caller_sock"] or ""))
        callee = Leg(tag=str(rec["to_tag"]), contact=str(rec["callee_contact"] or ""),
                     route_set=routes(rec["callee_route_set"]), cseq=int(rec["callee_cseq"] or 0),
                     bind_addr=str(rec["callee_sock"] or ""))
        caller.gen_offset = max(int(rec["caller_ping_cseq"] or 0) - caller.cseq, 0)
        callee.gen_offset = max(int(rec["callee_ping_cseq"] or 0) - callee.cseq, 0)
        dlg = Dialog(db_id >> 32, db_id & 0xFFFFFFFF, str(rec["callid"]), str(rec["from_uri"]),
                     str(rec["to_uri"]), caller, callee, state=state, flags=int(rec["flags"] or 0),
                     start_ts=int(rec["start_time"]))
        dlg.module_flags = int(rec["module_flags"] or 0)
        dlg.user_flags = int(rec["script_flags"] or 0) if str(rec["script_flags"] or "").isdigit() else 0
        dlg.vals = dict(decode_pairs(rec["vars"]))
        dlg.profiles = decode_pairs(rec["profiles"])
        dlg.timeout = max(int(rec["timeout"] or 0) - int(rec["start_time"] or 0), 0)
        dlg.expires_at = float(rec["timeout"] or 0)  # wall clock: restore() turns it into a timer
        dlg.db_stored = True
        dlg.db_dirty = False
        return dlg

    # ------------------------------------------------------------------ writing

    def _row(self, dlg: Dialog) -> dict[str, Any]:
        expiry = int(self.dialogs._wall()) + self.dialogs.remaining(dlg)
        return {
            "dlg_id": dlg.db_id, "callid": dlg.callid, "from_uri": dlg.from_uri,
            "from_tag": dlg.caller.tag, "to_uri": dlg.to_uri, "to_tag": dlg.callee.tag,
            "caller_cseq": str(dlg.caller.cseq), "callee_cseq": str(dlg.callee.cseq),
            "caller_ping_cseq": dlg.caller.cseq + dlg.caller.gen_offset,
            "callee_ping_cseq": dlg.callee.cseq + dlg.callee.gen_offset,
            "caller_route_set": ",".join(dlg.caller.route_set) or None,
            "callee_route_set": ",".join(dlg.callee.route_set) or None,
            "caller_contact": dlg.caller.contact, "callee_contact": dlg.callee.contact,
            "caller_sock": dlg.caller.bind_addr, "callee_sock": dlg.callee.bind_addr,
            "state": dlg.state, "start_time": dlg.start_ts, "timeout": expiry,
            "vars": encode_pairs([(k, str(v)) for k, v in dlg.vals.items()]),
            "profiles": encode_pairs(list(dlg.profiles)),
            "script_flags": str(dlg.user_flags), "module_flags": dlg.module_flags, "flags": dlg.flags,
        }

    def write(self, dlg: Dialog) -> None:
        db = self._open()
        row = self._row(dlg)
        if dlg.db_stored:
            if db.update(self.table, {"dlg_id": dlg.db_id}, row) == 0:
                db.insert(self.table, row)
        else:
            db.insert(self.table, row)
            dlg.db_stored = True
        dlg.db_dirty = False

    def _write_now(self, dlg: Dialog) -> None:
        if dlg.confirmed:
            self._guarded(self.write, dlg)

    def _delete_now(self, dlg: Dialog) -> None:
        if dlg.db_stored:
            self._guarded(lambda d: self._open().delete(self.table, {"dlg_id": d.db_id}), dlg)
            dlg.db_stored = False

    def _forget(self, dlg: Dialog) -> None:
        if dlg.db_stored:
            self.to_delete.add(dlg.db_id)
            dlg.db_stored = False

    @staticmethod
    def _guarded(fn: Any, dlg: Dialog) -> None:
        try:
            fn(dlg)
        except Exception as err:  # a database failure must not break the call
            log.error("dialog: database write for %s failed: %s", dlg.callid, err)

    def flush(self, everything: bool = False) -> None:
        """Writes the changed confirmed dialogs (all of them with `everything`), deletes the ended."""
        db = self._open()
        with db.transaction():
            for db_id in sorted(self.to_delete):
                db.delete(self.table, {"dlg_id": db_id})
            self.to_delete.clear()
            for dlg in self.dialogs.all():
                if dlg.confirmed and (everything or dlg.db_dirty or not dlg.db_stored):
                    self.write(dlg)

    def start(self) -> None:
        if self.mode == DELAYED and self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        core = self.dialogs.process.core
        if core is not None:
            self._timer = core.call_at(core.now() + self.period, self._tick)

    def _tick(self) -> None:
        try:
            self.flush()
        except Exception as err:
            log.error("dialog: database flush failed: %s", err)
        self._schedule()

    def shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            if self.mode in (DELAYED, SHUTDOWN):
                self.flush(everything=self.mode == SHUTDOWN)
        except Exception as err:
            log.error("dialog: database flush at shutdown failed: %s", err)
        if self.db is not None:
            self.db.close()
            self.db = None
