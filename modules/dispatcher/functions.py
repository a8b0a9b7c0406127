"""The dispatcher's script functions (OpenSIPS 3.6 names, arguments and return codes)."""

from __future__ import annotations

import fnmatch
import logging
import random
from collections.abc import Callable

from pysips.core.host_addresses import canonical_ip
from pysips.script.context import MsgContext, Value
from pysips.script.corefuncs import current_ruri
from pysips.script.errors import FixupError
from pysips.script.module_runtime import module_runtime
from pysips.script.pv_base import PVAccessor
from pysips.script.pv_core import split_socket
from pysips.script.uri_rewrite import set_hostport, split_uri
from pysips.sip.nameaddr import NameAddr
from pysips.sip.uri import SipUri, parse_uri

from .hashing import hash_text, hash_uri
from .rotation import AUTH_USERNAME, ROUND_ROBIN, rotation_step
from .runtime import NO_DESTINATION, Dispatcher, Partition
from .sets import (
    Destination,
    DsSet,
    Selection,
    select,
    select_sorted,
    selection_at,
    sorted_order,
)

log = logging.getLogger("pysips.modules.dispatcher")

ROTATE = -2  # _candidate: the algorithm takes a rotation step (rotation.py)

HASH_USER_ONLY = 1
FAILOVER = 2
USE_DEFAULT = 4
APPEND = 8

_FLAG_LETTERS = {"f": FAILOVER, "u": HASH_USER_ONLY, "d": USE_DEFAULT, "a": APPEND}
Scorer = Callable[[MsgContext, DsSet, Destination], int | None]


def parse_flags(value: object) -> int:
    flags = 0
    for ch in str(value or ""):
        if ch == " ":
            continue
        bit = _FLAG_LETTERS.get(ch.lower())
        if bit is None:
            raise FixupError(f"invalid dispatcher flags {value!r}")
        flags |= bit
    return flags


def dispatcher_of(ctx: MsgContext) -> Dispatcher:
    return module_runtime(ctx.process, "dispatcher", Dispatcher)


def _partition(ctx: MsgContext, name: str | None) -> Partition | None:
    return _partition_of(dispatcher_of(ctx), name)


def _partition_of(ds: Dispatcher, name: str | None) -> Partition | None:
    part = ds.partition(name)
    if part is None:
        log.error("could not locate partition %s", name)
    return part


def _header_uri(ctx: MsgContext, which: str) -> SipUri | None:
    msg = ctx.msg
    if msg is None:
        return None
    found = msg.from_header() if which == "from" else msg.to_header()
    if not isinstance(found, NameAddr):
        return None
    parsed = parse_uri(found.uri.strip())
    return parsed if isinstance(parsed, SipUri) else None


def _auth_username(ctx: MsgContext) -> str | None:
    msg = ctx.msg
    if msg is None:
        return None
    for name in ("Proxy-Authorization", "Authorization"):
        headers = msg.auth(name)
        if isinstance(headers, list) and headers:
            return headers[0].get("username") or None
    return None


HashFn = Callable[[MsgContext, int], int | None]


def _request_hash(
    ctx: MsgContext, alg: int, flags: int, hash_pvar: Callable[[MsgContext], str] | None
) -> int | None:
    """The request's hash for algorithms 0-3 and 7 (None: cannot be computed)."""
    msg = ctx.msg
    user_only = bool(flags & HASH_USER_ONLY)
    if alg == 0:
        callid = msg.header("Call-ID") if msg is not None else None
        return hash_text(callid) if callid else None
    if alg in (1, 2):
        uri = _header_uri(ctx, "from" if alg == 1 else "to")
        return hash_uri(uri, user_only) if uri is not None else None
    if alg == 3:
        text = current_ruri(ctx)
        parsed = parse_uri(text) if text else None
        return hash_uri(parsed, user_only) if isinstance(parsed, SipUri) else None
    if alg == 7:
        if hash_pvar is None:
            log.error("bad parameters: hash_pvar is not set")
            return None
        text = hash_pvar(ctx).strip()
        if not text:
            log.error("String is empty!")
            return None
        return hash_text(text)
    return 0


def _set_destination(ctx: MsgContext, uri: str, sock: str | None, domain: bool) -> bool:
    if domain:
        current = current_ruri(ctx)
        parts = split_uri(current) if current else None
        target = parse_uri(uri)
        if parts is None or not isinstance(target, SipUri):
            log.error("error while setting host")
            return False
        ctx.new_ruri = set_hostport(parts, target.hostport).build()
    else:
        ctx.dst_uri = uri
    if sock:
        where = split_socket(sock)
        engine = ctx.process.core
        found = engine.table.find(*where) if where is not None and engine is not None else None
        if found is None:
            log.error("socket <%s> is not local to pysips (we must listen on it)", sock)
        else:
            ctx.force_socket = found
    return True


def _push(ctx: MsgContext, name: str | None, value: str | int | None) -> None:
    if name:
        ctx.avps.setdefault(name, []).insert(0, "" if value is None else value)


def _clear(ctx: MsgContext, *names: str | None) -> None:
    for name in names:
        if name:
            ctx.avps.pop(name, None)


def ds_select(
    ctx: MsgContext,
    set_id: int,
    alg: int,
    flags: int,
    part_name: str | None,
    max_results: int | None,
    domain: bool,
    hash_pvar: Callable[[MsgContext], str] | None,
    scorers: dict[int, Scorer | None] | None = None,
) -> int:
    ds = dispatcher_of(ctx)
    part = _partition_of(ds, part_name)
    if part is None:
        return -1
    ds_set = part.sets.get(set_id)
    if ds_set is None:
        log.error("destination set [%d] not found", set_id)
        return -1
    if not ds_set.dests or ds_set.active_nr == 0:
        log.debug("no active destinations in set [%d]", set_id)
        return -1
    use_default = bool(flags & USE_DEFAULT)
    limit = 1000 if max_results is None else max_results
    rotated = False  # a rotation step chose (it moved the set's position itself)
    scorer = (scorers or {}).get(alg) if alg in (9, 10) else None
    if alg == 9 and scorer is None:
        log.warning("no pattern specified - using first entry...")
        alg = 8
    if alg in (9, 10):
        if scorer is None:
            log.error("No algo_route param provided or not defined")
            return -1
        ordered, scored = sorted_order(ds_set, use_default, lambda dest: scorer(ctx, ds_set, dest))
        if scored <= 0:
            log.error("can't get destination index")
            return -1
        chosen = select_sorted(ds_set, ordered, use_default, limit)
    else:
        candidate, ds_hash = _candidate(ctx, set_id, alg, flags, hash_pvar)
        if ds_hash is None:
            return -1
        rotated = candidate == ROTATE
        if rotated and ds.rotate is not None:
            found = _shared_rotation(ds, part, ds_set, alg, use_default, limit)
        elif rotated:
            found = _local_rotation(ds_set, alg, use_default, limit)
        else:
            found = select(ds_set, alg, ds_hash, candidate, use_default, limit)
        if found is None:
            return -1
        chosen = found
    if ds_set.rotates and not rotated:
        _position_moved(ds, part, ds_set)
    selected = chosen.dest if chosen.dest is not None else ds_set.dests[chosen.index]
    if not _set_destination(ctx, selected.dst_uri, selected.socket, domain):
        return -1
    selected.chosen_count += 1
    cfg = part.config
    if flags & FAILOVER:
        if not flags & APPEND:
            _clear(
                ctx, cfg.dst_avp, cfg.grp_avp, cfg.cnt_avp, cfg.sock_avp, cfg.attrs_avp, cfg.script_attrs_avp
            )
        for dest in reversed(chosen.failover):
            _push_dest(ctx, part, dest)
        _push(ctx, cfg.dst_avp, selected.uri)
    count = len(chosen.failover) + 1 if flags & FAILOVER else 0
    _push(ctx, cfg.attrs_avp, selected.attrs)
    _push(ctx, cfg.script_attrs_avp, selected.script_attrs)
    _push(ctx, cfg.grp_avp, set_id)
    _push(ctx, cfg.cnt_avp, count)
    return 1


def _push_dest(ctx: MsgContext, part: Partition, dest: Destination) -> None:
    _push(ctx, part.config.sock_avp, dest.socket or "")
    _push(ctx, part.config.dst_avp, dest.dst_uri)
    _push(ctx, part.config.attrs_avp, dest.attrs)
    _push(ctx, part.config.script_attrs_avp, dest.script_attrs)


def _candidate(
    ctx: MsgContext, set_id: int, alg: int, flags: int, hash_pvar: Callable[[MsgContext], str] | None
) -> tuple[int, int | None]:
    """(candidate index, -1 or ROTATE; hash or None on error) for the algorithm."""
    if alg in (0, 1, 2, 3, 7):
        return -1, _request_hash(ctx, alg, flags, hash_pvar)
    if alg == ROUND_ROBIN:
        return ROTATE, 0
    if alg == AUTH_USERNAME:
        username = _auth_username(ctx)
        if username is None:
            return ROTATE, 0
        return -1, hash_text(username)
    if alg == 6:
        return -1, random.randint(0, 0x7FFFFFFF)
    if alg != 8:
        log.warning(
            "dispatching via [%d] with unknown algo [%d]: defaulting to 0 - first entry", set_id, alg
        )
    return 0, 0


def _shared_rotation(
    ds: Dispatcher, part: Partition, ds_set: DsSet, alg: int, use_default: bool, limit: int
) -> Selection | None:
    """A rotation step in a worker process: the main process takes it on the one position of
    the set (OpenSIPS's shared memory), the script waiting for the answer; when none comes, this
    process takes it on its own copy."""
    assert ds.rotate is not None
    index = ds.rotate(part, ds_set.id, alg, use_default)
    if index == NO_DESTINATION:
        return None
    # the answer came after everything the main process sent before it: a reload may have
    # replaced the set meanwhile, and the index is one of the new set's
    current = part.sets.get(ds_set.id)
    if index is not None and current is not None and index < len(current.dests):
        return selection_at(current, index, use_default, limit)
    return _local_rotation(ds_set, alg, use_default, limit)


def _local_rotation(ds_set: DsSet, alg: int, use_default: bool, limit: int) -> Selection | None:
    """A rotation step on this process's own copy of the set (one process, or no answer)."""
    ds_id = rotation_step(ds_set, alg, use_default)
    return None if ds_id is None else selection_at(ds_set, ds_id, use_default, limit)


def _position_moved(ds: Dispatcher, part: Partition, ds_set: DsSet) -> None:
    """Every algorithm's choice sets the set's position (OpenSIPS: `idx->last = ds_id`), and a
    rotation of this set in another process starts from there: the main process is told."""
    moved = ds.position_moved
    if moved is not None:
        moved(part, ds_set)


def ds_next(ctx: MsgContext, part_name: str | None, domain: bool) -> int:
    part = _partition(ctx, part_name)
    if part is None:
        return -1
    cfg = part.config
    uris = ctx.avps.get(cfg.dst_avp)
    if not uris:
        return -1
    uris.pop(0)
    for name in (cfg.attrs_avp, cfg.script_attrs_avp):
        values = ctx.avps.get(name) if name else None
        if values:
            values.pop(0)
    if not uris or not isinstance(uris[0], str):
        return -1
    socks = ctx.avps.get(cfg.sock_avp)
    sock = socks.pop(0) if socks else None
    if not _set_destination(ctx, uris[0], str(sock) if sock else None, domain):
        log.error("cannot set dst addr")
        return -1
    return 1


def ds_mark(ctx: MsgContext, state: str | None, part_name: str | None) -> int:
    part = _partition(ctx, part_name)
    if part is None:
        return -1
    text = state or "i"
    if len(text) > 1 or text[0] not in "iI0pP2aA1":
        log.error("unknown option %s", text)
        return -1
    mode = {"i": "i", "0": "i", "p": "p", "2": "p", "a": "a", "1": "a"}[text.lower()]
    groups = ctx.avps.get(part.config.grp_avp)
    uris = ctx.avps.get(part.config.dst_avp)
    if not groups or not isinstance(groups[0], int) or not uris or not isinstance(uris[0], str):
        return -1
    done = dispatcher_of(ctx).mark(part, groups[0], uris[0], mode, "script function ds_mark()")
    return 1 if done else -1


COUNT_ACTIVE, COUNT_INACTIVE, COUNT_PROBING = 1, 2, 4


def parse_count_filter(value: object) -> int:
    bits = 0
    for ch in str(value):
        if ch in "aA1":
            bits |= COUNT_ACTIVE
        elif ch in "iI0":
            bits |= COUNT_INACTIVE
        elif ch in "pP2":
            bits |= COUNT_PROBING
        else:
            raise FixupError(f"ds_count: bad filter {value!r}")
    return bits


def ds_count(ctx: MsgContext, set_id: int, filt: int, result: PVAccessor, part_name: str | None) -> int:
    part = _partition(ctx, part_name)
    if part is None:
        return -1
    ds_set = part.sets.get(set_id)
    if ds_set is None:
        log.error("INVALID SET %d (not found)!", set_id)
        return -1
    active = sum(1 for d in ds_set.dests if d.active)
    inactive = sum(1 for d in ds_set.dests if not d.active and d.flags & 1)
    probing = len(ds_set.dests) - active - inactive
    count = (
        (active if filt & COUNT_ACTIVE else 0)
        + (inactive if filt & COUNT_INACTIVE else 0)
        + (probing if filt & COUNT_PROBING else 0)
    )
    result.set(ctx, count)
    return 1


def ds_is_in_list(
    ctx: MsgContext,
    ip_text: str,
    port: int,
    set_id: int | None,
    part_name: str | None,
    active_only: int | None,
    pattern: str | None,
    setid_pv: PVAccessor | None,
) -> int:
    part = _partition(ctx, part_name)
    if part is None:
        return -1
    ip = canonical_ip(ip_text)
    if ip is None:
        log.error("IP val is not IP <%s>", ip_text)
        return -1
    wanted = -1 if set_id is None else set_id
    for ds_set in part.sets.values():
        if wanted not in (-1, ds_set.id):
            continue
        for dest in ds_set.dests:
            if not any(
                a_ip == ip and (a_port == 0 or port == 0 or a_port == port) for a_ip, a_port in dest.addresses
            ):
                continue
            if active_only and not dest.active:
                continue
            if pattern is not None and (dest.attrs is None or not _glob(pattern, dest.attrs)):
                continue
            if wanted == -1 and setid_pv is not None:
                setid_pv.set(ctx, ds_set.id)
            _push(ctx, part.config.attrs_avp, dest.attrs)
            _push(ctx, part.config.script_attrs_avp, dest.script_attrs)
            return 1
    return -1


def _glob(pattern: str, text: str) -> bool:
    # fnmatch with FNM_PERIOD: a leading dot must be matched explicitly
    if text.startswith(".") and not pattern.startswith("."):
        return False
    return fnmatch.fnmatchcase(text, pattern)


def find_by_address(part: Partition, ip_text: str, port: int, set_id: int) -> list[Destination]:
    ip = canonical_ip(ip_text)
    ds_set = part.sets.get(set_id)
    if ip is None or ds_set is None:
        return []
    return [
        d
        for d in ds_set.dests
        if any(a_ip == ip and (a_port == 0 or port == 0 or a_port == port) for a_ip, a_port in d.addresses)
    ]


def ds_push_script_attrs(
    ctx: MsgContext, attrs: str, ip: str, port: int, set_id: int, part_name: str | None
) -> int:
    part = _partition(ctx, part_name)
    if part is None:
        return -1
    found = find_by_address(part, ip, port, set_id)
    dispatcher_of(ctx).set_script_attrs(part, set_id, found, attrs)
    return 1 if found else -1


def ds_get_script_attrs(
    ctx: MsgContext, uri: str, set_id: int, part_name: str | None, out: PVAccessor
) -> int:
    part = _partition(ctx, part_name)
    if part is None:
        return -1
    ds_set = part.sets.get(set_id)
    index = ds_set.find(uri) if ds_set is not None else -1
    if ds_set is None or index < 0:
        return -1
    value: Value = ds_set.dests[index].script_attrs
    out.set(ctx, value)
    return 1
