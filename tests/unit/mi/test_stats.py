"""Statistics: OpenSIPS names and selection rules (all / group: / name), reset, list."""

from __future__ import annotations

import json
from typing import Any

from pysips.mi import mi_of, stats_of
from pysips.script.context import ProcessState


class Counters:
    def __init__(self) -> None:
        self.UAS_transactions = 0
        self.relayed_replies = 0


def rpc(mi: Any, method: str, params: Any = None) -> Any:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        body["params"] = params
    return json.loads(mi.handle_text(json.dumps(body)))


def _setup() -> tuple[Any, Counters, dict[str, int]]:
    process = ProcessState()
    counters = Counters()
    table = {"rcv_requests": 0}
    stats = stats_of(process)
    stats.counter_attr("tm", "UAS_transactions", counters)
    stats.counter_attr("tm", "relayed_replies", counters)
    stats.counter_key("core", "rcv_requests", table)
    stats.gauge("tm", "inuse_transactions", lambda: 3)
    return mi_of(process), counters, table


def test_counters_are_read_when_asked() -> None:
    mi, counters, table = _setup()
    counters.UAS_transactions += 2
    table["rcv_requests"] += 5
    got = rpc(mi, "get_statistics", {"statistics": ["all"]})["result"]
    assert got == {"tm:UAS_transactions": 2, "tm:relayed_replies": 0, "tm:inuse_transactions": 3,
                   "core:rcv_requests": 5}


def test_group_and_single_names() -> None:
    mi, counters, _ = _setup()
    counters.relayed_replies = 7
    assert rpc(mi, "get_statistics", [["tm:"]])["result"] == {
        "tm:UAS_transactions": 0, "tm:relayed_replies": 7, "tm:inuse_transactions": 3}
    assert rpc(mi, "get_statistics", {"statistics": ["relayed_replies", "rcv_requests"]})["result"] == {
        "tm:relayed_replies": 7, "core:rcv_requests": 0}
    # OpenSIPS's get_stat() knows bare names only: "group:name" is not found
    assert rpc(mi, "get_statistics", {"statistics": ["nosuch", "relayed_replies", "tm:relayed_replies"]})[
        "result"] == {"tm:relayed_replies": 7}
    assert rpc(mi, "get_statistics", {"statistics": ["tm:relayed_replies"]})["error"]["code"] == 404


def test_not_found_and_bad_params() -> None:
    mi, _, _ = _setup()
    assert rpc(mi, "get_statistics", {"statistics": ["nosuch", "x:"]})["error"] == {
        "code": 404, "message": "Statistics Not Found"}
    err = rpc(mi, "get_statistics", {"statistics": []})["error"]
    assert err["data"] == "Empty array in parameter 'statistics'"
    err = rpc(mi, "get_statistics", {"statistics": "all"})["error"]
    assert err["data"] == "Bad type for parameter 'statistics'"


def test_reset_and_list() -> None:
    mi, counters, _ = _setup()
    counters.UAS_transactions = 9
    assert rpc(mi, "reset_statistics", {"statistics": ["UAS_transactions", "inuse_transactions"]})[
        "result"] == "OK"
    assert counters.UAS_transactions == 0
    assert rpc(mi, "reset_statistics", {"statistics": ["nosuch"]})["error"]["code"] == 404
    listed = rpc(mi, "list_statistics")["result"]
    assert listed["tm:UAS_transactions"] == "incremental"
    assert listed["tm:inuse_transactions"] == "non-incremental"
    listed = rpc(mi, "list_statistics", {"statistics": ["core:"]})["result"]
    assert listed == {"core:rcv_requests": "incremental"}
    counters.relayed_replies = 4
    assert rpc(mi, "reset_all_statistics")["result"] == "OK"
    assert counters.relayed_replies == 0
