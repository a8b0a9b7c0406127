"""drouting pieces: time recurrences on fixed timestamps, the rule tree walk (longest prefix,
priority, time, the resume index of rule fallback), gateway lists, the R-URI built for a gateway,
weight sorting, and the functions over an SQLite database (states, MI, write-back)."""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pysips.db.schema import DR_CARRIERS, DR_GATEWAYS, DR_GROUPS, DR_RULES
from pysips.script import timerec
from pysips.script.context import MsgContext, ProcessState
from pysips.script.loader import ModuleFinder
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.uri import SipUri, parse_uri
from tests.unit.modules.mi_calls import mi_caller


def _part(name: str) -> ModuleType:
    ModuleFinder().find("db_sqlite")
    found = ModuleFinder().find("drouting")
    assert found is not None
    return importlib.import_module(f"{found.exports.init.__module__}.{name}")


data_mod, routing_mod, mi_mod = (_part(n) for n in ("data", "routing", "mi"))

MON_2025_06_02_10H = 1748858400  # Monday 2 June 2025, 10:00 UTC
SAT_2025_06_07_10H = MON_2025_06_02_10H + 5 * 86400


def test_business_hours_recurrence() -> None:
    rec = timerec.parse_expr("UTC|20240101T080000|20240101T170000||weekly|||MO,TU,WE,TH,FR")
    assert rec.matches(MON_2025_06_02_10H)
    assert not rec.matches(SAT_2025_06_07_10H)
    assert not rec.matches(MON_2025_06_02_10H + 8 * 3600)  # 18:00
    weekend = timerec.parse_expr("UTC|20240106T000000||P2D|weekly")
    assert weekend.matches(SAT_2025_06_07_10H) and not weekend.matches(MON_2025_06_02_10H)
    inverted = timerec.parse_expr("!UTC|20240106T000000||P2D|weekly")
    assert inverted.matches(MON_2025_06_02_10H)
    with pytest.raises(timerec.TimeRecError):
        timerec.parse_expr("20240101T000000||P1D||||MO")  # byday without freq


def test_duration_and_byday_parsing() -> None:
    assert timerec.parse_duration("PT1H30M") == 5400
    assert timerec.parse_duration("P1W2D") == 9 * 86400
    assert timerec.parse_duration("P1H") == 0  # hours need T: OpenSIPS logs and takes 0
    days = timerec.parse_byday("1MO,-1FR,2WE")
    assert days.values == (1, 5, 3) and days.signs == (0, -1, 0)  # the number before WE is ignored


def _rule(rid: int, priority: int, rec: Any = None) -> Any:
    return data_mod.Rule(rid, priority, rec, None, [], "N", None)


def test_rule_tree_longest_prefix_priority_and_resume() -> None:
    rd = data_mod.RoutingData()
    never = timerec.parse_expr("20990101T000000|20990102T000000")
    rd.add_rule("49", 1, _rule(1, 0))
    rd.add_rule("4930", 1, _rule(2, 0))
    rd.add_rule("4930", 1, _rule(3, 5))
    rd.add_rule("4930", 1, _rule(4, 5))
    rd.add_rule("4930", 1, _rule(5, 9, never))
    rd.add_rule("", 1, _rule(6, 0))
    now = MON_2025_06_02_10H
    found = rd.find("4930777", 1, 0, now)
    assert found is not None and (found[0].id, found[1], found[2]) == (
        3,
        4,
        2,
    )  # 9 is never valid; 5s in table order
    found = rd.find("4930777", 1, 2, now)
    assert found is not None and found[0].id == 4
    assert rd.find("4977", 1, 0, now)[0].id == 1
    assert rd.find("4977", 2, 0, now) is None
    assert rd.find("x49", 1, 0, now)[:2] == (rd.rules[""][1][0], 0)
    assert rd.find("4930777", 1, 0, now, strict=True) is None
    assert rd.find("4930", 1, 0, now, strict=True)[0].id == 3


def _uri(text: str) -> SipUri:
    parsed = parse_uri(text)
    assert isinstance(parsed, SipUri)
    return parsed


def test_build_ruri_and_weight_sort() -> None:
    build = routing_mod.build_ruri
    assert (
        build(_uri("sip:004930@x.com;user=phone"), 2, "+", "10.0.0.1:5060")
        == "sip:+4930@10.0.0.1:5060;user=phone"
    )
    assert build(_uri("sip:12@x.com"), 5, "", "gw.example.com") == "sip:gw.example.com"
    entries = [data_mod.ListEntry(None, None, w) for w in (0, 10, 30)]
    assert routing_mod.weight_sort(entries, lambda: 0.5) == [2, 1, 0]  # 20 of 40 falls in the third
    assert routing_mod.weight_sort(entries, lambda: 0.1) == [1, 2, 0]


@pytest.fixture
def dr(tmp_path: Path) -> Any:
    path = tmp_path / "dr.db"
    with sqlite3.connect(path) as raw:
        for table in (DR_GATEWAYS, DR_RULES, DR_CARRIERS, DR_GROUPS):
            raw.execute(table.ddl())
        raw.executemany(
            "INSERT INTO dr_gateways (gwid, address, type, probe_mode, attrs) VALUES (?,?,?,?,?)",
            [("gw1", "10.0.0.1:5070", 1, 1, "a=1"), ("gw2", "10.0.0.2", 2, 2, None)],
        )
        raw.executemany(
            "INSERT INTO dr_carriers (carrierid, gwlist, attrs) VALUES (?,?,?)",
            [("cr1", "gw2,unknown", "c=1")],
        )
        raw.executemany(
            "INSERT INTO dr_rules (groupid, prefix, priority, gwlist, attrs) VALUES (?,?,?,?,?)",
            [("1", "1", 0, "gw1,#cr1", "r=1")],
        )
    from pysips.db.api import connect

    router = routing_mod.DRouting(connect(f"sqlite://{path}"), data_mod.Tables(), routing_mod.Avps())
    assert router.reload(MON_2025_06_02_10H, inherit=False)
    router.db_path = path
    return router


def _ctx(ruri: str = "sip:123@example.com") -> MsgContext:
    msg = parse_message(
        (
            f"INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK1\r\n"
            "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\n"
            "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(msg, SipMessage)
    return MsgContext(ProcessState(), msg, None, now=MON_2025_06_02_10H)


def test_routing_failover_disable_and_writeback(dr: Any) -> None:
    seen: dict[str, str] = {}
    ctx = _ctx()
    assert dr.do_routing(ctx, 1, 0, None, seen.__setitem__) == 1
    assert ctx.new_ruri == "sip:123@10.0.0.1:5070"
    assert seen == {"gw": "a=1", "carrier": "", "rule": "r=1"}
    events: list[Any] = []
    dr.raise_event = lambda name, params: events.append(params)
    assert dr.disable_current(ctx) == 1
    assert dr.data.gateways["gw1"].state_name == "Probing"  # probe_mode 1: probed while disabled
    assert dr.use_next_gw(ctx, seen.__setitem__) == 1
    assert ctx.new_ruri == "sip:123@10.0.0.2" and seen["carrier"] == "c=1"
    assert dr.use_next_gw(ctx, seen.__setitem__) == -1
    assert events[0][1:4] == [("gwid", "gw1"), ("address", "10.0.0.1:5070"), ("status", "probing")]
    ctx2 = _ctx()
    assert dr.do_routing(ctx2, 1, 0, None, seen.__setitem__) == 1
    assert ctx2.new_ruri == "sip:123@10.0.0.2"  # the disabled gateway is skipped
    dr.probe_answered("gw1", 200)
    assert dr.data.gateways["gw1"].enabled
    dr.probe_answered("gw1", 503)
    dr.flush()
    with sqlite3.connect(dr.db_path) as raw:
        assert raw.execute("SELECT state FROM dr_gateways WHERE gwid='gw1'").fetchone()[0] == 2


def test_gateway_checks(dr: Any) -> None:
    seen: dict[str, str] = {}
    ctx = _ctx("sip:5551234@example.com")
    assert dr.find_gateway("10.0.0.1", 5070, "udp", -1, 0) is dr.data.gateways["gw1"]
    assert dr.find_gateway("10.0.0.1", 5071, "udp", -1, 0) is None
    assert dr.find_gateway("10.0.0.1", 5071, "udp", -1, routing_mod.IFG_IGNOREPORT) is not None
    assert dr.find_gateway("10.0.0.2", 5060, None, 1, 0) is None  # type 2
    gw2 = dr.find_gateway("10.0.0.2", 5060, None, 2, 0)
    dr.apply_match(ctx, gw2, routing_mod.IFG_IDS, seen.__setitem__)
    assert ctx.avps["___dr_gw_id__"] == ["gw2"] and seen["carrier"] == "c=1"


def test_mi_status(dr: Any) -> None:
    process = ProcessState()
    process.modules["drouting"] = dr

    call = mi_caller(process)

    assert mi_mod.dr_gw_status(call()) == {
        "Gateways": [
            {"ID": "gw1", "IP": "10.0.0.1:5070", "ATTRS": "a=1", "State": "Active"},
            {"ID": "gw2", "IP": "10.0.0.2", "State": "Active"},
        ]
    }
    assert mi_mod.dr_gw_status(call(gw_id="gw2", status=0)) == "OK"
    assert mi_mod.dr_gw_status(call(gw_id="gw2")) == {"State": "Disabled MI"}
    dr.probe_answered("gw2", 200)
    assert not dr.data.gateways["gw2"].enabled  # disabled by MI stays disabled
    assert mi_mod.dr_carrier_status(call()) == {"Carriers": [{"ID": "cr1", "ATTRS": "c=1", "Enabled": "yes"}]}
    assert mi_mod.dr_carrier_status(call(carrier_id="cr1", status=0)) == "OK"
    ctx = _ctx()
    seen: dict[str, str] = {}
    assert dr.do_routing(ctx, 1, 0, None, seen.__setitem__) == 1
    assert ctx.avps.get("___dr_ruri__") is None  # the carrier is off: only gw1 is left
