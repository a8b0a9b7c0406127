"""tm's completion callbacks (on_created, on_reply_out, on_failure), its OpenSIPS-named counters,
Path order, and acc's do_accounting() driven by them through a compiled script."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_tm_fake import ALICE, CALLER, Rig, Sent, invite, route
from test_tm_script import loaded

from pysips.script.ast import RouteKind
from pysips.script.context import MsgContext
from pysips.script.loader import ModuleFinder
from pysips.sip.message import SipMessage


def module_exports(name: str) -> Any:
    found = ModuleFinder().find(name)
    assert found is not None
    return found.exports


def _to(sent: list[Sent], peer: tuple[str, int]) -> list[Sent]:
    return [s for s in sent if (s.dst.ip, s.dst.port) == peer]


class Recorder:
    def __init__(self, tm: Any) -> None:
        self.events: list[tuple[Any, ...]] = []
        tm.on_created(lambda ctx, cell: self.events.append(("created", cell.method, cell.id)))
        tm.on_reply_out(lambda cell, code, reason, reply: self.events.append(
            ("out", code, reason, None if reply is None else reply.status)))
        tm.on_failure(lambda cell, code, reason, reply: self.events.append(
            ("failure", code, reason, None if reply is None else reply.status)))


def _relay_rig(failure: Any = None) -> Rig:
    def script(ctx: MsgContext) -> int:
        if failure is not None:
            rig.tm.pending(ctx).on_failure = route(RouteKind.FAILURE, failure)
        return int(rig.tm.relay(ctx))

    rig = Rig(script)
    return rig


def test_callbacks_see_creation_every_reply_upstream_and_the_failure() -> None:
    order: list[str] = []

    def failure(ctx: MsgContext) -> int:
        order.append("failure_route")
        return 1

    rig = _relay_rig(failure)
    rec = Recorder(rig.tm)
    rig.tm.on_failure(lambda *a: order.append("on_failure"))
    rig.receive(invite(), CALLER)
    (fwd,) = _to(rig.take(), ALICE)
    rig.receive(rig.answer(fwd, 180, "Ringing"), ALICE)
    rig.receive(rig.answer(fwd, 486, "Busy Here"), ALICE)
    cell_id = rec.events[0][2]
    assert rec.events == [
        ("created", "INVITE", cell_id),
        ("out", 100, "Giving it a try", None),  # ours: no reply object
        ("out", 180, "Ringing", 180),  # relayed: the reply
        ("failure", 486, "Busy Here", 486),
        ("out", 486, "Busy Here", 486),
    ]
    assert order == ["on_failure", "failure_route"]


def test_callback_cell_has_what_acc_reads() -> None:
    rig = _relay_rig()
    cells: list[Any] = []
    rig.tm.on_created(lambda ctx, cell: cells.append(cell))
    rig.receive(invite(), CALLER)
    (cell,) = cells
    assert isinstance(cell.request, SipMessage) and cell.rcv is not None
    assert isinstance(cell.avps, dict) and cell.is_invite and cell.method == "INVITE" and cell.id
    assert cell.to_tag is None


def test_local_timeout_reply_goes_to_the_callbacks_without_a_reply() -> None:
    rig = _relay_rig()
    rec = Recorder(rig.tm)
    rig.receive(invite(method="OPTIONS"), CALLER)
    rig.take()
    rig.advance(40)  # the manual clock fires tm's timers
    assert ("failure", 408, "Request Timeout", None) in rec.events
    assert ("out", 408, "Request Timeout", None) in rec.events


def test_stats_use_opensips_names() -> None:
    rig = _relay_rig()
    rig.receive(invite(), CALLER)
    (fwd,) = _to(rig.take(), ALICE)
    rig.receive(rig.answer(fwd, 180, "Ringing"), ALICE)
    rig.receive(rig.answer(fwd, 200, "OK"), ALICE)
    stats = rig.tm.stats
    assert (stats.UAS_transactions, stats.UAC_transactions) == (1, 1)
    assert (stats.received_replies, stats.relayed_replies, stats.local_replies) == (2, 2, 1)
    assert [getattr(stats, f"{n}xx_transactions") for n in range(2, 7)] == [1, 0, 0, 0, 0]


def test_path_hops_become_routes_in_path_order() -> None:
    def script(ctx: MsgContext) -> int:
        ctx.branches = [{"uri": "sip:bob@10.0.0.3", "path": "<sip:p1@10.0.0.3;lr>,<sip:p2@10.0.0.9;lr>"}]
        ctx.new_ruri = None
        return int(rig.tm.relay(ctx))

    rig = Rig(script)
    rig.receive(invite(ruri="sip:nobody@10.0.0.3"), CALLER)
    with_path = [s for s in rig.take() if b"p1@" in s.data]
    assert with_path, "no branch carried the Path"
    routes = with_path[0].msg.headers("Route")
    assert routes == ["<sip:p1@10.0.0.3;lr>", "<sip:p2@10.0.0.9;lr>"]


ACC_SCRIPT = r"""
loadmodule "tm.so"
loadmodule "acc.so"
modparam("acc", "early_media", 0)

route {
    do_accounting("log", "missed|failed");
    t_relay();
    exit;
}
"""


def acc_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pysips.acc"]


def test_do_accounting_with_the_real_tm(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pysips.acc")
    rig, _ = loaded(ACC_SCRIPT)
    rig.receive(invite(call_id="busy-1"), CALLER)
    (fwd,) = _to(rig.take(), ALICE)
    rig.receive(rig.answer(fwd, 486, "Busy Here", to_tag="callee"), ALICE)
    lines = acc_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("ACC: call missed: ") and ";code=486;reason=Busy Here" in lines[0]
    assert lines[1].startswith("ACC: transaction answered: ") and "call_id=busy-1" in lines[1]
    assert "to_tag=callee" in lines[1]
    caplog.clear()
    rig.take()
    rig.receive(invite(call_id="ok-1", branch="z9hG4bKcaller2"), CALLER)
    (fwd,) = _to(rig.take(), ALICE)
    rig.receive(rig.answer(fwd, 180, "Ringing"), ALICE)
    rig.receive(rig.answer(fwd, 200, "OK"), ALICE)
    (line,) = acc_lines(caplog)
    assert line.startswith("ACC: transaction answered: ") and ";code=200;reason=OK" in line


def test_do_accounting_loads_with_the_real_tm() -> None:
    from pysips.script.compile import check_script
    from pysips.script.parse import parse_text

    report = check_script(parse_text(ACC_SCRIPT, "acc.cfg"))
    assert report.ok, [p.message for p in report.problems]


def test_every_tm_counter_the_mi_reads_exists() -> None:
    rig = _relay_rig()
    declared = module_exports("tm").stats
    assert [s.name for s in declared][:10] == [
        "received_replies", "relayed_replies", "local_replies", "UAS_transactions", "UAC_transactions",
        "2xx_transactions", "3xx_transactions", "4xx_transactions", "5xx_transactions", "6xx_transactions"]
    assert all(isinstance(s.read(rig.tm), int) for s in declared)
    stats = rig.tm.stats
    setattr(stats, "2xx_transactions", 5)  # reset_statistics writes 0 the same way
    assert getattr(stats, "2xx_transactions") == 5


def test_every_transaction_callback_in_the_life_of_a_forked_call() -> None:
    """The TRANSACTIONS service's callbacks, in order: created, request out (per fork, before it
    is serialized: an edit shows on the wire), reply in, reply out, completed, deleted."""
    from pysips.core.services import TRANSACTIONS

    rig = _relay_rig()
    tm = rig.process.services.get(TRANSACTIONS)
    assert tm is rig.tm
    events: list[tuple[Any, ...]] = []
    tm.on_created(lambda ctx, t: events.append(("created", t.method)))

    def request_out(bctx: MsgContext, t: Any, branch: Any, msg: SipMessage, sock: Any) -> None:
        events.append(("request_out", branch.index, branch.via_branch != ""))
        msg.append_header(f"X-Dialog-Id: {t.id}")

    tm.on_request_out(request_out)
    tm.on_reply_in(lambda t, branch, reply: events.append(("reply_in", branch.index, reply.status)))
    tm.on_reply_out(lambda t, code, reason, reply: events.append(("reply_out", code)))
    tm.on_completed(lambda t, code: events.append(("completed", code)))
    tm.on_deleted(lambda t: events.append(("deleted", t.status)))
    rig.receive(invite(), CALLER)
    (fwd,) = _to(rig.take(), ALICE)
    assert fwd.msg.header("x-dialog-id")  # added by the request-out callback
    rig.receive(rig.answer(fwd, 180, "Ringing"), ALICE)
    rig.receive(rig.answer(fwd, 486, "Busy Here"), ALICE)
    assert ("deleted", 486) not in events  # kept while it absorbs the ACK
    rig.advance(40)  # the transactions' timers run out
    assert events == [
        ("created", "INVITE"),
        ("reply_out", 100),
        ("request_out", 0, True),
        ("reply_in", 0, 180),
        ("reply_out", 180),
        ("reply_in", 0, 486),
        ("reply_out", 486),
        ("completed", 486),
        ("deleted", 486),
    ]



def test_a_failure_route_waiting_after_a_timeout_holds_back_only_its_own_transaction() -> None:
    """Timer expiries that may run script code run each in its own script greenlet: the first
    transaction's failure_route waits on the network, the second's runs in the same tick."""
    import asyncio

    from pysips.core.suspend import wait

    order: list[str] = []

    async def main() -> None:
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def failure(ctx: MsgContext) -> int:
            call_id = ctx.msg.call_id
            order.append(f"{call_id} failed")
            if call_id == "first":
                order.append(f"first got {wait(gate)}")
            return 1

        rig = _relay_rig(failure)
        rig.receive(invite(method="OPTIONS", call_id="first", branch="z9hG4bK1"), CALLER)
        rig.receive(invite(method="OPTIONS", call_id="second", branch="z9hG4bK2"), CALLER)
        rig.advance(40)  # both fr_timeouts expire in one tick
        assert order == ["first failed", "second failed"]
        gate.set_result("x")
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())
    assert order == ["first failed", "second failed", "first got x"]
