"""Language layer: the same expressions on OpenSIPS 3.6 and pysips print the same values.

One script (language_cases.script()) prints `CASE <id> <value>` for every pseudo-variable of
MESSAGE_PVS on every message of messages.py, and for every expression case on the carrier message.
Both servers run it once; each case is then one test comparing the two values. The differences
kept on purpose (docs/compatibility.md) are tested as differences: both values are asserted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.differential.language_cases import LOG_CALLS, MESSAGE_PVS, expression_cases, script
from tests.differential.messages import message_set
from tests.differential.reference import Server, exchange, start_pair

pytestmark = pytest.mark.integration

MESSAGES = message_set()
EXPRESSIONS = expression_cases()
CARRIER = "carrier"
DONE = "DIFF-DONE"

# Messages the two servers do not both hand to the script, each a difference kept on purpose
# (docs/compatibility.md): label -> (OpenSIPS ran the script, pysips ran the script). They get one
# case, `<label>:processed`, instead of the per-message pseudo-variables.
NOT_BOTH_PROCESSED: dict[str, tuple[str, str]] = {
    # CSeq folded over two lines: OpenSIPS's CSeq parser refuses it and drops the message
    "wsinv": ("no", "yes"),
    # a Via host written as an IPv4-mapped IPv6 reference: OpenSIPS drops the message
    "ipv4-mapped-ipv6": ("no", "yes"),
    # an R-URI of an unknown scheme: pysips answers 416 itself (RFC 3261 8.2.2.1), OpenSIPS runs
    # the script with NULL R-URI parts
    "unkscm": ("yes", "no"),
    "novelsc": ("yes", "no"),
}

MESSAGE_CASE_IDS = [
    case_id
    for label, _ in MESSAGES
    for case_id in ([f"{label}:processed"] if label in NOT_BOTH_PROCESSED
                    else [f"{label}:{pv_id}" for pv_id, _ in MESSAGE_PVS])
]
EXPRESSION_CASE_IDS = [f"expr:{case.id}" for case in EXPRESSIONS]
# whole log records (level included); a call filtered by the log level prints on neither server
LOG_CASE_IDS = [f"expr:log.{log_id}" for log_id, _ in LOG_CALLS]
MISSING = "(no CASE line)"

# Differences kept on purpose, each listed in docs/compatibility.md with its reason:
# case id -> (OpenSIPS's value, pysips's value).
KEPT_DIFFERENCES: dict[str, tuple[str, str]] = {
    **{f"{label}:processed": both for label, both in NOT_BOTH_PROCESSED.items()},
    # OpenSIPS's log ends a line at a NUL byte; pysips prints the byte and the rest of the value
    "intmeth:tn": ('"BEL:\\\x07 NUL:\\', '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"'),
    "intmeth:hdr.to": ('"BEL:\\\x07 NUL:\\',
                       '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" '
                       "<sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>"),
}

_INLINE_PREFIX = re.compile(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \[\d+\] ")
_CASE_LINE = re.compile(r"CASE (\S+) ?(.*)", re.DOTALL)


def _values(server: Server, per_message: list[list[str]]) -> dict[str, str]:
    """case id -> printed value, from the records each message caused on one server."""
    values: dict[str, str] = {}
    for (label, _), grouped in zip(MESSAGES, per_message, strict=True):
        if label in NOT_BOTH_PROCESSED:
            values[f"{label}:processed"] = "yes" if any(r.endswith(DONE) for r in grouped) else "no"
        # OpenSIPS ends a log line at a NUL byte, newline included: the next record then
        # follows on the same line, after its own prefix
        records = [part for record in grouped for part in _INLINE_PREFIX.split(record)]
        for record in records:
            start = record.find("CASE ")
            if start < 0:
                continue
            match = _CASE_LINE.match(record[start:])
            if match is None:
                continue
            case_id, value = match.groups()
            if case_id.startswith("log."):
                value = record  # the level the line carries is part of what is compared
            # the receiving port is the only thing that differs by construction
            value = re.sub(rf"\b{server.port}\b", "<PORT>", value)
            if label in NOT_BOTH_PROCESSED:
                continue
            if label == CARRIER and not any(case_id == pv for pv, _ in MESSAGE_PVS):
                values[f"expr:{case_id}"] = value
            else:
                values[f"{label}:{case_id}"] = value
    return values


def _timeouts(label: str) -> dict[str, float]:
    """Long for a server that runs the script on the message, short for one that drops it."""
    processed = NOT_BOTH_PROCESSED.get(label, ("yes", "yes"))
    return {name: 15.0 if ran == "yes" else 1.0 for name, ran in zip(("opensips", "pysips"), processed,
                                                                         strict=True)}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, str]]]:
    workdir: Path = tmp_path_factory.mktemp("language")
    with start_pair(script(), workdir) as (opensips, pysips):
        # a message one server drops costs its timeout: short, the other one has answered by then
        timeouts = [_timeouts(label) for label, _ in MESSAGES]
        logs = exchange([opensips, pysips], [data for _, data in MESSAGES], done=DONE, timeouts=timeouts)
        yield {server.name: _values(server, logs[server.name]) for server in (opensips, pysips)}


def test_enough_cases() -> None:
    assert len(MESSAGE_CASE_IDS) + len(EXPRESSION_CASE_IDS) + len(LOG_CASE_IDS) >= 300


def test_reference_evaluated_the_expressions(outcomes: dict[str, dict[str, str]]) -> None:
    """OpenSIPS ran the expression route to its end: no case is compared against nothing."""
    missing = [case_id for case_id in EXPRESSION_CASE_IDS if case_id not in outcomes["opensips"]]
    assert missing == []


@pytest.mark.parametrize("case_id", MESSAGE_CASE_IDS + EXPRESSION_CASE_IDS + LOG_CASE_IDS)
def test_same_value(outcomes: dict[str, dict[str, str]], case_id: str) -> None:
    reference = outcomes["opensips"].get(case_id, MISSING)
    ours = outcomes["pysips"].get(case_id, MISSING)
    if case_id in KEPT_DIFFERENCES:
        assert (reference, ours) == KEPT_DIFFERENCES[case_id]
    else:
        assert ours == reference, f"{case_id}: OpenSIPS {reference!r}, pysips {ours!r}"
