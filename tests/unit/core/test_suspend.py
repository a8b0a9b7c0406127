"""pysips.core.suspend: script code waiting on a future suspends only its own message."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pysips.core.suspend import in_script, spawn, suspended_count, wait
from pysips.script.context import MsgContext
from tests.unit.core.core_support import make_net, request


async def _later(value: int) -> int:
    await asyncio.sleep(0)
    return value


def test_outside_a_loop_wait_runs_the_awaitable_to_completion() -> None:
    assert not in_script()
    assert wait(_later(7)) == 7


def test_on_the_loop_outside_script_code_wait_refuses_to_block() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="stall the worker"):
            wait(_later(1))

    asyncio.run(main())


def test_a_waiting_script_lets_the_others_run_and_resumes_with_its_frame() -> None:
    order: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[str] = loop.create_future()

        def slow(name: str) -> None:
            local = f"{name}-state"  # a frame local that must survive the suspension
            order.append(f"{name} waits")
            got = wait(gate)
            order.append(f"{name} got {got} with {local}")

        def quick() -> None:
            order.append("quick ran")

        assert spawn(slow, "a") is False
        assert suspended_count() == 1
        assert spawn(quick) is True
        gate.set_result("x")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert suspended_count() == 0

    asyncio.run(main())
    assert order == ["a waits", "quick ran", "a got x with a-state"]


def test_an_exception_after_resuming_is_logged_and_the_next_job_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[int] = loop.create_future()

        def failing() -> None:
            wait(gate)
            raise ValueError("boom after resume")

        spawn(failing)
        gate.set_exception(KeyError("the backend failed"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert spawn(ran.append, 1) is True

    caplog.set_level(logging.ERROR, "pysips.core")
    asyncio.run(main())
    assert "KeyError" in caplog.text
    assert ran == [1]


def test_a_request_retransmitted_while_its_script_waits_runs_the_script_once() -> None:
    runs: list[MsgContext] = []
    gate: list[asyncio.Future[int]] = []

    def route(ctx: MsgContext) -> int:
        runs.append(ctx)
        ctx.extra["before"] = "kept"
        wait(gate[0])
        # the same MsgContext continues after the wait
        assert ctx.extra["before"] == "kept"
        core = ctx.process.core
        assert core is not None
        core.send_reply(ctx, core.build_reply(ctx, 200, "OK"))
        return 1

    net = make_net(route)

    async def main() -> None:
        gate.append(asyncio.get_running_loop().create_future())
        invite = request("OPTIONS", branch="z9hG4bKretr1")
        assert net.deliver(invite) == []
        assert net.deliver(invite) == []  # the retransmission: not a second run
        other = net.deliver(request("OPTIONS", branch="z9hG4bKother"))
        assert other == []  # another request runs the script (and waits too)
        assert len(runs) == 2
        gate[0].set_result(1)
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert len(runs) == 2
    assert [s.first_line for s in net.sent] == ["SIP/2.0 200 OK", "SIP/2.0 200 OK"]
    # once the script ended, the same request is a new one for the engine again
    net.deliver(request("OPTIONS", branch="z9hG4bKretr1"))
    assert len(runs) == 3
