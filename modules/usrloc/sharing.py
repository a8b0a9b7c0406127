"""usrloc's tables kept alike in every worker process (pysips.core.services.SHARED_STATE).

With worker processes a REGISTER saved in one worker must be found by a lookup in another, as
OpenSIPS's shared memory gives. Each process keeps the whole table; a change made in one (insert,
update, delete of a binding) is published and applied in the others. The main process owns the
persistent copy: it writes the database (write-through, write-back flush, expiry); workers keep
replicas in memory only. sql-only (db_mode 3) needs none of this: every process reads the table.

A change names its binding by (table, AOR, contact id): ids are set where the binding is made
and travel with it.
"""

from __future__ import annotations

from typing import Any

from .contact import UContact

# UContact's slots that describe the binding (its write-back `state` is each copy's own)
FIELDS = tuple(name for name in UContact.__slots__ if name != "state")

Change = tuple[Any, ...]


def fields_of(c: UContact) -> dict[str, Any]:
    return {name: getattr(c, name) for name in FIELDS}


def contact_from(fields: dict[str, Any]) -> UContact:
    c = UContact(str(fields["aor"]), str(fields["uri"]), int(fields["expires"]))
    for name in FIELDS:
        if name in fields:
            setattr(c, name, fields[name])
    return c


def insert_change(table: str, c: UContact) -> Change:
    return ("ins", table, c.aor, fields_of(c))


def update_change(table: str, c: UContact) -> Change:
    return ("upd", table, c.aor, c.contact_id, fields_of(c))


def delete_change(table: str, c: UContact) -> Change:
    return ("del", table, c.aor, c.contact_id, c.uri)
