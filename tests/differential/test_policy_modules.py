"""dialplan and permissions against OpenSIPS 3.6: the same SQLite tables, the same questions.

Both servers load the rules of one `pysips db create`d SQLite file (dialplan rows covering both
match operators, priorities and their tie-break, caseless flags, subst/repl with back-references
and a variable, a replacement without subst_exp, a rule without output, a failing subst_exp, a
disabled row and time recurrences; address rows with subnets, ports, protocols, patterns and
context_info). Each MESSAGE asks one question in its headers; the script logs the answer. The
logs must be equal line by line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pysips.db.sqlite import SqliteDatabase
from pysips.db.url import parse_db_url
from tests.differential.extra_modules import extra_module
from tests.differential.reference import exchange, start_pair
from tests.integration.script_rig import create_sqlite

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCRIPT = r"""
loadmodule "db_sqlite.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "@@DIALPLAN_SO@@"
loadmodule "permissions.so"
modparam("dialplan", "db_url", "sqlite://@@DB@@")
modparam("permissions", "db_url", "sqlite://@@DB@@")

route {
    if ($hdr(X-Dpid) != NULL) {
        $var(out) = "none";
        $var(attrs) = "none";
        if (dp_translate($(hdr(X-Dpid){s.int}), $hdr(X-Input), $var(out), $var(attrs)))
            $var(rc) = 1;
        else
            $var(rc) = -1;
        xlog("dp $hdr(X-Dpid) [$hdr(X-Input)] rc=$var(rc) out=[$var(out)] attrs=[$var(attrs)] DONE\n");
    } else if ($hdr(X-Grp) != NULL) {
        $var(info) = "none";
        if ($hdr(X-Pattern) != NULL) {
            check_address($(hdr(X-Grp){s.int}), $hdr(X-Ip), $(hdr(X-Port){s.int}), $hdr(X-Proto),
                          $var(info), $hdr(X-Pattern));
        } else {
            check_address($(hdr(X-Grp){s.int}), $hdr(X-Ip), $(hdr(X-Port){s.int}), $hdr(X-Proto),
                          $var(info));
        }
        $var(rc) = $rc;
        xlog("addr $hdr(X-Grp) $hdr(X-Ip):$hdr(X-Port)/$hdr(X-Proto) [$hdr(X-Pattern)] rc=$var(rc)"
             " info=[$var(info)] DONE\n");
    } else {
        $var(info) = "none";
        $var(g) = "none";
        check_source_address(0, $var(info));
        $var(rc) = $rc;
        get_source_group($var(g));
        xlog("source rc=$var(rc) info=[$var(info)] group=[$var(g)] DONE\n");
    }
    sl_send_reply(200, "OK");
}
"""

# dpid, pr, match_op, match_exp, match_flags, subst_exp, repl_exp, attrs, timerec, disabled
DIALPLAN = [
    (1, 1, 1, r"^(0040|\+40|0|40)21[0-9]+", 0, r"^(0040|\+40|0|40)(.+)", r"40\2", "bucharest", None, 0),
    (1, 2, 0, "SIP server", 1, None, "OpenSIPS", None, None, 0),
    (1, 3, 1, r"^00(.*)", 0, r"^00(.*)", r"+\1", "intl", None, 0),
    (1, 3, 0, "0049", 0, None, "DE", "germany", None, 0),
    (1, 4, 0, "0049", 0, None, "never-lower-priority", None, None, 0),
    (1, 5, 1, r"^9", 0, None, r"nine\1", None, None, 0),
    (1, 6, 1, r"^8(.)", 0, r"^8(.)", r"\1-$rm", None, None, 0),
    (1, 7, 1, r"^7", 0, None, None, "seven", None, 0),
    (1, 8, 1, r"^6", 0, r"^5", "x", None, None, 0),
    (1, 9, 1, r"^abc", 1, r"^ab(c)", r"\1\1", "caseless", None, 0),
    (1, 10, 1, r"^44", 0, r"4", "four", None, None, 0),
    (1, 0, 0, "12345", 0, None, "disabled", None, None, 1),
    (1, 11, 0, "daily", 0, None, "all-day", None, "20200101T000000|20200101T235959||DAILY", 0),
    (1, 11, 0, "later", 0, None, "future", None, "20990101T000000|20990101T010000", 0),
    (1, 12, 0, "later", 0, None, "fallback", None, None, 0),
    (1, 13, 1, r"^wk", 0, None, "weekdays", None,
     "20200106T000000|20200106T235959||WEEKLY|||MO,TU,WE,TH,FR", 0),
    (1, 14, 1, r"^wk", 0, None, "weekend", None, None, 0),
    (2, 1, 0, "abc", 0, None, "lower", None, None, 0),
    (2, 2, 1, "^[a-z]+$", 0, r"^(.)(.*)$", r"\2\1", None, None, 0),
]

DP_INPUTS = [
    (1, "0040211234"), (1, "+40219999"), (1, "sip server"), (1, "SIP SERVER"), (1, "0049"),
    (1, "00491234"), (1, "9876"), (1, "8x"), (1, "7abc"), (1, "6"), (1, "ABCD"), (1, "4412"),
    (1, "12345"), (1, "daily"), (1, "later"), (1, "wk1"), (1, "nothing"), (2, "abc"), (2, "ABC"),
    (2, "hello"), (3, "abc"),
]

# grp, ip, mask, port, proto, pattern, context_info
ADDRESS = [
    (1, "10.0.0.0", 8, 0, "any", None, "ten"),
    (1, "10.1.2.3", 32, 5060, "udp", None, "exact"),
    (1, "10.1.0.0", 16, 0, "tcp", None, "ten-one-tcp"),
    (2, "192.168.1.10", 32, 0, "tcp", "sip:*@example.com", "pat"),
    (2, "192.168.1.10", 32, 0, "any", None, None),
    (3, "2001:db8::1", 128, 0, "any", None, "v6"),
    (4, "172.16.0.0", 12, 5080, "any", None, "private"),
    (5, "127.0.0.1", 32, 0, "any", None, "local"),
]

# An empty protocol asks for any: OpenSIPS 3.6 refuses "any" read from a header (it compares the
# unterminated text), so the questions spell it as OpenSIPS reads it reliably.
ADDR_QUERIES = [
    (1, "10.1.2.3", 5060, "udp", None), (1, "10.1.2.3", 5061, "udp", None),
    (1, "10.1.2.3", 5061, "tcp", None), (1, "10.200.0.1", 0, "", None),
    (1, "11.0.0.1", 5060, "udp", None), (2, "192.168.1.10", 5060, "tcp", "sip:bob@example.com"),
    (2, "192.168.1.10", 5060, "tcp", "sip:bob@other.com"), (2, "192.168.1.10", 5060, "udp", None),
    (2, "192.168.1.11", 5060, "udp", None), (3, "2001:db8::1", 5060, "udp", None),
    (4, "172.20.1.1", 5080, "udp", None), (4, "172.20.1.1", 5081, "udp", None),
    (4, "172.32.0.1", 5080, "udp", None), (0, "10.9.9.9", 1, "tls", None),
    (0, "127.0.0.1", 5060, "udp", None), (9, "10.0.0.1", 0, "", None),
]


def make_db(path: Path) -> None:
    url = f"sqlite://{path}"
    create_sqlite(path, "dialplan", "permissions")
    db = SqliteDatabase(parse_db_url(url))
    columns = ("dpid", "pr", "match_op", "match_exp", "match_flags", "subst_exp", "repl_exp",
               "attrs", "timerec", "disabled")
    for row in DIALPLAN:
        db.insert("dialplan", dict(zip(columns, row, strict=True)))
    address_columns = ("grp", "ip", "mask", "port", "proto", "pattern", "context_info")
    for address in ADDRESS:
        db.insert("address", dict(zip(address_columns, address, strict=True)))
    db.close()


def message(n: int, headers: list[str]) -> bytes:
    lines = ["MESSAGE sip:policy@127.0.0.1 SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-policy-{n}",
             "From: <sip:tester@127.0.0.1>;tag=t1", "To: <sip:policy@127.0.0.1>",
             f"Call-ID: policy-{n}", "CSeq: 1 MESSAGE", *headers, "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def test_dialplan_and_permissions_answer_as_opensips(tmp_path: Path) -> None:
    db = tmp_path / "policy.db"
    make_db(db)
    messages = [message(i, [f"X-Dpid: {dpid}", f"X-Input: {text}"])
                for i, (dpid, text) in enumerate(DP_INPUTS)]
    for grp, ip, port, proto, pattern in ADDR_QUERIES:
        headers = [f"X-Grp: {grp}", f"X-Ip: {ip}", f"X-Port: {port}", f"X-Proto: {proto}"]
        if pattern is not None:
            headers.append(f"X-Pattern: {pattern}")
        messages.append(message(len(messages), headers))
    messages.append(message(len(messages), []))
    values = {"DB": db, "DIALPLAN_SO": extra_module("dialplan")}
    with start_pair(SCRIPT, tmp_path, values=values) as (opensips, pysips):
        logs = exchange([opensips, pysips], messages, done="DONE")
    reference = [lines[-1] for lines in logs["opensips"]]
    ours = [lines[-1] for lines in logs["pysips"]]
    assert "dp 1 [0040211234] rc=1 out=[40211234] attrs=[bucharest] DONE" in reference[0]
    assert all("DONE" in line for line in reference), reference
    differences = [(o, p) for o, p in zip(reference, ours, strict=True) if _tail(o) != _tail(p)]
    assert not differences, "\n".join(f"opensips: {o}\npysips:   {p}" for o, p in differences)


def _tail(line: str) -> str:
    """The record without the log prefix (date, pid, level) the two servers write differently."""
    for start in ("dp ", "addr ", "source "):
        at = line.find(start)
        if at >= 0:
            return line[at:]
    return line


JSON_SCRIPT = r"""
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "json.so"

route {
    $json(obj) := $rb;
    xlog("J1 $json(obj)\n");
    xlog("J2 $json_compact(obj)\n");
    xlog("J3 $json_pretty(obj)\n");
    $json(obj/added) = "text/with \"quotes\"";
    $json(obj/num) = 42;
    $json(obj/list[]) = 4;
    $json(obj/list[0]) = NULL;
    $json(obj/list[-1]) = "last";
    $json(obj/nested) := "{\"deep\": [true, false, null, 1.50, -7]}";
    xlog("J4 $json(obj)\n");
    $var(i) = 1;
    $var(k) = "nested";
    $var(j5) = "[" + $json(obj/list[$var(i)]) + "] [" + $json(obj/$var(k)/deep[3]) + "]";
    xlog("J5 $var(j5) [$json(obj/missing/x)] [$json(obj/nested/deep[2])]\n");
    $var(sum) = 0;
    for ($var(v) in $(json(obj/list)[*]))
        $var(sum) = $var(sum) + 1;
    $var(keys) = "";
    for ($var(k2) in $(json(obj.keys)[*]))
        $var(keys) = $var(keys) + $var(k2) + ";";
    xlog("J6 sum=$var(sum) keys=$var(keys)\n");
    $json(arr) := "[{},{},{}]";
    json_link($json(stub), $json(arr[0]));
    $json(stub/ana) = "are";
    $json(stub/ar) := "[]";
    $json(stub/ar[]) = 1;
    $json(stub/ar[]) = 2;
    $json(arr[0]/ar[0]) = NULL;
    xlog("J7 $json(stub) | $json(arr)\n");
    $json(stub) = NULL;
    xlog("J8 $json(stub) | $json(arr)\n");
    $json(obj/none/deeper) = 1;
    $json(obj/list[9]) = 1;
    $json(fresh/x) = 1;
    xlog("J9 $json(obj/list) $json(fresh)\n");
    $json(empty) := "{}";
    $json(emptya) := "[]";
    xlog("J10 [$json(empty)] [$json_compact(empty)] [$json_pretty(empty)]\n");
    xlog("J10b [$json(emptya)] [$json_pretty(emptya)]\n");
    json_merge("{\"a\":1,\"b\":{\"c\":2,\"d\":3}}", "{\"b\":{\"c\":null,\"e\":\"f/g\"},\"z\":[1]}", $var(m));
    xlog("J11 $var(m) DONE\n");
    sl_send_reply(200, "OK");
}
"""

JSON_RECORD = re.compile(r"(?:^|:)(J\d+b? .*)", re.DOTALL)
JSON_BODY = ('{"name": "bob", "list": [1, 2, 3], "obj": {"a": "x/y", "b": [], "c": {}},'
             ' "t": true, "n": null, "f": 2.50, "u": "\\u00e9\\t"}')


def test_json_reads_and_writes_as_opensips(tmp_path: Path) -> None:
    body = JSON_BODY.encode()
    data = (b"MESSAGE sip:json@127.0.0.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-json-1\r\n"
            b"From: <sip:tester@127.0.0.1>;tag=t1\r\nTo: <sip:json@127.0.0.1>\r\n"
            b"Call-ID: json-1\r\nCSeq: 1 MESSAGE\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with start_pair(JSON_SCRIPT, tmp_path) as (opensips, pysips):
        logs = exchange([opensips, pysips], [data], done="DONE")
    reference = _json_records(logs["opensips"][0])
    ours = _json_records(logs["pysips"][0])
    assert any(line.startswith("J11 ") for line in reference), reference
    assert ours == reference, "\n".join(f"opensips: {o}\npysips:   {p}"
                                        for o, p in zip(reference, ours, strict=False) if o != p)


def _json_records(lines: list[str]) -> list[str]:
    """The J<n> records (a multi-line one whole), without the log level prefix; the modules'
    own log records are left out (their levels and wording differ)."""
    out: list[str] = []
    for line in lines:
        found = JSON_RECORD.search(line)
        if found:
            out.append(found.group(1))
    return out
