"""dispatcher: the hash, the choice of a destination, failover lists, states, partitions, MI, and
the script functions run over an SQLite table (no network: probes are sent by a fake tm)."""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pysips.db.schema import DISPATCHER
from pysips.mi import MIError
from pysips.script.compile import LoadedScript, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.errors import FixupError
from pysips.script.loader import ModuleFinder
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo
from pysips.sip.uri import SipUri, parse_uri
from tests.unit.modules.mi_calls import mi_caller


def _part(name: str) -> ModuleType:
    """A file of the dispatcher package, as the module loader imported it (one copy of its classes)."""
    found = ModuleFinder().find("dispatcher")
    assert found is not None
    package = found.exports.init.__module__
    return importlib.import_module(f"{package}.{name}")


_hashing, _sets, _partitions, _runtime = (_part(n) for n in ("hashing", "sets", "partitions", "runtime"))
ds_hash, hash_text, hash_uri = _hashing.ds_hash, _hashing.hash_text, _hashing.hash_uri
INACTIVE, PROBING, Destination, DsSet, select = (
    _sets.INACTIVE,
    _sets.PROBING,
    _sets.Destination,
    _sets.DsSet,
    _sets.select,
)
parse_partition, partition_configs = _partitions.parse_partition, _partitions.partition_configs
Dispatcher = _runtime.Dispatcher


def test_hash_matches_opensips_arithmetic() -> None:
    # worked by hand from OpenSIPS ds_get_hash: "abcd" -> v=0x61626364, h=v^(v>>3), then the mix
    v = 0x61626364
    h = v ^ (v >> 3)
    h = (h + (h >> 11) + (h >> 13) + (h >> 23)) & 0xFFFFFFFF
    assert ds_hash(b"abcd") == h
    assert ds_hash(None, None) == 0
    assert ds_hash(b"") == 1  # never 0: 0 means "no hash"
    # bytes >= 0x80 count as negative (signed char), so they differ from their unsigned reading
    assert ds_hash("é".encode()) != ds_hash(bytes([0x00, 0xC3 & 0x7F, 0xA9 & 0x7F]))
    assert hash_text("  abcd\r\n") == ds_hash(b"abcd")


def _uri(text: str) -> SipUri:
    parsed = parse_uri(text)
    assert isinstance(parsed, SipUri)
    return parsed


def test_uri_hash_keys_drop_the_default_port_and_the_host_with_u() -> None:
    assert hash_uri(_uri("sip:bob@example.com:5060"), False) == hash_uri(_uri("sip:bob@example.com"), False)
    assert hash_uri(_uri("sip:bob@example.com:5070"), False) != hash_uri(_uri("sip:bob@example.com"), False)
    assert hash_uri(_uri("sips:bob@example.com:5061"), False) == hash_uri(_uri("sips:bob@example.com"), False)
    assert hash_uri(_uri("sip:bob@a.com"), True) == hash_uri(_uri("sip:bob@b.com:5070"), True)


def _set(*specs: tuple[int, int]) -> Any:
    """(weight, flags) per destination, in order."""
    ds_set = DsSet(
        1,
        [
            Destination(f"sip:10.0.0.{i}", f"sip:10.0.0.{i}", weight, flags=flags)
            for i, (weight, flags) in enumerate(specs, 1)
        ],
    )
    ds_set.recalculate()
    return ds_set


def test_hash_picks_by_running_weight() -> None:
    ds_set = _set((1, 0), (3, 0))
    assert [d.running_weight for d in ds_set.dests] == [1, 4]
    picks = [select(ds_set, 0, h, -1, False, 1000).index for h in range(1, 9)]
    assert picks == [1, 1, 1, 0, 1, 1, 1, 0]


def test_inactive_candidate_rehashes_over_the_active_ones() -> None:
    ds_set = _set((1, 0), (1, INACTIVE), (1, 0), (1, 0))
    assert ds_set.active_nr == 3
    chosen = select(ds_set, 0, 2, -1, False, 1000)  # 2 % 4 -> index... weights: 2 < running[2]=3 -> 2
    assert chosen is not None and chosen.index == 2
    chosen = select(
        ds_set, 0, 1, -1, False, 1000
    )  # candidate 1 is inactive: 1 % 3 active weight -> 2nd active
    assert chosen is not None and chosen.index == 2


def test_no_active_destination_and_use_default() -> None:
    ds_set = _set((1, PROBING), (1, INACTIVE), (1, 0))
    assert select(ds_set, 8, 0, 0, False, 1000) is not None  # walks to the active one
    assert select(ds_set, 8, 0, 0, True, 1000).index == 2
    all_down = _set((1, PROBING), (1, INACTIVE))
    assert select(all_down, 8, 0, 0, True, 1000) is None


def test_failover_order_and_max_results() -> None:
    ds_set = _set((1, 0), (1, 0), (1, 0), (1, 0))
    chosen = select(ds_set, 8, 0, 1, False, 1000)
    assert chosen is not None
    assert [d.uri for d in chosen.failover] == ["sip:10.0.0.3", "sip:10.0.0.4", "sip:10.0.0.1"]
    limited = select(ds_set, 8, 0, 1, False, 2)
    assert limited is not None and [d.uri for d in limited.failover] == ["sip:10.0.0.3"]
    with_default = select(ds_set, 8, 0, 0, True, 1000)
    assert with_default is not None
    assert [d.uri for d in with_default.failover] == ["sip:10.0.0.2", "sip:10.0.0.3", "sip:10.0.0.4"]


def test_partition_parameter() -> None:
    assert parse_partition("voice: db_url = sqlite:///x.db; table_name = t; attrs_avp = $avp(a)") == (
        "voice",
        {"db_url": "sqlite:///x.db", "table_name": "t", "attrs_avp": "$avp(a)"},
    )
    with pytest.raises(FixupError):
        parse_partition("voice: colour = blue")
    configs = partition_configs(
        {"partition": ["trunks: db_url = sqlite:///t.db; table_name = tr", "default: trunks"]}, None
    )
    assert [(c.name, c.table_name, c.dst_avp) for c in configs] == [
        ("default", "tr", "ds_dst_failover_trunks")
    ]
    plain = partition_configs({"db_url": "sqlite:///d.db", "attrs_avp": "$avp(at)"}, None)
    assert [(c.name, c.attrs_avp, c.dst_avp) for c in plain] == [("default", "at", "ds_dst_failover")]


# ------------------------------------------------------------------ script level, over SQLite

RCV = ReceiveInfo("udp", "10.0.0.1", 5060, "10.0.0.9", 5062)


def _script(db: Path) -> str:
    return f"""
loadmodule "db_sqlite.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "db_url", "sqlite://{db}")
modparam("dispatcher", "attrs_avp", "$avp(ds_attrs)")
modparam("dispatcher", "setid_pvar", "$var(setid)")
modparam("dispatcher", "ds_probing_threshold", 2)
route {{
    if ($hdr(X-Do) == "select") {{
        if (!ds_select_dst(1, 0, "f")) return(-1);
        $var(first) = $du;
        $var(attrs) = $avp(ds_attrs);
        if (!ds_next_dst()) return(-2);
        $var(second) = $du;
        ds_mark_dst("i");
        ds_count(1, "a", $var(active));
        return(1);
    }}
    if ($hdr(X-Do) == "domain") {{
        ds_select_domain(2, 8);
        return(1);
    }}
    if ($hdr(X-Do) == "probe") {{
        ds_select_dst(2, 8, "f");
        ds_mark_dst("p");
        ds_count(2, "p", $var(probing));
        return(1);
    }}
    if (ds_is_in_list("10.0.0.7", 5080)) return(3);
    return(4);
}}
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ds.db"
    with sqlite3.connect(path) as raw:
        raw.execute(DISPATCHER.ddl())
        raw.executemany(
            "INSERT INTO dispatcher (setid, destination, weight, priority, attrs) VALUES (?,?,?,?,?)",
            [
                (1, "sip:10.0.0.5:5070", "1", 0, "a=5"),
                (1, "sip:10.0.0.6:5070", "1", 0, "a=6"),
                (2, "sip:user@10.0.0.7:5080;transport=tcp", "1", 0, None),
            ],
        )
    return path


@pytest.fixture
def loaded(db: Path) -> LoadedScript:
    return load_script(parse_text(_script(db), "ds.cfg"))


def _run(loaded: LoadedScript, process: ProcessState, what: str) -> tuple[int, MsgContext]:
    text = (
        f"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK-1\r\n"
        f"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: call-{what}\r\n"
        f"CSeq: 1 INVITE\r\nX-Do: {what}\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, SipMessage)
    ctx = MsgContext(process, msg, RCV)
    assert loaded.main_route is not None
    return loaded.run(loaded.main_route, ctx), ctx


@pytest.fixture
def process(loaded: LoadedScript) -> Any:
    proc = ProcessState()
    loaded.init_modules(proc)
    yield proc
    runtime = proc.modules["dispatcher"]
    runtime.close()


def test_select_next_mark_and_count(loaded: LoadedScript, process: ProcessState, db: Path) -> None:
    ret, ctx = _run(loaded, process, "select")
    assert ret == 1
    first, second = process.vars["first"], process.vars["second"]
    assert {first, second} == {"sip:10.0.0.5:5070", "sip:10.0.0.6:5070"}
    assert process.vars["attrs"] == ("a=5" if str(first).endswith("5:5070") else "a=6")
    assert ctx.dst_uri == second
    assert process.vars["active"] == 1  # the second one was marked inactive
    runtime = process.modules["dispatcher"]
    assert isinstance(runtime, Dispatcher)
    runtime.flush()
    with sqlite3.connect(db) as raw:
        states = dict(raw.execute("SELECT destination, state FROM dispatcher WHERE setid = 1").fetchall())
    assert states[second] == 1 and states[first] == 0


def test_select_domain_rewrites_the_ruri_host_port(loaded: LoadedScript, process: ProcessState) -> None:
    ret, ctx = _run(loaded, process, "domain")
    assert ret == 1
    assert ctx.new_ruri == "sip:bob@10.0.0.7:5080"
    assert ctx.dst_uri is None


def test_probing_needs_threshold_marks(loaded: LoadedScript, process: ProcessState) -> None:
    _run(loaded, process, "probe")
    assert process.vars["probing"] == 0  # one failure of two
    _run(loaded, process, "probe")
    assert process.vars["probing"] == 1


def test_is_in_list_sets_the_setid(loaded: LoadedScript, process: ProcessState) -> None:
    ret, _ = _run(loaded, process, "other")
    assert ret == 3
    assert process.vars["setid"] == 2


def test_mi_list_set_state_and_reload(loaded: LoadedScript, process: ProcessState, db: Path) -> None:
    mi = _part("mi")

    call = mi_caller(process)

    listing = mi.ds_list(call(full=1))
    part = listing["PARTITIONS"][0]
    assert part["name"] == "default"
    assert [s["id"] for s in part["SETS"]] == [2, 1]  # the set seen last is listed first
    dest = part["SETS"][1]["Destinations"][0]
    assert dest == {
        "URI": "sip:10.0.0.5:5070",
        "state": "Active",
        "first_hit_counter": 0,
        "attr": "a=5",
        "weight": 1,
        "priority": 0,
        "resolved_addresses": ["10.0.0.5:5070"],
    }
    assert mi.ds_set_state(call(state="i", group="1", address="sip:10.0.0.5:5070")) == "OK"
    with pytest.raises(MIError):
        mi.ds_set_state(call(state="i", group="1", address="sip:10.9.9.9"))
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO dispatcher (setid, destination) VALUES (3, 'sip:10.0.0.8')")
    assert mi.ds_reload(call()) == "OK"
    after = mi.ds_list(call())["PARTITIONS"][0]["SETS"]
    assert [s["id"] for s in after] == [3, 2, 1]
    assert after[2]["Destinations"][0]["state"] == "Inactive"  # inherited across the reload


SORTING_SCRIPT = """
loadmodule "db_sqlite.so"
loadmodule "dispatcher.so"
modparam("dispatcher", "db_url", "sqlite://@@DB@@")
modparam("dispatcher", "algo_route", "score")
modparam("dispatcher", "pvar_algo_pattern", "$var(load_%u)")
route {
    $var(load_sip:10.0.0.5:5070) = 7;
    $var(load_sip:10.0.0.6:5070) = 3;
    if (!ds_select_dst(1, $(hdr(X-Alg){s.int}), "f")) return(-1);
    $var(first) = $du;
    if (ds_next_dst()) $var(second) = $du;
    return(1);
}
route[score] {
    # the port, minus 10 for the destination whose attrs say so; a negative score is used last
    $var(score) = $(param(dst_uri){uri.port});
    if ($param(attrs) == "a=6")
        $var(score) = $var(score) - 10;
    if ($hdr(X-Negative) == $param(attrs))
        $var(score) = -1;
    return($var(score));
}
"""


@pytest.mark.parametrize(
    ("alg", "negative", "first", "second"),
    [
        (10, "-", "sip:10.0.0.6:5070", "sip:10.0.0.5:5070"),  # scores 5070 and 5060: ascending
        (10, "a=6", "sip:10.0.0.5:5070", "sip:10.0.0.6:5070"),  # a negative score is used last
        (9, "-", "sip:10.0.0.6:5070", "sip:10.0.0.5:5070"),  # loads 7 and 3: the least loaded first
    ],
)
def test_sorting_algorithms(db: Path, alg: int, negative: str, first: str, second: str) -> None:
    loaded = load_script(parse_text(SORTING_SCRIPT.replace("@@DB@@", str(db)), "sort.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    try:
        text = (
            f"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-s\r\n"
            f"From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: s\r\n"
            f"CSeq: 1 INVITE\r\nX-Alg: {alg}\r\nX-Negative: {negative}\r\nContent-Length: 0\r\n\r\n"
        )
        msg = parse_message(text.encode())
        assert isinstance(msg, SipMessage) and loaded.main_route is not None
        ctx = MsgContext(process, msg, RCV)
        assert loaded.run(loaded.main_route, ctx) == 1
        assert (process.vars["first"], process.vars["second"]) == (first, second)
    finally:
        process.modules["dispatcher"].close()
