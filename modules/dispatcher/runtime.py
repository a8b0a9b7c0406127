"""The dispatcher of one process: its partitions, the state of their destinations (set by the
script, MI and the prober), the write-back of that state and the E_DISPATCHER_STATUS event."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pysips.core.periodic import Periodic
from pysips.core.probing import probe_accepted, send_probe
from pysips.core.services import TransactionService, UacRequest
from pysips.db.api import Database, DbError, connect
from pysips.script.events import EventParam

from .loading import Columns, inherit_state, load_sets
from .sets import INACTIVE, PROBING, PROBING_PERM, Destination, DsSet

log = logging.getLogger("pysips.modules.dispatcher")

EVENT = "E_DISPATCHER_STATUS"
RESET_FAIL = 4
FLUSH_INTERVAL = 30.0
NO_DESTINATION = -1  # the main process's answer to a rotation step: no active destination


@dataclass(slots=True)
class PartitionConfig:
    name: str
    db_url: str
    table_name: str = "dispatcher"
    dst_avp: str = "ds_dst_failover"
    grp_avp: str = "ds_grp_failover"
    cnt_avp: str = "ds_cnt_failover"
    sock_avp: str = "ds_sock_failover"
    attrs_avp: str | None = None
    script_attrs_avp: str | None = None
    ping_from: str | None = None
    ping_method: str | None = None
    ping_sock: str | None = None
    persistent_state: bool = True


@dataclass(slots=True)
class Partition:
    config: PartitionConfig
    db: Database | None = None
    sets: dict[int, DsSet] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name


# with worker processes (rotation_sharing.py): a rotation step taken by the main process on the
# set's one position (partition, set id, algorithm, use_default): the index chosen,
# NO_DESTINATION, or None when it could not answer
Rotate = Callable[[Partition, int, int, bool], int | None]


@dataclass(slots=True)
class ProbeConfig:
    interval: int = 0
    threshold: int = 3
    mode: int = 0
    method: str = "OPTIONS"
    from_uri: str = "sip:dispatcher@localhost"
    sock: str | None = None
    reply_codes: frozenset[int] = frozenset()
    probing_list: frozenset[int] | None = None


class Dispatcher:
    def __init__(self, partitions: list[PartitionConfig], columns: Columns, probe: ProbeConfig) -> None:
        self.partitions: dict[str, Partition] = {p.name: Partition(p) for p in partitions}
        self.columns = columns
        self.probe = probe
        self.tm: TransactionService | None = None
        self.raise_event: Callable[[str, list[EventParam]], Any] | None = None
        self.probes_sent = 0
        self.settings: object = None  # the module's compiled parameters (hash_pvar, setid_pvar)
        self.timers: list[Periodic] = []  # state write-back and probing rounds
        # with worker processes (sharing.py): only the main process probes and writes states
        # back; a state change made here is handed to `on_state` (group, URI, the set_state
        # arguments), a reload's result to `on_reload`, to reach the other processes
        self.owner = True
        self.on_state: Callable[[Partition, int, str, int, bool, bool], None] | None = None
        self.on_reload: Callable[[Partition], None] | None = None
        self.on_attrs: Callable[[Partition, int, list[str], str | None], None] | None = None
        # in a worker: the round-robin position of every set is the main process's (`rotate`
        # takes a step there), and another algorithm's choice moving it tells it (`position_moved`)
        self.rotate: Rotate | None = None
        self.position_moved: Callable[[Partition, DsSet], None] | None = None

    # ------------------------------------------------------------------ loading

    def open(self) -> None:
        for part in self.partitions.values():
            try:
                part.db = connect(part.config.db_url)
            except DbError as exc:
                raise RuntimeError(f"partition {part.name}: {exc}") from None
            if not self.reload(part, initial=True, inherit=False):
                raise RuntimeError(f"partition {part.name}: cannot load table {part.config.table_name}")

    def reload(self, part: Partition, initial: bool = False, inherit: bool = True) -> bool:
        if part.db is None:
            return False
        try:
            sets, loaded, discarded = load_sets(
                part.db, part.config.table_name, self.columns, part.config.persistent_state
            )
        except DbError as exc:
            log.error("failed to load the new data, dropping the reload: %s", exc)
            return False
        if inherit and not initial:
            inherit_state(part.sets, sets)
        part.sets = sets
        log.info(
            "dispatcher partition %s: %d destinations loaded (%d discarded)", part.name, loaded, discarded
        )
        if not initial and self.on_reload is not None:
            self.on_reload(part)
        return True

    def partition(self, name: str | None) -> Partition | None:
        return self.partitions.get(name or "default")

    # ------------------------------------------------------------------ states

    def set_state(
        self,
        part: Partition,
        group: int,
        address: str,
        state: int,
        turn_on: bool,
        count_failure: bool,
        reason: str,
        quiet: bool = False,
    ) -> bool:
        """OpenSIPS ds_set_state: False when the set or the destination is not there. `quiet`:
        the change was made (logged, its event raised) in another process."""
        ds_set = part.sets.get(group)
        if ds_set is None:
            log.error("destination set [%d] not found", group)
            return False
        index = ds_set.find(address)
        if index < 0:
            return False
        self._change(part, ds_set, index, address, state, turn_on, count_failure, reason, quiet)
        if self.on_state is not None:
            self.on_state(part, group, ds_set.dests[index].uri, state, turn_on, count_failure)
        return True

    def _change(
        self,
        part: Partition,
        ds_set: DsSet,
        index: int,
        address: str,
        state: int,
        turn_on: bool,
        count_failure: bool,
        reason: str,
        quiet: bool = False,
    ) -> None:
        dest = ds_set.dests[index]
        if state == PROBING and turn_on:
            if dest.flags & INACTIVE:
                if quiet:
                    return
                log.info("Ignoring the request to set this destination to probing: It is already inactive!")
                return
            if count_failure:
                dest.failure_count += 1
                if dest.failure_count < self.probe.threshold:
                    return
                dest.failure_count = min(dest.failure_count, self.probe.threshold)
        if state & RESET_FAIL:
            dest.failure_count = 0
            state &= ~RESET_FAIL
        before = dest.flags
        dest.flags = dest.flags | state if turn_on else dest.flags & ~state
        if dest.flags == before:
            return
        dest.dirty = True
        if bool(before & (INACTIVE | PROBING)) != bool(dest.flags & (INACTIVE | PROBING)):
            ds_set.recalculate()
        if quiet:
            return
        status = "inactive" if turn_on else "active"
        log.info("DESTINATION <%s>, set %d switched to [%s] due to %s", address, ds_set.id, status, reason)
        if self.raise_event is not None:
            params: list[EventParam] = []
            if part.name != "default":
                params.append(("partition", part.name))
            params += [("group", ds_set.id), ("address", address), ("status", status), ("reason", reason)]
            self.raise_event(EVENT, params)

    def set_script_attrs(self, part: Partition, group: int, dests: list[Destination],
                         attrs: str | None) -> None:
        """ds_push_script_attrs (script and MI)."""
        for dest in dests:
            dest.script_attrs = attrs
        if dests and self.on_attrs is not None:
            self.on_attrs(part, group, [d.uri for d in dests], attrs)

    def mark(self, part: Partition, group: int, address: str, mode: str, reason: str) -> bool:
        """mode 'a' active, 'p' probing (after `threshold` calls), 'i' inactive."""
        if mode == "a":
            return self.set_state(part, group, address, INACTIVE | PROBING, False, True, reason)
        if mode == "p":
            done = self.set_state(part, group, address, PROBING, True, True, reason)
            return done and self.set_state(part, group, address, INACTIVE, False, True, reason)
        done = self.set_state(part, group, address, INACTIVE, True, True, reason)
        return done and self.set_state(part, group, address, PROBING, False, True, reason)

    # ------------------------------------------------------------------ write-back

    def flush(self) -> None:
        """Writes the changed states to the table (every 30 s and at shutdown, as OpenSIPS): in
        the main process only, which has every process's changes, when workers run."""
        for part in self.partitions.values():
            if part.db is None or not part.config.persistent_state:
                continue
            for ds_set in part.sets.values():
                for dest in ds_set.dests:
                    if not dest.dirty:
                        continue
                    try:
                        part.db.update(
                            part.config.table_name,
                            {self.columns.setid: ds_set.id, self.columns.destination: dest.uri},
                            {self.columns.state: dest.state_code},
                        )
                    except DbError as exc:
                        log.error("DB update failed: %s", exc)
                        continue
                    dest.dirty = False

    def close(self) -> None:
        if self.owner:
            self.flush()
        for part in self.partitions.values():
            if part.db is not None:
                part.db.close()
                part.db = None

    # ------------------------------------------------------------------ probing

    def probe_round(self) -> None:
        """One run of the pinger: OPTIONS (ds_ping_method) to every destination in probing state
        (every non-inactive one with ds_probing_mode 1 or probe_mode 1)."""
        if self.tm is None:
            return
        for part in self.partitions.values():
            for ds_set in part.sets.values():
                if self.probe.probing_list is not None and ds_set.id not in self.probe.probing_list:
                    continue
                for dest in ds_set.dests:
                    if dest.flags & INACTIVE:
                        continue
                    if self.probe.mode != 1 and not dest.flags & (PROBING | PROBING_PERM):
                        continue
                    self._send_probe(part, ds_set.id, dest.uri, dest.socket, bool(dest.flags & PROBING_PERM))

    def _send_probe(self, part: Partition, group: int, uri: str, sock: str | None, always: bool) -> None:
        assert self.tm is not None
        request = UacRequest(
            part.config.ping_method or self.probe.method,
            uri,
            from_uri=part.config.ping_from or self.probe.from_uri,
            socket=sock or part.config.ping_sock or self.probe.sock,
        )
        if not send_probe(self.tm, request, lambda code: self.probe_answered(part, group, uri, code, always)):
            log.error("failed to send probe for <%s>, set %d, setting it to probing", uri, group)
            self.set_state(part, group, uri, PROBING, True, True, "failed to send probe")
            return
        self.probes_sent += 1

    def probe_answered(self, part: Partition, group: int, uri: str, code: int, always: bool) -> None:
        if probe_accepted(code, self.probe.reply_codes) and not self.set_state(
            part, group, uri, INACTIVE | PROBING | RESET_FAIL, False, True, "200 OK probing reply"
        ):
            log.error("Setting the state failed (%s, group %d)", uri, group)
        refused = code != 200 and (code == 408 or code not in self.probe.reply_codes)
        if (
            (self.probe.mode == 1 or always)
            and refused
            and not self.set_state(part, group, uri, PROBING, True, True, "negative probing reply")
        ):
            log.error("Setting the probing state failed (%s, group %d)", uri, group)
