"""Docker addresses inside SQLite databases that a test mounts (OpenSIPS's `opensips.db`).

The databases name the docker addresses: a subscriber's `domain` column, and its digest hashes,
which are computed over the realm (the domain the test's SIP traffic uses, a docker address). Text
columns are mapped like everything else. A hash is recomputed only when it can be reproduced: with
the row's password, or else a password among the test's defines, over a docker address as realm.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

from pysips.sipssert.addresses import AddressMap

SQLITE_MAGIC = b"SQLite format 3\x00"
# OpenSIPS subscriber hash columns: the digest algorithm and whether the user part carries @domain
HASH_COLUMNS: dict[str, tuple[Callable[[bytes], str], bool]] = {
    "ha1": (lambda b: hashlib.md5(b).hexdigest(), False),
    "ha1b": (lambda b: hashlib.md5(b).hexdigest(), True),
    "ha1_sha256": (lambda b: hashlib.sha256(b).hexdigest(), False),
    "ha1_sha512t256": (lambda b: hashlib.new("sha512_256", b).hexdigest(), False),
}


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _digest(digest: Callable[[bytes], str], user: str, domain: str, realm: str, password: str) -> str:
    who = f"{user}@{domain}" if domain else user
    return digest(f"{who}:{realm}:{password}".encode())


def _remap_hash(
    value: str, user: str, domain: str, digest: Callable[[bytes], str], passwords: list[str], amap: AddressMap
) -> str | None:
    for docker, local in amap.mapping.items():
        for password in passwords:
            if _digest(digest, user, domain, docker, password) == value.lower():
                return _digest(digest, user, amap.text(domain), local, password)
    return None


def map_database(path: Path, amap: AddressMap, passwords: list[str]) -> int:
    """Rewrite docker addresses in every text column of `path`; returns the number of cells changed."""
    changed = 0
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            if table.startswith("sqlite_"):
                continue
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({_quote(table)})")]
            rows = conn.execute(f"SELECT rowid, * FROM {_quote(table)}").fetchall()
            for row in rows:
                values = dict(zip(columns, row[1:], strict=True))
                updates: dict[str, str] = {}
                for col, value in values.items():
                    if isinstance(value, str) and col not in HASH_COLUMNS:
                        mapped = amap.text(value)
                        if mapped != value:
                            updates[col] = mapped
                if table == "subscriber":
                    updates |= _subscriber_hashes(values, amap, passwords)
                if updates:
                    assignments = ", ".join(f"{_quote(c)} = ?" for c in updates)
                    conn.execute(
                        f"UPDATE {_quote(table)} SET {assignments} WHERE rowid = ?",
                        [*updates.values(), row[0]],
                    )
                    changed += len(updates)
        conn.commit()
    finally:
        conn.close()
    return changed


def _subscriber_hashes(values: dict[str, object], amap: AddressMap, passwords: list[str]) -> dict[str, str]:
    user = str(values.get("username") or "")
    domain = str(values.get("domain") or "")
    own = values.get("password")
    candidates = [own] if isinstance(own, str) and own else passwords
    updates: dict[str, str] = {}
    for col, (digest, with_domain) in HASH_COLUMNS.items():
        value = values.get(col)
        if not isinstance(value, str) or not value:
            continue
        mapped = _remap_hash(value, user, domain if with_domain else "", digest, candidates, amap)
        if mapped is not None and mapped != value:
            updates[col] = mapped
    return updates


def map_volume(folder: Path, amap: AddressMap, passwords: list[str], done: set[Path]) -> None:
    """Map every SQLite database in a volume folder once (a later copy into the volume is new)."""
    for path in sorted(folder.rglob("*")):
        if path in done or not path.is_file() or not is_sqlite(path):
            continue
        done.add(path)
        with contextlib.suppress(sqlite3.Error):
            map_database(path, amap, passwords)


# "0x" + an HA1 written in a script (uac_auth's credential parameter or password AVPs)
SCRIPT_HA1 = re.compile(r"0x([0-9a-f]{64}|[0-9a-f]{32})\b")
_BY_LENGTH: dict[int, tuple[Callable[[bytes], str], ...]] = {
    32: (HASH_COLUMNS["ha1"][0],),
    64: (HASH_COLUMNS["ha1_sha256"][0], HASH_COLUMNS["ha1_sha512t256"][0]),
}


def map_script_hashes(text: str, amap: AddressMap, candidates: list[str]) -> str:
    """HA1 literals of a script computed over a docker address as realm, recomputed over the
    mapped address: user and password are looked for among the test's defines."""

    def remap(match: re.Match[str]) -> str:
        value = match.group(1)
        for digest in _BY_LENGTH[len(value)]:
            for user in candidates:
                mapped = _remap_hash(value, user, "", digest, candidates, amap)
                if mapped is not None:
                    return "0x" + mapped
        return match.group(0)

    return SCRIPT_HA1.sub(remap, text)
