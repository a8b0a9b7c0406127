"""A binding as a row of OpenSIPS's `location` table, and back."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pysips.db.api import DbValue, Row

from .contact import FL_MEM, Q_UNSPECIFIED, UContact

COLUMNS = (
    "contact_id", "username", "domain", "contact", "received", "path", "expires", "q", "callid",
    "cseq", "last_modified", "flags", "cflags", "user_agent", "socket", "methods", "sip_instance",
    "attr",
)

FlagNames = Callable[[int], str]
FlagBits = Callable[[str], int]


def split_aor(aor: str, use_domain: bool) -> tuple[str, str | None]:
    if not use_domain:
        return aor, None
    user, at, domain = aor.rpartition("@")
    return (user, domain) if at else (aor, None)


def aor_of(username: str, domain: str | None, use_domain: bool) -> str:
    return f"{username}@{domain}" if use_domain and domain else username


def _datetime(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _timestamp(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return time.mktime(time.strptime(str(value), "%Y-%m-%d %H:%M:%S"))
    except (ValueError, OverflowError):
        return 0.0


def to_row(c: UContact, use_domain: bool, flag_names: FlagNames) -> dict[str, DbValue]:
    """Column values (without contact_id, which the database assigns)."""
    username, domain = split_aor(c.aor, use_domain)
    return {
        "username": username,
        "domain": domain,
        "contact": c.uri,
        "received": c.received,
        "path": c.path,
        "expires": int(c.expires),
        "q": c.q if c.q >= 0 else Q_UNSPECIFIED,
        "callid": c.callid,
        "cseq": c.cseq,
        "last_modified": _datetime(c.last_modified),
        "flags": c.flags & ~FL_MEM,
        "cflags": flag_names(c.cflags) or None,
        "user_agent": c.user_agent,
        "socket": c.socket,
        "methods": c.methods,
        "sip_instance": c.instance,
        "attr": c.attr,
    }


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def from_row(row: Row, use_domain: bool, flag_bits: FlagBits) -> UContact:
    """A stored binding (rows written by OpenSIPS or by us); bad values fall back to defaults."""
    (contact_id, username, domain, contact, received, path, expires, q, callid, cseq, last_modified,
     flags, cflags, user_agent, socket, methods, instance, attr) = row
    try:
        qv = float(q) if q is not None else Q_UNSPECIFIED
    except ValueError:
        qv = Q_UNSPECIFIED
    c = UContact(
        aor_of(str(username or ""), str(domain) if domain else None, use_domain),
        str(contact or ""),
        _int(expires),
        q=qv if qv >= 0 else Q_UNSPECIFIED,
        callid=str(callid or ""),
        cseq=_int(cseq),
        flags=_int(flags),
        cflags=flag_bits(str(cflags)) if cflags else 0,
        user_agent=str(user_agent or ""),
        received=str(received) if received else None,
        path=str(path) if path else None,
        socket=str(socket) if socket else None,
        methods=_int(methods) if methods is not None else None,
        instance=str(instance) if instance else None,
        last_modified=_timestamp(last_modified),
        contact_id=_int(contact_id),
        attr=str(attr) if attr is not None else None,
    )
    return c
