"""async() and launch(): load errors, the transaction, the resume and report routes, $rc, $avp."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_compile_support import INVITE, RCV, TEST_MODULES, message

from pysips.core.suspend import call_with_deadline, spawn
from pysips.script import ast
from pysips.script.compile import LoadedScript, LoadOptions, check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text

HEADER = 'loadmodule "tm.so"\nloadmodule "asyncmod.so"\n'


def load(body: str, header: str = HEADER) -> LoadedScript:
    return load_script(parse_text(header + body, "t.cfg"), LoadOptions(mpath=str(TEST_MODULES)))


def problems(body: str, header: str = HEADER) -> list[str]:
    report = check_script(parse_text(header + body, "t.cfg"), LoadOptions(mpath=str(TEST_MODULES)))
    return [p.format() for p in report.problems if not p.warning]


class Starter:
    """Stands in for tm: records t_newtran calls, answers `result`."""

    def __init__(self, result: int = 1) -> None:
        self.result = result
        self.calls = 0

    def new_tran(self, ctx: MsgContext) -> int:
        self.calls += 1
        if self.result > 0:
            ctx.transaction = "a transaction"
        return self.result


class Core:
    """The two engine methods async()/launch() use, as pysips.core.engine.Engine has them."""

    def launch(self, fn: Any, *args: Any) -> bool:
        return spawn(fn, *args)

    def call_with_deadline(self, seconds: float, fn: Any, *args: Any) -> int:
        return call_with_deadline(seconds, fn, *args)


def run_main(loaded: LoadedScript, process: ProcessState) -> MsgContext:
    route = loaded.route(ast.RouteKind.REQUEST, None)
    assert route is not None
    ctx = MsgContext(process, message(INVITE), RCV)
    loaded.run(route, ctx)
    return ctx


def events(process: ProcessState) -> list[str]:
    found: list[str] = process.modules.get("asyncmod.events", [])
    return found


@pytest.mark.parametrize(("body", "expected"), [
    ("route { async(a_sync(1), resume); }\nroute[resume] { exit; }",
     "a_sync() cannot be used in async(): it is not an async function "
     "(OpenSIPS: unknown async command <a_sync>)"),
    ("route { launch(a_sync(1)); }",
     "a_sync() cannot be used in launch(): it is not an async function"),
    ("route { async(a_wait(1, 1), nowhere); }", "unknown route 'nowhere' in async()"),
    ("route { launch(a_wait(1, 1), nowhere); }", "unknown route 'nowhere' in launch()"),
    ("route { async(no_such_fn(), resume); }\nroute[resume] { exit; }", "unknown function no_such_fn()"),
])
def test_load_errors(body: str, expected: str) -> None:
    found = problems(body)
    assert any(expected in p for p in found), found


def test_async_needs_tm() -> None:
    found = problems("route { async(a_wait(1, 1), resume); }\nroute[resume] { exit; }",
                     header='loadmodule "asyncmod.so"\n')
    assert any('async() needs the tm module (loadmodule "tm.so")' in p for p in found), found


SCRIPT = """
route {
    $avp(kept) = "avp";
    $var(v) = "before";
    async(a_wait(7, 1), resume);
    $avp(after) = "never";
}
route[resume] {
    $avp(rc) = $rc;
    $avp(seen) = $avp(kept);
    $var(v) = "in resume";
}
"""


def test_async_creates_the_transaction_runs_the_resume_route_and_ends_the_main_route() -> None:
    loaded = load(SCRIPT)
    process = ProcessState()
    starter = Starter()
    process.transactions = starter
    ctx = run_main(loaded, process)
    assert starter.calls == 1
    assert events(process) == ["wait 7 start", "wait 7 done"]
    assert ctx.avps["rc"] == [7]
    assert ctx.avps["seen"] == ["avp"]
    assert "after" not in ctx.avps  # the route that called async() ended there
    assert ctx.exit_requested
    assert process.vars["v"] == "in resume"


def test_a_retransmission_ends_the_script_without_resuming() -> None:
    loaded = load(SCRIPT)
    process = ProcessState()
    process.transactions = Starter(result=0)
    ctx = run_main(loaded, process)
    assert events(process) == []
    assert "rc" not in ctx.avps


def test_async_as_an_expression_and_its_timeout() -> None:
    loaded = load("""
route {
    if (!async(a_wait(3, 3000), resume, 1)) { $avp(after) = "never"; }
}
route[resume] { $avp(rc) = $rc; }
""")
    process = ProcessState()
    process.transactions = Starter()
    process.core = Core()
    done: list[MsgContext] = []

    async def main() -> None:
        spawn(lambda: done.append(run_main(loaded, process)))
        while not done:
            await asyncio.sleep(0.05)

    asyncio.run(main())
    (ctx,) = done
    assert ctx.avps["rc"] == [-1]  # cut short by the 1 s timeout
    assert events(process) == ["wait 3 start"]
    assert "after" not in ctx.avps


def test_launch_continues_at_once_and_reports_when_the_function_ends() -> None:
    loaded = load("""
route {
    launch(a_wait(5, 50), report, "param-$ci");
    $avp(next) = "ran";
    xlog("L_INFO", "after launch\\n");
}
route[report] {
    $var(report_rc) = $rc;
    $var(report_param) = $param(1);
}
""")
    process = ProcessState()
    process.core = Core()
    order: list[str] = []

    async def main() -> None:
        def message_route() -> None:
            ctx = run_main(loaded, process)
            order.append(f"main route done, next={ctx.avps.get('next')}")
            order.extend(events(process))

        spawn(message_route)
        for _ in range(100):
            if "report_rc" in process.vars:
                break
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert order == ["main route done, next=['ran']", "wait 5 start"]
    assert events(process) == ["wait 5 start", "wait 5 done"]
    assert process.vars["report_rc"] == 5
    assert process.vars["report_param"] == "param-inv-1@10.0.0.1"
