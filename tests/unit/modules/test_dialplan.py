"""dialplan: rule choice (operators, priorities, tie-break), substitutions, attributes, time
recurrences, and dp_translate from a script over a SQLite table."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from modules.dialplan.repl import parse_repl
from modules.dialplan.rules import Dialplan, RuleError, build_rule
from pysips.db.admin import create, open_url
from pysips.script.compile import load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text
from pysips.script.timerec import parse_time_check
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

Row = tuple[int, int, int, str, int, str | None, str | None, str | None, str | None]
NOW = datetime(2026, 12, 7, 10, 30).timestamp()  # a Monday morning, local time


def row(dpid: int, pr: int, op: int, match: str, flags: int = 0, subst: str | None = None,
        repl: str | None = None, attrs: str | None = None, timerec: str | None = None) -> Row:
    return (dpid, pr, op, match, flags, subst, repl, attrs, timerec)


def plan(*rows: Row) -> Dialplan:
    return Dialplan.from_rows(rows, None, parse_time_check)


def test_regex_subst_builds_the_output_from_groups_only() -> None:
    p = plan(row(1, 1, 1, r"^(0040|\+40|0|40)21", 0, r"^(0040|\+40|0|40)(.+)", r"40\2", "ro"),
             row(1, 2, 1, r"^44", 0, "4", "four"))
    assert p.translate(1, "0040211234", NOW) == ("40211234", "ro")
    assert p.translate(1, "4412", NOW) == ("four", "")  # the input outside the match is dropped
    assert p.translate(1, "999", NOW) == -1
    assert p.translate(7, "0040211234", NOW) == -1


def test_lower_priority_wins_then_the_row_read_first() -> None:
    p = plan(row(1, 3, 1, "^00", 0, None, "regex"), row(1, 3, 0, "0049", 0, None, "string"),
             row(1, 1, 0, "0048", 0, None, "poland"))
    assert p.translate(1, "0049", NOW)[0] == "regex"  # type: ignore[index]
    p = plan(row(1, 3, 0, "0049", 0, None, "string"), row(1, 3, 1, "^00", 0, None, "regex"))
    assert p.translate(1, "0049", NOW)[0] == "string"  # type: ignore[index]
    p = plan(row(1, 5, 1, "^00", 0, None, "regex"), row(1, 4, 0, "0049", 0, None, "string"))
    assert p.translate(1, "0049", NOW)[0] == "string"  # type: ignore[index]


def test_case_insensitive_flag_applies_to_both_operators() -> None:
    p = plan(row(1, 1, 0, "SIP server", 1, None, "OpenSIPS"), row(2, 1, 0, "abc", 0, None, "x"),
             row(3, 1, 1, "^abc", 1, "^ab(c)", r"\1\1"))
    assert p.translate(1, "sip SERVER", NOW) == ("OpenSIPS", "")
    assert p.translate(2, "ABC", NOW) == -1
    assert p.translate(3, "ABCD", NOW) == ("CC", "")


def test_replacement_without_subst_is_copied_as_written() -> None:
    p = plan(row(1, 1, 1, "^9", 0, None, r"nine\1"))
    assert p.translate(1, "98", NOW) == (r"nine\1", "")


def test_subst_that_does_not_match_fails_and_no_repl_gives_empty_output() -> None:
    p = plan(row(1, 1, 1, "^6", 0, "^5", "x"), row(1, 2, 1, "^7", 0, None, None, "seven"))
    assert p.translate(1, "6", NOW) == -1
    assert p.translate(1, "7", NOW) == ("", "seven")


def test_rules_opensips_discards() -> None:
    p = plan(row(1, 1, 2, "a*"), row(1, 1, 1, "(unclosed"), row(1, 1, 0, ""),
             row(1, 1, 1, "^1", 0, "^1(.)", r"\2"), row(1, 1, 0, "ok", 0, None, "fine"))
    assert (p.loaded, p.discarded) == (1, 4)
    with pytest.raises(RuleError):
        build_rule(row(1, 1, 0, "x", 0, None, None, None, "garbage|x"), 0, None, parse_time_check)


def test_repl_escapes_and_uri() -> None:
    repl = parse_repl(r"\\x\t\u-\0")
    assert repl.build(["whole"], "sip:r@h", None) == "\\x\tsip:r@h-whole"


def test_time_recurrences() -> None:
    office = parse_time_check("20240101T090000|20240101T170000||WEEKLY|||MO,TU,WE,TH,FR")
    assert office(NOW)
    assert not office(datetime(2026, 12, 7, 18, 0).timestamp())
    assert not office(datetime(2026, 12, 6, 10, 0).timestamp())  # Sunday
    assert parse_time_check("!20240101T090000|20240101T170000||WEEKLY|||SA,SU")(NOW)
    either = parse_time_check("20990101T000000|20990101T010000 / 20200101T000000|20200101T235959||DAILY")
    assert either(NOW)
    first_monday = parse_time_check("20200101T000000|20200101T235959||MONTHLY|||1MO")
    assert first_monday(NOW)  # 7 December 2026 is the first Monday of the month
    assert not first_monday(datetime(2026, 12, 14, 10, 0).timestamp())
    assert parse_time_check("20200101T000000|20200101T235959||MONTHLY||||-1")(
        datetime(2026, 12, 31, 12).timestamp())
    p = plan(row(1, 1, 0, "t", 0, None, "future", None, "20990101T000000|20990101T010000"),
             row(1, 2, 0, "t", 0, None, "now"))
    assert p.translate(1, "t", NOW) == ("now", "")


SCRIPT = """
listen=udp:127.0.0.1:5060
loadmodule "db_sqlite.so"
loadmodule "dialplan.so"
modparam("dialplan", "db_url", "sqlite:///@@DB@@")
route {
    $var(out) = "none";
    if (dp_translate(1, "$rU", $var(out), $var(attrs))) $var(rc) = 1; else $var(rc) = -1;
    if (dp_translate(1, "$rU", $ru)) $var(ru) = $ru;
}
"""


def test_dp_translate_in_a_script(tmp_path: Path) -> None:
    path = tmp_path / "dp.db"
    db = open_url(f"sqlite:///{path}")
    create(db, ["dialplan"])
    columns = ("dpid", "pr", "match_op", "match_exp", "match_flags", "subst_exp", "repl_exp",
               "attrs", "disabled")
    for values in [(1, 1, 1, "^0([0-9]+)$", 0, "^0([0-9]+)$", r"sip:+49\1@$rd", "de", 0),
                   (1, 0, 0, "0301", 0, None, "disabled", None, 1)]:
        db.insert("dialplan", dict(zip(columns, values, strict=True)))
    db.close()
    loaded = load_script(parse_text(SCRIPT.replace("@@DB@@", str(path)), "d.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    msg = parse_message(b"INVITE sip:0301@gw.example SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1"
                        b"\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE"
                        b"\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(process, msg, ReceiveInfo("udp", "127.0.0.1", 5060, "1.2.3.4", 5060))
    assert loaded.main_route is not None
    loaded.run(loaded.main_route, ctx)
    assert process.vars["rc"] == 1
    assert process.vars["out"] == "sip:+49301@gw.example" and process.vars["attrs"] == "de"
    assert process.vars["ru"] == "sip:+49301@gw.example"
