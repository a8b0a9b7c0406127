"""The load balancer of one process: the destinations, the choice of the one with the most free
capacity for the requested resources (OpenSIPS 3.6's lb_route), the per-call session kept in AVPs
for lb_next(), the enabled/disabled states, probing and E_LOAD_BALANCER_STATUS.

The load of a destination is the number of dialogs in the resource's dialog profile ("lbX" +
resource name) under the destination's id (in hex): the dialog module counts, and a call leaves
the profiles when it ends.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from functools import partial
from typing import Any

from pysips.core.periodic import Periodic
from pysips.core.probing import probe_verdict, send_probe
from pysips.core.services import DialogService, TransactionService, UacRequest
from pysips.db.api import Database, DbError
from pysips.script.context import MsgContext
from pysips.script.events import EventParam

from .data import (
    DISABLED,
    NO_REENABLE,
    PING_DISABLED,
    PING_PERMANENT,
    LbDestination,
    inherit_state,
    load_destinations,
    profile_name,
)

log = logging.getLogger("pysips.modules.load_balancer")

EVENT = "E_LOAD_BALANCER_STATUS"
RELATIVE, NEGATIVE, RANDOM = 1, 2, 4

# the session of a call, in AVPs as OpenSIPS keeps it (so it follows the transaction into
# failure_route): group, flags, the destinations still eligible, the last one used, resources
GROUP_AVP, FLAGS_AVP, MASK_AVP, ID_AVP, RES_AVP = "__lb_grp", "__lb_flg", "__lb_mask", "__lb_id", "__lb_res"

NO_CAPACITY, NO_DESTINATION, BAD_RESOURCES = -2, -3, -4


def parse_flags(text: str | None) -> int:
    flags = 0
    for ch in text or "":
        flags |= {"r": RELATIVE, "n": NEGATIVE, "s": RANDOM}.get(ch, 0)
    return flags


def _first(ctx: MsgContext, name: str) -> str | int | None:
    values = ctx.avps.get(name)
    return values[0] if values else None


class LoadBalancer:
    def __init__(self, db: Database, table: str, dialogs: DialogService) -> None:
        self.db = db
        self.table = table
        self.dialogs = dialogs
        self.destinations: list[LbDestination] = []
        self.resource_order: list[str] = []  # OpenSIPS keeps them sorted, reverse alphabetical
        self.tm: TransactionService | None = None
        self.raise_event: Callable[[str, list[EventParam]], Any] | None = None
        self.probe_method = "OPTIONS"
        self.probe_from = "sip:prober@localhost"
        self.reply_codes: frozenset[int] = frozenset()
        self.verbose = False
        self.probe_timer: Periodic | None = None
        # with worker processes (sharing.py): only the main process probes; a state change made
        # here, a capacity MI changed and a reload's result are handed on to the other processes
        self.owner = True
        self.on_change: Callable[[LbDestination], None] | None = None
        self.on_resize: Callable[[LbDestination, str], None] | None = None
        self.on_reload: Callable[[], None] | None = None

    # ------------------------------------------------------------------ data

    def reload(self, initial: bool = False) -> bool:
        try:
            found = load_destinations(self.db, self.table)
        except DbError as exc:
            log.critical("failed to load load balancing data: %s", exc)
            return False
        if not initial:
            inherit_state(self.destinations, found)
        self.install(found)
        if not initial and self.on_reload is not None:
            self.on_reload()
        return True

    def install(self, found: list[LbDestination]) -> None:
        """The destinations to use from now on (loaded here, or by the main process)."""
        names = sorted({name for dst in found for name in dst.resources}, reverse=True)
        for name in names:
            self.dialogs.define_profile(profile_name(name), True)
        self.destinations, self.resource_order = found, names

    def resize(self, dst: LbDestination, name: str, capacity: int) -> None:
        """MI lb_resize."""
        dst.resources[name] = capacity
        if self.on_resize is not None:
            self.on_resize(dst, name)

    def by_id(self, ident: int) -> LbDestination | None:
        return next((d for d in self.destinations if d.id == ident), None)

    def load_of(self, dst: LbDestination, resource: str) -> int:
        return self.dialogs.profile_size(profile_name(resource), dst.profile_value)

    def _free(self, dst: LbDestination, resources: list[str], flags: int) -> int:
        free = 0
        for k, name in enumerate(resources):
            capacity = dst.resources[name]
            used = self.load_of(dst, name)
            if flags & RELATIVE:
                available = 100 - (100 * used) // capacity if capacity else 0
            else:
                available = capacity - used
            if k == 0 or available < free:
                free = available
        return free

    # ------------------------------------------------------------------ lb_start / lb_next

    def route(
        self, ctx: MsgContext, group: int, requested: list[str] | None, flags: int, reuse: bool
    ) -> tuple[int, LbDestination | None]:
        """OpenSIPS lb_route: (0, destination) or (<0, None): -1 error, -2 no capacity,
        -3 no destination, -4 unknown resource."""
        current: list[str] = []
        if not reuse:
            wanted = set(requested or [])
            current = [name for name in self.resource_order if name in wanted]
            if len(current) != len(wanted):
                log.error("initial call of LB - unknown resource found in input string")
                return BAD_RESOURCES, None
        last_id = _first(ctx, ID_AVP)
        last = self.by_id(last_id) if isinstance(last_id, int) else None
        previous = [str(v) for v in ctx.avps.get(RES_AVP, []) if str(v) in self.resource_order]
        if reuse:
            current = previous
            if not current:
                log.error("sequential call of LB - cannot find previous resources")
                return -1, None
            stored_group = _first(ctx, GROUP_AVP)
            if not isinstance(stored_group, int):
                log.error("sequential call of LB - cannot find previous group")
                return -1, None
            group = stored_group
            stored_flags = _first(ctx, FLAGS_AVP)
            flags = stored_flags if isinstance(stored_flags, int) else 0
        if not current:
            log.error("%s call of LB - no resources list to work with", "sequential" if reuse else "initial")
            return -1, None
        eligible = self._mask(ctx, current, reuse)
        if self.dialogs.current(ctx) is None and self.dialogs.create(ctx, 0) != 1:
            log.error("%s call of LB - failed to create dialog", "sequential" if reuse else "initial")
            return -1, None
        if last is not None:
            for name in previous:
                self.dialogs.leave_profile(ctx, profile_name(name), last.profile_value)
        chosen, available = self._pick(group, current, flags, eligible)
        if chosen is not None:
            for name in current:
                self.dialogs.join_profile(ctx, profile_name(name), chosen.profile_value)
            eligible.discard(self.destinations.index(chosen))
        self._save(ctx, group, flags, eligible, chosen, current)
        if chosen is None:
            return (NO_CAPACITY if available else NO_DESTINATION), None
        ctx.dst_uri = chosen.uri
        return 0, chosen

    def _mask(self, ctx: MsgContext, resources: list[str], reuse: bool) -> set[int]:
        stored = _first(ctx, MASK_AVP)
        if reuse and isinstance(stored, str):
            return {int(i) for i in stored.split(",") if i}
        if reuse:
            log.warning("sequential call of LB - cannot find previous mask, routing will be re-started")
        return {i for i, dst in enumerate(self.destinations) if all(r in dst.resources for r in resources)}

    def _pick(
        self, group: int, resources: list[str], flags: int, eligible: set[int]
    ) -> tuple[LbDestination | None, int]:
        """The destination with the largest free capacity (the first of equals, or a random one of
        them with 's'); and how many destinations were usable at all."""
        best: list[LbDestination] = []
        best_load = 0
        first = True
        available = 0
        room = len(self.destinations) if flags & RANDOM else 1
        for i, dst in enumerate(self.destinations):
            if dst.group != group or i not in eligible or not dst.enabled:
                continue
            available += 1
            free = self._free(dst, resources, flags)
            if free <= 0 and not flags & NEGATIVE:
                continue
            if first or free > best_load:
                first = False
                best = []
            elif free < best_load:
                continue
            if len(best) < room:
                best_load = free
                best.append(dst)
        if not best:
            return None, available
        return (random.choice(best) if len(best) > 1 and flags & RANDOM else best[0]), available

    def _save(
        self,
        ctx: MsgContext,
        group: int,
        flags: int,
        eligible: set[int],
        chosen: LbDestination | None,
        resources: list[str],
    ) -> None:
        ctx.avps[GROUP_AVP] = [group]
        if flags or FLAGS_AVP in ctx.avps:
            ctx.avps[FLAGS_AVP] = [flags]
        ctx.avps[MASK_AVP] = [",".join(str(i) for i in sorted(eligible))]
        if chosen is not None:
            ctx.avps[ID_AVP] = [chosen.id]
        else:
            ctx.avps.pop(ID_AVP, None)
        ctx.avps[RES_AVP] = list(resources)

    def reset(self, ctx: MsgContext) -> int:
        if self.dialogs.current(ctx) is None:
            log.error("no dialog found for this call, LB not started")
            return -1
        for avp in (GROUP_AVP, FLAGS_AVP, MASK_AVP):
            ctx.avps.pop(avp, None)
        last_id = _first(ctx, ID_AVP)
        last = self.by_id(last_id) if isinstance(last_id, int) else None
        ctx.avps.pop(ID_AVP, None)
        for resource in ctx.avps.pop(RES_AVP, []):
            if last is not None and str(resource) in self.resource_order:
                self.dialogs.leave_profile(ctx, profile_name(str(resource)), last.profile_value)
        return 1

    @staticmethod
    def is_started(ctx: MsgContext) -> bool:
        return (
            isinstance(_first(ctx, GROUP_AVP), int)
            and isinstance(_first(ctx, MASK_AVP), str)
            and isinstance(_first(ctx, RES_AVP), str)
        )

    # ------------------------------------------------------------------ states

    def _changed(self, dst: LbDestination) -> None:
        if self.on_change is not None:
            self.on_change(dst)
        if self.raise_event is not None:
            self.raise_event(
                EVENT,
                [
                    ("group", dst.group),
                    ("uri", dst.uri),
                    ("status", "enabled" if dst.enabled else "disabled"),
                ],
            )

    def disable_last(self, ctx: MsgContext) -> int:
        last_id = _first(ctx, ID_AVP)
        dst = self.by_id(last_id) if isinstance(last_id, int) else None
        if dst is None:
            log.debug("no AVP ID -> nothing to disable")
            return -1
        if dst.enabled:
            dst.flags |= DISABLED
            self._changed(dst)
            if self.verbose:
                log.info("manually disable destination %d <%s> from script", dst.id, dst.uri)
        return 1

    def set_status(self, dst: LbDestination, enable: bool) -> None:
        """MI lb_status: a destination disabled so stays disabled until enabled by MI."""
        before = dst.flags
        if enable:
            dst.flags &= ~(DISABLED | NO_REENABLE)
        else:
            dst.flags |= DISABLED | NO_REENABLE
        if dst.flags != before:
            self._changed(dst)
            if self.verbose:
                log.info(
                    "manually %s destination %d <%s>", "enable" if enable else "disable", dst.id, dst.uri
                )

    def find(self, ip: str, port: int, group: int, active: bool) -> LbDestination | None:
        for dst in self.destinations:
            if group != -1 and dst.group != group:
                continue
            if active and not dst.enabled:
                continue
            if any(
                a_ip == ip and (a_port == 0 or port == 0 or a_port == port) for a_ip, a_port in dst.addresses
            ):
                return dst
        return None

    def count_call(
        self, ctx: MsgContext, ip: str, port: int, group: int, resources: list[str], undo: bool
    ) -> int:
        dst = self.find(ip, port, group, False)
        if dst is None:
            log.error("no destination to match the given IP and port (%s:%d)", ip, port)
            return -1
        if any(name not in self.resource_order for name in resources):
            log.error("unknown resource in input string")
            return -1
        if self.dialogs.create(ctx, 0) != 1:
            log.error("failed to create dialog")
            return -1
        for name in resources:
            if undo:
                if not self.dialogs.leave_profile(ctx, profile_name(name), dst.profile_value):
                    log.error("failed to remove from profile")
            elif not self.dialogs.join_profile(ctx, profile_name(name), dst.profile_value):
                log.error("failed to add to profile")
        return 1

    # ------------------------------------------------------------------ probing

    def probe_round(self) -> None:
        if self.tm is None:
            return
        for dst in self.destinations:
            if dst.flags & NO_REENABLE:
                continue
            if not (dst.flags & PING_PERMANENT or (not dst.flags & PING_DISABLED and dst.flags & DISABLED)):
                continue
            request = UacRequest(self.probe_method, dst.uri, from_uri=self.probe_from, to_uri=dst.uri)
            if not send_probe(self.tm, request, partial(self.probe_answered, dst.id)):
                log.error("probing failed")

    def probe_answered(self, ident: int, code: int) -> None:
        dst = self.by_id(ident)
        if dst is None:
            return
        enable = probe_verdict(code, self.reply_codes, dst.enabled, not dst.flags & NO_REENABLE)
        if enable is None:
            return
        dst.flags = dst.flags & ~DISABLED if enable else dst.flags | DISABLED
        self._changed(dst)
        if self.verbose:
            log.info(
                "%s destination %d <%s> after %d reply on probe",
                "re-enable" if enable else "disable",
                dst.id,
                dst.uri,
                code,
            )
