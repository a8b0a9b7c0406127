"""Dispatcher hashing against the reference OpenSIPS 3.6.8: the same `dispatcher` table (one
SQLite file, made by `pysips db create`), the same requests, and the destination each server picks
for every algorithm that hashes (Call-ID, From, To, R-URI, with and without the user-only flag),
over sets with unequal weights, priorities and an inactive destination."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest

from tests.differential.reference import exchange, start_pair
from tests.integration.script_rig import create_sqlite

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DONE = "DS-DONE"

SCRIPT = """\
loadmodule "sl.so"
loadmodule "db_sqlite.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "db_url", "sqlite://@@DB@@")

route {
    $var(alg) = $(hdr(X-Alg){s.int});
    $var(set) = $(hdr(X-Set){s.int});
    $var(ok) = 0;
    if ($hdr(X-Flags) == "u") {
        if (ds_select_dst($var(set), $var(alg), "u"))
            $var(ok) = 1;
    } else if ($hdr(X-Flags) == "fd") {
        if (ds_select_dst($var(set), $var(alg), "fd", "default", 2))
            $var(ok) = 1;
    } else if ($hdr(X-Flags) == "f") {
        if (ds_select_dst($var(set), $var(alg), "f"))
            $var(ok) = 1;
    } else {
        if (ds_select_dst($var(set), $var(alg)))
            $var(ok) = 1;
    }
    if ($var(ok) == 1) {
        xlog("DS-PICK $ci $du\\n");
        while (ds_next_dst())
            xlog("DS-NEXT $ci $du\\n");
    } else {
        xlog("DS-PICK $ci none\\n");
    }
    xlog("DS-DONE $ci\\n");
    sl_send_reply(200, "OK");
    exit;
}
"""

# set 1: equal weights; set 2: weights 1/3/5 and priorities; set 3: an inactive destination
ROWS = [
    (1, "sip:127.0.0.1:5071", "1", 0, 0),
    (1, "sip:127.0.0.1:5072", "1", 0, 0),
    (1, "sip:127.0.0.1:5073", "1", 0, 0),
    (1, "sip:127.0.0.1:5074", "1", 0, 0),
    (2, "sip:127.0.0.2:5080", "1", 0, 0),
    (2, "sip:127.0.0.2:5081", "3", 5, 0),
    (2, "sip:127.0.0.2:5082", "5", 0, 0),
    (3, "sip:127.0.0.3:5090", "2", 0, 0),
    (3, "sip:127.0.0.3:5091", "1", 0, 1),
    (3, "sip:127.0.0.3:5092", "4", 0, 0),
    (3, "sip:127.0.0.3:5093", "1", 0, 0),
]

CASES = [
    (alg, set_id, flags)
    for alg in (0, 1, 2, 3)
    for set_id in (1, 2, 3)
    for flags in ("", "u")
    if not (alg == 0 and flags)
] + [(alg, set_id, flags) for alg in (0, 4, 8) for set_id in (1, 2, 3) for flags in ("f", "fd")]
CALLS_PER_CASE = 12


def _request(n: int, alg: int, set_id: int, flags: str) -> bytes:
    callid = f"c{n}-{alg}{set_id}{flags}-\u00e9x{n * 7919}@host{n % 5}"
    user = f"user{n * 31 % 97}"
    port = "" if n % 3 else ":5062"
    text = (
        f"OPTIONS sip:{user}@d{n % 7}.example.com{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{n}x{alg}{set_id}{flags}\r\n"
        f"From: <sip:from{n % 13}@f{n % 3}.example.org{port}>;tag=t{n}\r\n"
        f"To: <sip:to{n % 11}@t{n % 4}.example.net>\r\n"
        f"Call-ID: {callid}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
        f"X-Alg: {alg}\r\nX-Set: {set_id}\r\nX-Flags: {flags or '-'}\r\nContent-Length: 0\r\n\r\n"
    )
    return text.encode()


@pytest.fixture(scope="module")
def picks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    workdir = tmp_path_factory.mktemp("ds-hash")
    db = create_sqlite(workdir / "ds.db", "dispatcher")
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO dispatcher (setid, destination, weight, priority, state) VALUES (?,?,?,?,?)", ROWS
        )
    messages = [
        _request(n, alg, set_id, flags) for alg, set_id, flags in CASES for n in range(CALLS_PER_CASE)
    ]
    with start_pair(SCRIPT, workdir, values={"DB": db}) as (opensips, pysips):
        logs = exchange([opensips, pysips], messages, done=DONE)
    yield {name: [_pick(lines) for lines in per_message] for name, per_message in logs.items()}


def _pick(lines: list[str]) -> str:
    """The destination picked, then the failover ones ds_next_dst walks through."""
    picked = [found.group(2) for line in lines if (found := re.search(r"DS-(?:PICK|NEXT) (\S+) (\S+)", line))]
    return " ".join(picked) if picked else "(no pick) " + " | ".join(lines)


def test_reference_picked_destinations(picks: dict[str, list[str]]) -> None:
    reference = picks["opensips"]
    assert all(p.startswith("sip:") for p in reference), reference
    assert any(" " in p for p in reference), "the failover lists must not be empty"
    assert len({p.split()[0] for p in reference}) >= 8, "the requests should spread over most destinations"
    assert not any("sip:127.0.0.3:5091" in p for p in reference)  # the inactive one is never chosen


def test_same_destination_as_opensips(picks: dict[str, list[str]]) -> None:
    differing = [
        (CASES[i // CALLS_PER_CASE], ref, ours)
        for i, (ref, ours) in enumerate(zip(picks["opensips"], picks["pysips"], strict=True))
        if ref != ours
    ]
    assert not differing, f"{len(differing)} of {len(picks['opensips'])} differ: {differing[:10]}"
