"""One test from folder to verdict: render, map addresses and paths, run the phases, report."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pysips.sipssert.addresses import AddressMap, choose_block, docker_addresses, plan, strings_in
from pysips.sipssert.discovery import TestLocation
from pysips.sipssert.engine import Failure, PhaseRunner, TestEnvironment
from pysips.sipssert.process import log_tail
from pysips.sipssert.report import TestResult
from pysips.sipssert.runners.base import RunnerOptions
from pysips.sipssert.scenario import PHASES, Scenario, ScenarioError, load_scenario
from pysips.sipssert.templates import TemplateError

DEFAULT_TIMEOUT = 60.0
# pysips counts as started when its sockets are bound or it logs that it listens; a server that is
# not up by then fails the test (loading a large script on a busy 2-core machine takes seconds)
DEFAULT_STARTUP_TIMEOUT = 30.0
TAIL_LINES = 15


@dataclass(slots=True)
class RunOptions:
    logs: Path  # every test gets a folder here, kept after the run
    default_timeout: float = DEFAULT_TIMEOUT  # for scenarios without `timeout`
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT  # for pysips to come up
    pysips: list[str] = field(default_factory=lambda: [sys.executable, "-m", "pysips"])
    defines: dict[str, Any] = field(default_factory=dict)  # extra template variables


def address_map(scenario: Scenario, block: str) -> AddressMap:
    texts = [str(v) for v in strings_in(scenario.defines)]
    texts += list(strings_in(scenario.raw))
    for task in scenario.tasks:
        texts += list(strings_in(task.config))
        if task.kind == "opensips":
            script = scenario.directory / str(task.get("config_file") or "opensips.cfg")
            if script.is_file() and scenario.subnets:
                texts.append(script.read_text(encoding="utf-8", errors="replace"))
    amap = plan(docker_addresses(texts, scenario.subnets), block)
    amap.add_networks(scenario.subnets)
    return amap


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def _tail(failure: Failure) -> list[str]:
    if failure.log is None:
        return []
    lines = log_tail(failure.log, TAIL_LINES)
    errors = failure.log.with_name(failure.log.stem + ".errors.log")
    if errors.is_file():
        lines += [f"[{errors.name}] {line}" for line in log_tail(errors, 8)]
    return lines


def run_test(location: TestLocation, index: int, options: RunOptions) -> TestResult:
    began = time.monotonic()
    logdir = options.logs / _slug(location.name)
    if logdir.exists():
        shutil.rmtree(logdir)
    logdir.mkdir(parents=True)
    result = TestResult(location.name, passed=False, log_dir=logdir)
    try:
        scenario = load_scenario(location, options.defines)
    except (TemplateError, ScenarioError) as exc:
        result.reason = f"cannot load the scenario: {exc}"
        return result
    volume_dirs = {}
    for name in scenario.volumes:
        folder = logdir / "volumes" / _slug(name)
        folder.mkdir(parents=True)
        volume_dirs[name] = folder
    addresses = address_map(scenario, choose_block(index))
    (logdir / "addresses.txt").write_text(
        "".join(f"{docker} -> {local}\n" for docker, local in sorted(addresses.mapping.items()))
    )
    env = TestEnvironment(
        scenario=scenario,
        addresses=addresses,
        workdir=logdir,
        volume_dirs=volume_dirs,
        options=RunnerOptions(
            pysips=list(options.pysips), python=sys.executable, startup_timeout=options.startup_timeout
        ),
        task_ips={},
        passwords=[str(v) for v in scenario.defines.values() if isinstance(v, str | int) and str(v)],
        mapped_files=set(),
    )
    budget = scenario.timeout or options.default_timeout
    failure: Failure | None = None
    for phase in PHASES:
        specs = scenario.phases[phase]
        if not specs or (failure is not None and phase != "cleanup_tasks"):
            continue
        runner = PhaseRunner(env, specs, budget)
        outcome = runner.run()
        if failure is None:
            failure = outcome
    result.seconds = time.monotonic() - began
    if failure is None:
        result.passed = True
        return result
    result.reason = failure.reason
    result.task = failure.task
    result.log_tail = _tail(failure)
    return result
