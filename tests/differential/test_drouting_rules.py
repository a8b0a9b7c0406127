"""drouting rule selection against the reference OpenSIPS 3.6.8: the same dr_* tables (one SQLite
file made by `pysips db create`), the same requests, and for each the R-URIs do_routing() and
then use_next_gw() produce, with the rule id and matched prefix: longest prefix, priorities, time
recurrences, groups from dr_groups, carriers (first-only, disabled), disabled gateways, strip and
PRI prefixes, strict length ('L'), check only ('C') and rule fallback ('F')."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest

from tests.differential.reference import exchange, start_pair
from tests.integration.script_rig import create_sqlite

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DONE = "DR-DONE"

SCRIPT = """\
loadmodule "sl.so"
loadmodule "db_sqlite.so"
loadmodule "drouting.so"
modparam("drouting", "db_url", "sqlite://@@DB@@")
modparam("drouting", "probing_interval", 0)
modparam("drouting", "rule_id_avp", "$avp(rule_id)")
modparam("drouting", "rule_prefix_avp", "$avp(rule_prefix)")
modparam("drouting", "default_group", 9)

route {
    $var(flags) = $hdr(X-Flags);
    $var(ok) = 0;
    if ($hdr(X-Grp) == "none") {
        if (do_routing()) $var(ok) = 1;
    } else if ($var(flags) == "L") {
        if (do_routing($(hdr(X-Grp){s.int}), "L")) $var(ok) = 1;
    } else if ($var(flags) == "C") {
        if (do_routing($(hdr(X-Grp){s.int}), "C")) $var(ok) = 1;
    } else if ($var(flags) == "F") {
        if (do_routing($(hdr(X-Grp){s.int}), "F")) $var(ok) = 1;
    } else {
        if (do_routing($(hdr(X-Grp){s.int}))) $var(ok) = 1;
    }
    if ($var(ok) == 1) {
        xlog("DR-PICK $ci $ru rule=$avp(rule_id) prefix=$avp(rule_prefix)\\n");
        while (use_next_gw())
            xlog("DR-NEXT $ci $ru\\n");
    } else {
        xlog("DR-PICK $ci none\\n");
    }
    xlog("DR-DONE $ci\\n");
    sl_send_reply(200, "OK");
    exit;
}
"""

GATEWAYS = [  # gwid, type, address, strip, pri_prefix, state
    ("gwA", 1, "127.0.0.1:5091", 0, None, 0),
    ("gwB", 1, "127.0.0.2:5092", 2, "00", 0),
    ("gwC", 2, "127.0.0.3", 0, "9", 0),
    ("gwD", 1, "sip:127.0.0.4:5094;transport=tcp", 1, None, 0),
    ("gwOff", 1, "127.0.0.5:5095", 0, None, 2),
    ("gwE", 1, "127.0.0.6:5096", 0, "+", 0),
]
CARRIERS = [  # carrierid, gwlist, flags, state
    ("crAll", "gwB,gwC", 0, 0),
    ("crFirst", "gwOff,gwE,gwA", 1, 0),
    ("crOff", "gwA", 0, 1),
]
NEVER = "20990101T000000|20990102T000000"
ALWAYS = "20000101T000000||P1D|daily"
RULES = [  # groupid, prefix, timerec, priority, gwlist
    ("1", "49", None, 0, "gwA,gwB"),
    ("1", "4930", None, 0, "gwC"),
    ("1", "4930", None, 5, "gwD,gwOff,gwE"),
    ("1", "44", NEVER, 10, "gwA"),
    ("1", "44", ALWAYS, 1, "#crAll,gwD"),
    ("1", "33", None, 0, "#crFirst,#crOff"),
    ("1,2", "", None, 0, "gwE"),
    ("2", "1", None, 3, "gwB"),
    ("2", "1", None, 3, "gwC"),
    ("2", "12345", None, 0, "gwOff"),
    ("9", "7", None, 0, "gwD"),
    ("3", "5", None, 0, "gwOff"),
]
GROUPS = [("alice", "example.com", 2)]

CASES = [  # user, group, flags, from user@domain
    ("4930123", "1", "", "x@example.com"),
    ("4912", "1", "", "x@example.com"),
    ("49", "1", "", "x@example.com"),
    ("4", "1", "", "x@example.com"),
    ("44207", "1", "", "x@example.com"),
    ("3312", "1", "", "x@example.com"),
    ("99", "1", "", "x@example.com"),
    ("abc", "1", "", "x@example.com"),
    ("49abc", "1", "", "x@example.com"),
    ("", "1", "", "x@example.com"),
    ("123456", "2", "", "x@example.com"),
    ("1234", "2", "", "x@example.com"),
    ("12345", "2", "", "x@example.com"),
    ("555", "3", "", "x@example.com"),
    ("4930", "1", "L", "x@example.com"),
    ("49301", "1", "L", "x@example.com"),
    ("4930123", "1", "C", "x@example.com"),
    ("123", "2", "C", "x@example.com"),
    ("4930123", "1", "F", "x@example.com"),
    ("12345", "2", "F", "x@example.com"),
    ("555", "3", "F", "x@example.com"),
    ("1999", "none", "", "alice@example.com"),
    ("7123", "none", "", "bob@example.com"),
    ("1999", "none", "", "alice@other.org"),
]


def _request(n: int, user: str, group: str, flags: str, caller: str) -> bytes:
    ruri = f"sip:{user}@pstn.example.net;user=phone" if user else "sip:pstn.example.net"
    return (
        f"OPTIONS {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKdr{n}\r\n"
        f"From: <sip:{caller}>;tag={n}\r\nTo: <sip:{user}@pstn.example.net>\r\nCall-ID: dr{n}\r\n"
        f"CSeq: 1 OPTIONS\r\nX-Grp: {group}\r\nX-Flags: {flags or '-'}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[str]]]:
    workdir = tmp_path_factory.mktemp("drouting")
    db = create_sqlite(workdir / "dr.db", "drouting")
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO dr_gateways (gwid, type, address, strip, pri_prefix, state) VALUES (?,?,?,?,?,?)",
            GATEWAYS,
        )
        conn.executemany(
            "INSERT INTO dr_carriers (carrierid, gwlist, flags, state) VALUES (?,?,?,?)", CARRIERS
        )
        conn.executemany(
            "INSERT INTO dr_rules (groupid, prefix, timerec, priority, gwlist) VALUES (?,?,?,?,?)", RULES
        )
        conn.executemany("INSERT INTO dr_groups (username, domain, groupid) VALUES (?,?,?)", GROUPS)
    messages = [_request(n, *case) for n, case in enumerate(CASES)]
    with start_pair(SCRIPT, workdir, values={"DB": db}) as (opensips, pysips):
        logs = exchange([opensips, pysips], messages, done=DONE)
    yield {name: [_routes(lines) for lines in per_message] for name, per_message in logs.items()}


def _routes(lines: list[str]) -> str:
    found = [m.group(1) for line in lines if (m := re.search(r"DR-(?:PICK|NEXT) \S+ (.*)$", line))]
    return " | ".join(f.strip() for f in found) if found else "(nothing) " + " | ".join(lines)


def test_reference_routed(routes: dict[str, list[str]]) -> None:
    reference = routes["opensips"]
    assert sum(1 for r in reference if r.startswith("sip:")) >= 15, reference
    assert any("|" in r for r in reference), "some calls must have gateways to fail over to"


def test_same_routing_as_opensips(routes: dict[str, list[str]]) -> None:
    differing = [
        (CASES[i], ref, ours)
        for i, (ref, ours) in enumerate(zip(routes["opensips"], routes["pysips"], strict=True))
        if ref != ours
    ]
    assert not differing, f"{len(differing)} of {len(CASES)} differ:\n" + "\n".join(map(str, differing))
