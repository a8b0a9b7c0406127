"""load_balancer over an SQLite table and a fake dialog service (the profiles counted in a dict):
the choice by free capacity, flags r/n/s, lb_next over the session AVPs, lb_reset, disabling,
lb_count_call, probing answers and MI."""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pysips.db.schema import LOAD_BALANCER
from pysips.script.context import MsgContext, ProcessState
from pysips.script.loader import ModuleFinder
from tests.unit.modules.mi_calls import mi_caller


def _part(name: str) -> ModuleType:
    ModuleFinder().find("db_sqlite")
    found = ModuleFinder().find("load_balancer")
    assert found is not None
    return importlib.import_module(f"{found.exports.init.__module__}.{name}")


runtime_mod, data_mod, mi_mod = _part("runtime"), _part("data"), _part("mi")


class FakeDialogs:
    """Profiles as counters; one dialog per context."""

    def __init__(self) -> None:
        self.defined: dict[str, bool] = {}
        self.members: dict[tuple[str, str], list[int]] = {}
        self.created: set[int] = set()

    def current(self, ctx: MsgContext) -> Any:
        return id(ctx) if id(ctx) in self.created else None

    def create(self, ctx: MsgContext, flags: int) -> int:
        self.created.add(id(ctx))
        return 1

    def on_ended(self, fn: Any) -> None: ...

    def define_profile(self, name: str, has_value: bool) -> None:
        self.defined.setdefault(name, has_value)

    def join_profile(self, ctx: MsgContext, name: str, value: str) -> bool:
        self.members.setdefault((name, value), []).append(id(ctx))
        return True

    def leave_profile(self, ctx: MsgContext, name: str, value: str) -> bool:
        entries = self.members.get((name, value), [])
        if id(ctx) in entries:
            entries.remove(id(ctx))
            return True
        return False

    def profile_size(self, name: str, value: str | None) -> int:
        return len(self.members.get((name, value or ""), []))


@pytest.fixture
def lb(tmp_path: Path) -> Any:
    path = tmp_path / "lb.db"
    with sqlite3.connect(path) as raw:
        raw.execute(LOAD_BALANCER.ddl())
        raw.executemany(
            "INSERT INTO load_balancer (id, group_id, dst_uri, resources, probe_mode, attrs)"
            " VALUES (?,?,?,?,?,?)",
            [
                (1, 1, "sip:10.0.0.1:5060", "pstn=2;vm=10", 1, "a1"),
                (2, 1, "sip:10.0.0.2:5060", "pstn=4", 0, None),
                (3, 2, "sip:10.0.0.3", "pstn=1", 2, None),
            ],
        )
    from pysips.db.api import connect

    balancer = runtime_mod.LoadBalancer(connect(f"sqlite://{path}"), "load_balancer", FakeDialogs())
    assert balancer.reload(initial=True)
    return balancer


def _ctx() -> MsgContext:
    return MsgContext(ProcessState(), None, None)


def test_resources_define_profiles_and_parse() -> None:
    assert data_mod.parse_resources("pstn = 3; vm=5", True) == [("pstn", 3), ("vm", 5)]
    with pytest.raises(ValueError):
        data_mod.parse_resources("pstn", True)
    with pytest.raises(ValueError):
        data_mod.parse_resources("pstn=3", False)


def test_largest_free_capacity_wins_then_fills(lb: Any) -> None:
    assert set(lb.dialogs.defined) == {"lbXpstn", "lbXvm"}
    picks = []
    for _ in range(6):
        ctx = _ctx()
        code, dst = lb.route(ctx, 1, ["pstn"], 0, False)
        assert code == 0
        picks.append(dst.id)
        assert ctx.dst_uri == dst.uri
    # free: 1:2 2:4 -> 2 (3 free) -> 2 (2 free; equal to 1: the first wins) -> 1 -> ...
    assert picks == [2, 2, 1, 2, 1, 2]
    code, dst = lb.route(_ctx(), 1, ["pstn"], 0, False)
    assert (code, dst) == (-2, None)  # full: no capacity
    code, _ = lb.route(_ctx(), 1, ["pstn"], runtime_mod.NEGATIVE, False)
    assert code == 0  # with "n" a destination with no free capacity is still used
    assert lb.route(_ctx(), 1, ["fax"], 0, False)[0] == -4
    assert lb.route(_ctx(), 7, ["pstn"], 0, False)[0] == -3


def test_relative_and_resources_filter(lb: Any) -> None:
    ctx = _ctx()
    code, dst = lb.route(ctx, 1, ["pstn", "vm"], 0, False)
    assert code == 0 and dst.id == 1  # only destination 1 offers vm
    code, dst = lb.route(_ctx(), 1, ["pstn"], runtime_mod.RELATIVE, False)
    assert dst.id == 2  # 1 is at 50 %, 2 at 100 %


def test_next_uses_the_session_and_moves_the_call(lb: Any) -> None:
    ctx = _ctx()
    assert lb.route(ctx, 1, ["pstn"], 0, False)[1].id == 2
    assert runtime_mod.LoadBalancer.is_started(ctx)
    assert lb.dialogs.profile_size("lbXpstn", "2") == 1
    code, dst = lb.route(ctx, -1, None, 0, True)
    assert code == 0 and dst.id == 1
    assert lb.dialogs.profile_size("lbXpstn", "2") == 0 and lb.dialogs.profile_size("lbXpstn", "1") == 1
    assert lb.route(ctx, -1, None, 0, True)[0] == -3  # both tried
    assert lb.reset(ctx) == 1
    assert not runtime_mod.LoadBalancer.is_started(ctx)


def test_disable_count_call_and_probing(lb: Any) -> None:
    events: list[Any] = []
    lb.raise_event = lambda name, params: events.append((name, params))
    ctx = _ctx()
    lb.route(ctx, 1, ["pstn"], 0, False)
    assert lb.disable_last(ctx) == 1
    dst2 = lb.by_id(2)
    assert not dst2.enabled
    assert events == [
        ("E_LOAD_BALANCER_STATUS", [("group", 1), ("uri", "sip:10.0.0.2:5060"), ("status", "disabled")])
    ]
    assert lb.route(_ctx(), 1, ["pstn"], 0, False)[1].id == 1
    lb.probe_answered(2, 200)  # probe_mode 0: answers still re-enable once disabled by script
    assert dst2.enabled
    other = _ctx()
    assert lb.count_call(other, "10.0.0.3", 0, -1, ["pstn"], False) == 1
    assert lb.dialogs.profile_size("lbXpstn", "3") == 1
    assert lb.route(_ctx(), 2, ["pstn"], 0, False)[0] == -2
    assert lb.count_call(other, "10.0.0.3", 5060, 2, ["pstn"], True) == 1
    assert lb.dialogs.profile_size("lbXpstn", "3") == 0


def test_mi_list_and_status(lb: Any) -> None:
    process = ProcessState()
    process.modules["load_balancer"] = lb

    call = mi_caller(process)

    listing = mi_mod.lb_list(call())
    assert listing["Destinations"][0] == {
        "uri": "sip:10.0.0.1:5060",
        "id": 1,
        "group": 1,
        "enabled": "yes",
        "auto-reenable": "on",
        "Resources": [{"name": "pstn", "max": 2, "load": 0}, {"name": "vm", "max": 10, "load": 0}],
        "attrs": "a1",
    }
    assert mi_mod.lb_status(call(destination_id=1, new_status=0)) == "OK"
    assert mi_mod.lb_status(call(destination_id=1)) == {"enable": "no", "attrs": "a1"}
    lb.probe_answered(1, 200)
    assert not lb.by_id(1).enabled  # disabled by MI: probing does not bring it back
    assert mi_mod.lb_list(call())["Destinations"][0]["auto-reenable"] == "off"
