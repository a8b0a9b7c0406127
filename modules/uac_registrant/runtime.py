"""uac_registrant at run time: the records, the timer that registers and refreshes them, and the
REGISTER exchange with its digest answer (through tm's UAC and uac_auth's credential rules)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pysips.core.services import TransactionService, UacReply, UacRequest
from pysips.db.api import Database, connect
from pysips.db.schema import REGISTRANT
from pysips.sip.core_hash import core_hash
from pysips.sip.digest_client import authorization, first_challenge
from pysips.sip.message import SipMessage

from .records import (
    AUTHENTICATING,
    AUTHENTICATING_UNREGISTER,
    FAILED_STATES,
    INTERNAL_ERROR,
    NOT_REGISTERED,
    REGISTER_TIMEOUT,
    REGISTERED,
    REGISTERING,
    REGISTRAR_ERROR,
    UNREGISTERING,
    WRONG_CREDENTIALS,
    Registrant,
)

log = logging.getLogger("pysips.modules.uac_registrant")


@dataclass(frozen=True, slots=True)
class RegistrantConfig:
    db_url: str
    table: str = "registrant"
    columns: dict[str, str] = field(default_factory=dict)  # our name -> the table's column
    timer_interval: int = 100
    hash_size: int = 1
    failure_retry_interval: int = 0
    default_expires: int = 3600


class Registrants:
    def __init__(self, process: Any, tm: TransactionService, config: RegistrantConfig) -> None:
        self.process = process
        self.tm = tm
        self.config = config
        self.records: list[Registrant] = []
        self._timer: Any = None
        self._bucket = 0

    # ------------------------------------------------------------------ the table

    def _column(self, name: str) -> str:
        return self.config.columns.get(name, name)

    def _open(self) -> Database:
        return connect(self.config.db_url)

    def load(self) -> list[Registrant]:
        """The enabled and disabled records of the table (a bad row is logged and skipped)."""
        db = self._open()
        try:
            names = [self._column(c) for c in REGISTRANT.column_names if c != "id"]
            rows = db.query(self.config.table, names)
        finally:
            db.close()
        out: list[Registrant] = []
        now_text = self._now_text()
        for row in rows:
            rec = dict(zip(REGISTRANT.column_names[1:], row, strict=True))
            if not rec["registrar"] or not rec["aor"] or not rec["binding_URI"]:
                log.error("registrant row without registrar, aor or binding_URI: skipped")
                continue
            expiry = int(rec["expiry"] or 0) or self.config.default_expires
            params = str(rec["binding_params"] or "")
            record = Registrant(
                registrar=str(rec["registrar"]), aor=str(rec["aor"]), binding=str(rec["binding_URI"]),
                proxy=str(rec["proxy"] or ""), third_party=str(rec["third_party_registrant"] or ""),
                username=str(rec["username"] or ""), password=str(rec["password"] or ""),
                binding_params=params if not params or params.startswith(";") else ";" + params,
                expires=expiry, wanted_expires=expiry, socket=str(rec["forced_socket"] or ""),
                enabled=int(rec["state"] or 0) == 0)
            record.new_call_id(now_text)
            out.append(record)
        return out

    def store_state(self, rec: Registrant) -> None:
        """reg_enable/reg_disable write the record's state column (0 enabled, 1 disabled)."""
        db = self._open()
        try:
            db.update(self.config.table,
                      {self._column("aor"): rec.aor, self._column("binding_URI"): rec.binding,
                       self._column("registrar"): rec.registrar},
                      {self._column("state"): 0 if rec.enabled else 1})
        finally:
            db.close()

    def reload(self) -> None:
        """reg_reload: the table again; a record still there keeps its registration."""
        fresh = self.load()
        old = {r.key: r for r in self.records}
        for rec in fresh:
            kept = old.get(rec.key)
            if kept is not None:
                rec.state, rec.call_id, rec.from_tag = kept.state, kept.call_id, kept.from_tag
                rec.cseq = kept.cseq
                rec.expires = kept.expires
                rec.last_register_sent = kept.last_register_sent
                rec.registration_timeout = kept.registration_timeout
        self.records = fresh

    def find(self, aor: str, contact: str, registrar: str) -> Registrant | None:
        return next((r for r in self.records if r.key == (aor, contact, registrar)), None)

    # ------------------------------------------------------------------ the timer

    def _wall(self) -> float:
        core = self.process.core
        return float(core.wall_time()) if core is not None else time.time()

    def _now_text(self) -> str:
        return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(self._wall()))

    def start(self) -> None:
        """The records are checked bucket by bucket: each hash bucket once per timer_interval."""
        core = self.process.core
        if core is None:
            return
        self._timer = core.call_at(core.now() + self._period(), self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _period(self) -> float:
        return float(self.config.timer_interval // self._buckets())

    def _buckets(self) -> int:
        return 1 << self.config.hash_size

    def _tick(self) -> None:
        core = self.process.core
        buckets = self._buckets()
        for rec in list(self.records):
            # a record's bucket is the hash of its AOR, as OpenSIPS places it
            if core_hash(rec.aor.encode(), None, buckets) == self._bucket:
                self.check(rec)
        self._bucket = (self._bucket + 1) % buckets
        if core is not None:
            self._timer = core.call_at(core.now() + self._period(), self._tick)

    def check(self, rec: Registrant) -> None:
        """One timer look at a record: (re)register when due, retry a failed one, unregister a
        disabled one."""
        now = self._wall()
        if rec.state in FAILED_STATES:
            if now < rec.registration_timeout:
                return
            if rec.enabled:
                rec.new_call_id(self._now_text())
                self._register(rec, REGISTERING)
            else:
                self._unregister(rec, UNREGISTERING)
            return
        if rec.state == REGISTERED and now < rec.registration_timeout:
            return
        if rec.state in (REGISTERED, NOT_REGISTERED) and rec.enabled:
            self._register(rec, REGISTERING)

    def force_register(self, rec: Registrant) -> None:
        rec.new_call_id(self._now_text())
        self._register(rec, REGISTERING)

    def disable(self, rec: Registrant) -> None:
        rec.enabled = False
        if rec.state in (REGISTERED, REGISTERING, AUTHENTICATING):
            self._unregister(rec, UNREGISTERING)

    def enable(self, rec: Registrant) -> None:
        was = rec.enabled
        rec.enabled = True
        if not was and rec.state not in (REGISTERING, AUTHENTICATING):
            rec.new_call_id(self._now_text())
            self._register(rec, REGISTERING)

    # ------------------------------------------------------------------ REGISTER

    def _retry_at(self, rec: Registrant, now: float) -> float:
        wait = self.config.failure_retry_interval or rec.expires
        return now + wait - self.config.timer_interval

    def _send(self, rec: Registrant, expires: int, auth: str | None) -> bool:
        headers = [f"Contact: <{rec.binding}>{rec.binding_params};expires={expires}"]
        if auth:
            headers.append(auth)
        request = UacRequest("REGISTER", rec.registrar, from_uri=rec.third_party or rec.aor, to_uri=rec.aor,
                             headers=tuple(headers), call_id=rec.call_id, cseq=rec.next_cseq(),
                             from_tag=rec.from_tag, outbound_proxy=rec.proxy or None,
                             socket=rec.socket or None)
        return self.tm.send_request(request, lambda reply: self._reply(rec, reply)) > 0

    def _register(self, rec: Registrant, state: int, auth: str | None = None) -> None:
        now = self._wall()
        if self._send(rec, rec.wanted_expires, auth):
            rec.last_register_sent = now
            rec.state = state
        else:
            rec.state = INTERNAL_ERROR
            rec.registration_timeout = self._retry_at(rec, now)

    def _unregister(self, rec: Registrant, state: int, auth: str | None = None) -> None:
        rec.state = state if self._send(rec, 0, auth) else INTERNAL_ERROR

    def _reply(self, rec: Registrant, reply: UacReply) -> None:
        code = reply.code
        if code < 200:
            return
        now = self._wall()
        unregistering = rec.state in (UNREGISTERING, AUTHENTICATING_UNREGISTER)
        if 200 <= code < 300:
            if unregistering:
                if rec.enabled:  # enabled again while the unREGISTER was out
                    rec.new_call_id(self._now_text())
                    self._register(rec, REGISTERING)
                else:
                    rec.state = NOT_REGISTERED
                    rec.registration_timeout = 0
                return
            granted = _granted_expires(reply.reply, rec.binding)
            rec.state = REGISTERED
            if granted:
                rec.expires = granted
            if rec.expires <= self.config.timer_interval:
                log.error("Please decrease timer_interval=[%d] - imposed server expires [%d] to small "
                          "for AOR=[%s]", self.config.timer_interval, rec.expires, rec.aor)
            rec.registration_timeout = now + rec.expires - self.config.timer_interval
            return
        if code in (401, 407) and reply.reply is not None:
            self._challenged(rec, reply.reply, now)
            return
        if code == 423 and reply.reply is not None:
            minimum = reply.reply.header("Min-Expires")
            if minimum is not None and minimum.strip().isdigit() and int(minimum) >= 5:
                rec.wanted_expires = int(minimum)
                self._register(rec, REGISTERING)
                return
            rec.state = REGISTRAR_ERROR
        elif code == 408:
            rec.state = REGISTER_TIMEOUT
        elif 300 <= code < 400:
            log.error("Redirection not implemented yet")
            rec.state = INTERNAL_ERROR
        else:
            rec.state = REGISTRAR_ERROR
        rec.registration_timeout = self._retry_at(rec, now)

    def _challenged(self, rec: Registrant, reply: SipMessage, now: float) -> None:
        if not rec.username or not rec.password:
            log.error("Credentials not provisioned")
            rec.state = WRONG_CREDENTIALS
            rec.registration_timeout = self._retry_at(rec, now)
            return
        if rec.state in (AUTHENTICATING, AUTHENTICATING_UNREGISTER):
            log.warning("Wrong credentials for [%s]", rec.aor)
            rec.state = WRONG_CREDENTIALS
            rec.registration_timeout = self._retry_at(rec, now)
            return
        challenge = first_challenge(reply)
        if challenge is None or not challenge.realm:
            log.error("Unable to extract authentication info")
            rec.state = INTERNAL_ERROR
            rec.registration_timeout = self._retry_at(rec, now)
            return
        header = authorization(challenge, rec.username, rec.password, "REGISTER", rec.registrar, b"")
        if rec.state == UNREGISTERING:
            self._unregister(rec, AUTHENTICATING_UNREGISTER, header)
        else:
            self._register(rec, AUTHENTICATING, header)


def _granted_expires(reply: SipMessage | None, binding: str) -> int:
    """The lifetime the registrar gave our binding: its Contact's expires, else the Expires header."""
    if reply is None:
        return 0
    contacts = reply.contacts()
    if isinstance(contacts, list):
        for contact in contacts:
            if contact.uri == binding and contact.expires is not None:
                return contact.expires
    value = reply.expires
    return int(value) if value else 0
