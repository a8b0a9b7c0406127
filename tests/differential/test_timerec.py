"""Time recurrences (drouting's and dialplan's `timerec`, OpenSIPS's time_rec.c) against the
reference: OpenSIPS 3.6.8 evaluates check_time_rec(rec, timestamp) for many recurrences and
timestamps, and our port (pysips/script/timerec.py, which drouting and dialplan share) must give
the same answer for each, parse errors included."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest

from pysips.script import timerec
from tests.differential.reference import exchange, start_opensips

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DONE = "TR-DONE"
SCRIPT = """\
loadmodule "sl.so"
loadmodule "cfgutils.so"

route {
    $var(rc) = check_time_rec($hdr(X-Rec), $(hdr(X-Ts){s.int}));
    xlog("TR-RESULT $ci $var(rc)\\n");
    xlog("TR-DONE $ci\\n");
    sl_send_reply(200, "OK");
    exit;
}
"""

RECURRENCES = [
    "20240101T080000|20240101T170000||weekly|||MO,TU,WE,TH,FR",
    "20240101T090000|20240101T180000||daily",
    "20240101T220000|20240102T060000||daily",
    "20240103T000000||P1D|weekly|||SA,SU",
    "20240101T000000||P1D|monthly|||||-1",
    "20240101T000000||P1D|monthly||||1,15",
    "20240101T000000||P1D|monthly|||1MO,-1FR",
    "20240101T000000||P1D|yearly|||||||12",
    "20240101T000000||P1D|yearly||||||1,2,52",
    "20240101T000000||P1D|yearly|||||100,-1",
    "20240101T100000|20240101T120000||daily||2",
    "20240101T000000||P1D|weekly||3|TU",
    "20240101T000000||P1D|monthly||2",
    "20240101T000000||P1W|yearly",
    "20240101T080000|20240101T170000||daily|20250601T000000",
    "20250301T000000|20250401T000000",
    "20250301T000000||p30d",
    "20240101T000000||PT8H|daily",
    "Europe/Bucharest|20240101T090000|20240101T170000||weekly|||MO,WE,FR",
    "America/New_York|20240310T013000|20240310T033000||yearly",
    "Asia/Tokyo|20240101T000000||P1D|monthly||||10,20,30",
    "20240101T000000||P1D|yearly|||2MO",
    "20240101T000000||P1D|monthly|||3WE",
    "20240101T090000|20240101T170000||weekly|||MO,TU,WE,TH,FR"
    " & 20240101T000000||P1D|yearly|||||||1,2,3,4,5,6",
    "20240101T000000||P1D|weekly|||SA,SU / 20240101T200000|20240101T080000||daily",
    "!20240101T080000|20240101T170000||daily",
    "(20240101T000000||P1D|weekly|||MO / 20240101T000000||P1D|weekly|||FR)"
    " & !(20240101T120000|20240101T130000||daily)",
    "20240101T000000|20240101T010000||weekly|||MO|1,2",
    "",
    "20241301T000000|20241302T000000",
    "19690101T000000|19700101T000000",
    "20240101T000000||P1D||||MO",
    "2024-01-01",
    "20240101T000000||X1D|daily",
    "(20240101T000000||P1D|daily",
    "20240101T000000||P1D|weekly & / 20240101T000000||P1D|daily",
]


def _cases() -> list[tuple[str, int]]:
    rng = random.Random(20261207)
    start, end = 1704067200, 1798761600  # 2024-01-01 .. 2027-01-01
    cases = []
    for rec in RECURRENCES:
        stamps = [rng.randrange(start, end) for _ in range(14)]
        # around the edges of a day, a week and the DST change in New York
        stamps += [1710052200, 1710055800, 1710059400, 1704096000, 1704096000 - 1, 1735689599]
        cases += [(rec, ts) for ts in stamps]
    return cases


CASES = _cases()


def _ours(rec: str, ts: int) -> str:
    if not rec:
        return "-1"  # OpenSIPS: an empty string matches nothing
    try:
        expr = timerec.parse_expr(rec)
    except timerec.TimeRecError:
        return "-2"
    return "1" if expr.matches(ts) else "-1"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    workdir = tmp_path_factory.mktemp("timerec")
    messages = []
    for n, (rec, ts) in enumerate(CASES):
        messages.append(
            (
                f"OPTIONS sip:t@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKtr{n}\r\n"
                f"From: <sip:a@b>;tag={n}\r\nTo: <sip:t@127.0.0.1>\r\nCall-ID: tr{n}\r\nCSeq: 1 OPTIONS\r\n"
                f"X-Rec: {rec}\r\nX-Ts: {ts}\r\nContent-Length: 0\r\n\r\n"
            ).encode()
        )
    server = start_opensips(SCRIPT, workdir)
    try:
        logs = exchange([server], messages, done=DONE)
    finally:
        server.stop()
    results = []
    for lines in logs["opensips"]:
        found = [m.group(1) for line in lines if (m := re.search(r"TR-RESULT \S+ (-?\d+|<null>)", line))]
        results.append(found[0] if found else "(none) " + " | ".join(lines))
    yield results


def test_reference_answered_every_case(reference: list[str]) -> None:
    assert all(r in ("1", "-1", "-2") for r in reference), [
        r for r in reference if r not in ("1", "-1", "-2")
    ][:5]
    assert reference.count("1") > 40 and reference.count("-1") > 40 and "-2" in reference


def test_same_answers_as_opensips(reference: list[str]) -> None:
    ours = [_ours(rec, ts) for rec, ts in CASES]
    differing = [
        (CASES[i], ref, mine)
        for i, (ref, mine) in enumerate(zip(reference, ours, strict=True))
        if ref != mine
    ]
    assert not differing, f"{len(differing)} of {len(CASES)} differ: {differing[:8]}"
