"""serialize_branches() / next_branches(): serial forking by q value (OpenSIPS core serialize.c).

serialize_branches() takes the R-URI branch and every appended branch, orders them by q (highest
first; equal q keeps the script's order) and stores them, one AVP each, in `$avp(serial_branch)`,
which lives with the transaction as OpenSIPS's does; the appended branches are cleared.
next_branches() takes the next group of equal q: the first becomes the R-URI branch, the others
are appended. It returns 1 when more groups remain, 2 when this was the last, -1 when nothing was
left (or outside request/failure routes).

Each AVP value is a JSON object (uri, duri, path, q in thousandths or -1, flags, socket name,
`last`: the last of its q group).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pysips.script.context import RURI_PATH_KEY, RURI_Q_KEY, MsgContext, RouteType

log = logging.getLogger("pysips.script.core")

SERIAL_AVP = "serial_branch"
Q_UNSPECIFIED = -1


def _milli(q: Any) -> int:
    return Q_UNSPECIFIED if q is None else round(float(q) * 1000)


def _socket_name(sock: Any) -> str:
    name = getattr(sock, "name", None) if sock is not None else None
    return name if isinstance(name, str) else ""


def _ruri(ctx: MsgContext) -> str | None:
    if ctx.new_ruri:
        return ctx.new_ruri
    msg = ctx.msg
    return str(msg.ruri) if msg is not None and msg.is_request else None


def serialize_branches(ctx: MsgContext, clear_previous: int, keep_order: int | None = None) -> int:
    keep = bool(keep_order)
    if not ctx.branches:
        return 1  # nothing to do: OpenSIPS succeeds without touching anything
    ruri = _ruri(ctx)
    if ruri is None:
        log.error("serialize_branches: no Request-URI")
        return -1
    ruri_q = _milli(ctx.extra.get(RURI_Q_KEY))
    if not keep and all(_milli(b.get("q")) == ruri_q for b in ctx.branches):
        return 1  # all of the same q: parallel forking as it is
    entries: list[dict[str, Any]] = [
        {
            "uri": ruri, "duri": ctx.dst_uri or "", "path": ctx.extra.get(RURI_PATH_KEY) or "",
            "q": ruri_q, "flags": ctx.bflags, "socket": _socket_name(ctx.force_socket),
        }
    ]
    for b in ctx.branches:
        entries.append({
            "uri": b.get("uri") or "", "duri": b.get("dst_uri") or "", "path": b.get("path") or "",
            "q": _milli(b.get("q")), "flags": int(b.get("bflags") or 0),
            "socket": _socket_name(b.get("force_socket")),
        })
    # keep_order: each its own serial step, in the script's order; else highest q first (sorted()
    # is stable, so equal q keeps the script's order)
    order = entries if keep else sorted(entries, key=lambda e: -int(e["q"]))
    for i, entry in enumerate(order):
        following = order[i + 1] if i + 1 < len(order) else None
        entry["last"] = keep or following is None or following["q"] < entry["q"]
    values: list[str | int] = [json.dumps(e, separators=(",", ":")) for e in order]
    stored = [] if clear_previous else ctx.avps.get(SERIAL_AVP, [])
    ctx.avps[SERIAL_AVP] = values + stored
    ctx.branches = []
    return 1


def _find_socket(ctx: MsgContext, name: str) -> Any:
    if not name:
        return None
    core = ctx.process.core
    for sock in getattr(core, "sockets", None) or ():
        if getattr(sock, "name", None) == name:
            return sock
    log.warning("next_branches: socket %s is not ours any more", name)
    return None


def _first_path_hop(path: str) -> str:
    first = path.split(",")[0].strip()
    return first[1:first.index(">")] if first.startswith("<") and ">" in first else first


def next_branches(ctx: MsgContext) -> int:
    if ctx.route_type not in (RouteType.REQUEST, RouteType.FAILURE):
        log.error("next_branches: called from unsupported route type %d", ctx.route_type)
        return -1
    queue = ctx.avps.get(SERIAL_AVP)
    if not queue:
        return -1
    taken = 0
    for raw in queue:
        taken += 1
        try:
            entry = json.loads(str(raw))
        except ValueError:
            log.error("next_branches: invalid serial branch %r", raw)
            continue
        q = int(entry.get("q", Q_UNSPECIFIED))
        qf = None if q == Q_UNSPECIFIED else q / 1000
        sock = _find_socket(ctx, str(entry.get("socket") or ""))
        path = str(entry.get("path") or "")
        duri = str(entry.get("duri") or "") or None
        if taken == 1:
            ctx.new_ruri = str(entry["uri"])
            if path:
                ctx.extra[RURI_PATH_KEY] = path
                ctx.dst_uri = _first_path_hop(path)
            else:
                ctx.extra.pop(RURI_PATH_KEY, None)
                ctx.dst_uri = duri
            ctx.force_socket = sock
            if qf is None:
                ctx.extra.pop(RURI_Q_KEY, None)
            else:
                ctx.extra[RURI_Q_KEY] = qf
            ctx.bflags = int(entry.get("flags") or 0)
        else:
            ctx.branches.append({
                "uri": str(entry["uri"]), "dst_uri": duri, "q": qf, "path": path or None,
                "bflags": int(entry.get("flags") or 0), "force_socket": sock,
            })
        if entry.get("last"):
            break
    rest = queue[taken:]
    if rest:
        ctx.avps[SERIAL_AVP] = rest
        return 1
    del ctx.avps[SERIAL_AVP]
    return 2
