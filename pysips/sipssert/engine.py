"""Running one scenario: start tasks as their conditions hold, watch them, decide pass or fail.

As in SIPssert, a phase (init_tasks, tasks, cleanup_tasks) lasts until every non-daemon task has
ended; daemons (OpenSIPS) are then stopped. The test fails when a non-daemon task exits non-zero, a
daemon exits before it is stopped, a task outlives its own `timeout`, or the scenario's `timeout`
passes; and when a task cannot run here at all (never a pass for what was not checked).
Differences, because the server is pysips and not OpenSIPS in a container:
- a task with known sockets counts as started once they are bound, or once it logs its ready line
  (pysips needs a second or two to load a script; SIPssert's waits assume a server that starts at
  once); a server not up within its bound fails the test, and the time pysips spends starting is
  not charged to the scenario's timeout;
- the first failure ends the test (SIPssert runs on; the verdict is the same, the report clearer).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from pysips.sipssert.addresses import AddressMap, bound_sockets
from pysips.sipssert.dbmap import map_volume
from pysips.sipssert.paths import PathMap
from pysips.sipssert.process import TaskProcess, log_tail
from pysips.sipssert.report import porting_summary
from pysips.sipssert.requires import Phase, Requirement, all_hold
from pysips.sipssert.runners import Broken, Launch, NotRun, TaskContext, build_launch
from pysips.sipssert.runners.base import RunnerOptions
from pysips.sipssert.scenario import Scenario, TaskSpec

TICK = 0.05
WILDCARD = "0.0.0.0"


@dataclass(slots=True)
class Failure:
    task: str | None
    reason: str
    log: Path | None = None


class TaskRun:
    """One task's progress through a phase (what `requires.Tracked` asks for)."""

    __slots__ = (
        "ended_at",
        "exit_code",
        "launch",
        "launched_at",
        "log_path",
        "phase",
        "process",
        "spec",
        "started_at",
    )

    def __init__(self, spec: TaskSpec, log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        self.phase = Phase.PENDING
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.launched_at: float | None = None
        self.process: TaskProcess | None = None
        self.launch: Launch | None = None
        self.exit_code: int | None = None

    @property
    def daemon(self) -> bool:
        return self.spec.daemon

    @property
    def ready_conditions(self) -> tuple[Requirement, ...]:
        return self.spec.ready

    @property
    def running(self) -> bool:
        return self.phase in (Phase.STARTING, Phase.ACTIVE) and self.process is not None


class TaskList:
    """The tasks of one phase, looked up by name or label (what `requires.Timeline` asks for)."""

    def __init__(self, runs: list[TaskRun]) -> None:
        self.runs = runs
        self.list_started_at = time.monotonic()

    def find(self, name: str) -> TaskRun | None:
        return next((r for r in self.runs if r.spec.matches(name)), None)

    def previous(self, task: object) -> TaskRun | None:
        prev = None
        for run in self.runs:
            if run is task:
                return prev
            prev = run
        return None


@dataclass(slots=True)
class TestEnvironment:
    scenario: Scenario
    addresses: AddressMap
    workdir: Path
    volume_dirs: dict[str, Path]
    options: RunnerOptions
    task_ips: dict[str, str]  # running tasks that named no address -> the address they got
    passwords: list[str]  # candidate passwords for re-hashing digest credentials (see dbmap)
    mapped_files: set[Path]


def task_paths(env: TestEnvironment, spec: TaskSpec) -> PathMap:
    private = env.workdir / "private" / spec.name.replace("/", "_")
    binds: list[tuple[str, Path]] = [(spec.mount_point, env.scenario.directory)]
    for folder in ("/tmp", "/run", "/var/run"):
        # on this host as in the images, /var/run is usually a link to /run: one folder for both
        real = os.path.realpath(folder) if folder == "/var/run" else folder
        local = private / real.strip("/").replace("/", "_")
        local.mkdir(parents=True, exist_ok=True)
        if folder != "/tmp":
            # the OpenSIPS image ships /run/opensips (its default FIFO and pid folder); scripts rely on it
            (local / "opensips").mkdir(exist_ok=True)
        binds.append((folder, local))
    binds.extend((v.bind, env.volume_dirs[v.name]) for v in spec.volumes if v.name in env.volume_dirs)
    return PathMap(binds)


def task_ip(env: TestEnvironment, spec: TaskSpec) -> str:
    """The task's address: its `ip` mapped, or else the lowest free address of its network.

    Docker hands a container without an address the lowest one free on its network and takes it
    back when the container stops, so two tasks that run one after the other (a REGISTER and the
    unregister that must name the same Contact) share an address, as they do under SIPssert."""
    ip = spec.get("ip")
    if ip:
        return str(env.addresses.text(str(ip)))
    if spec.name not in env.task_ips:
        env.task_ips[spec.name] = env.addresses.fresh(
            set(env.task_ips.values()), _network_index(env, spec)
        )
    return env.task_ips[spec.name]


def release_ip(env: TestEnvironment, spec: TaskSpec) -> None:
    """The task has ended: its address (if docker chose it) is free for the next task."""
    env.task_ips.pop(spec.name, None)


def _network_index(env: TestEnvironment, spec: TaskSpec) -> int:
    names = [
        str(n.get("name"))
        for n in env.scenario.set_config.get("bridge_networks") or []
        if isinstance(n, dict)
    ]
    network = spec.get("network")
    return names.index(network) if network in names else 0


def describe_wait(run: TaskRun) -> str:
    conditions = ", ".join(r.describe() for r in run.spec.requires)
    return f"{run.spec.name} (waiting for {conditions})" if conditions else run.spec.name


class PhaseRunner:
    def __init__(self, env: TestEnvironment, specs: list[TaskSpec], budget: float) -> None:
        self.env = env
        self.tasks = TaskList([TaskRun(s, env.workdir / f"{_slug(s.name)}.log") for s in specs])
        self.deadline = self.tasks.list_started_at + budget
        self.budget = budget

    # -- starting --------------------------------------------------------------------------------
    def _start(self, run: TaskRun, now: float) -> Failure | None:
        spec = run.spec
        ctx = TaskContext(
            spec=spec,
            scenario=self.env.scenario,
            addresses=self.env.addresses,
            paths=task_paths(self.env, spec),
            ip=task_ip(self.env, spec),
            workdir=self.env.workdir,
            options=self.env.options,
        )
        for volume in spec.volumes:
            folder = self.env.volume_dirs.get(volume.name)
            if folder is not None and spec.kind != "generic":
                map_volume(folder, self.env.addresses, self.env.passwords, self.env.mapped_files)
        built = build_launch(ctx)
        if isinstance(built, Broken):
            return Failure(spec.name, built.reason)
        if isinstance(built, NotRun):
            # SIPssert would run it; a verdict without it would claim what was never checked
            run.log_path.write_text(f"cannot run here: {built.reason}\n")
            return Failure(spec.name, f"cannot run here: {built.reason}", run.log_path)
        bound = bound_sockets() if built.endpoints else set()
        for ep in built.endpoints:
            if (ep.proto, WILDCARD, ep.port) in bound or (ep.proto, ep.address, ep.port) in bound:
                return Failure(spec.name, f"{ep.proto} port {ep.port} is already taken on this host")
        env = dict(os.environ)
        env.update(built.env)
        try:
            run.process = TaskProcess(built.argv, env, built.cwd, run.log_path)
        except OSError as exc:
            return Failure(spec.name, f"cannot start {built.argv[0]}: {exc.strerror}")
        run.launch = built
        run.launched_at = now
        if built.endpoints or built.ready_line:
            run.phase = Phase.STARTING
        else:
            run.phase = Phase.ACTIVE
            run.started_at = now
        return None

    # -- watching --------------------------------------------------------------------------------
    def _check_started(self, run: TaskRun, now: float, bound: set[tuple[str, str, int]]) -> Failure | None:
        assert run.launch is not None and run.launched_at is not None
        wanted = {(e.proto, e.address, e.port) for e in run.launch.endpoints}
        if (wanted and wanted <= bound) or self._logged_ready(run):
            run.phase = Phase.ACTIVE
            run.started_at = now
            if run.launch.strict_bind:
                self.deadline += now - run.launched_at  # server start-up is not the scenario's time
            return None
        if now - run.launched_at < run.launch.bind_timeout:
            return None
        if run.launch.strict_bind:
            missing = ", ".join(f"{p}:{a}:{port}" for p, a, port in sorted(wanted - bound))
            waited = f"did not open {missing}" if missing else "did not log that it serves"
            return Failure(
                run.spec.name,
                f"{run.launch.what} never came up: {waited} within {run.launch.bind_timeout:g} s",
                run.log_path,
            )
        run.phase = Phase.ACTIVE
        run.started_at = now
        return None

    @staticmethod
    def _logged_ready(run: TaskRun) -> bool:
        line = run.launch.ready_line if run.launch else None
        return line is not None and any(line in text for text in log_tail(run.log_path, 60))

    def _check_exit(self, run: TaskRun, now: float) -> Failure | None:
        assert run.process is not None
        code = run.process.poll()
        if code is None:
            limit = run.spec.get("timeout")
            if (
                limit
                and not run.daemon
                and run.started_at is not None
                and now - run.started_at > float(limit)
            ):
                run.process.stop(0.5)
                return Failure(run.spec.name, f"still running after its timeout of {limit} s", run.log_path)
            return None
        run.exit_code = code
        release_ip(self.env, run.spec)
        at_load = run.phase is Phase.STARTING and run.launch is not None and run.launch.strict_bind
        if run.started_at is None:
            run.started_at = now
        run.phase = Phase.ENDED
        run.ended_at = now
        what = run.launch.what if run.launch else "task"
        if run.daemon:
            lines = log_tail(run.log_path, 400)
            porting = porting_summary(lines)
            when = "at load" if at_load else "before the end of the test"
            reason = f"{what} stopped {when} (exit {code})"
            return Failure(run.spec.name, f"{reason}: {porting}" if porting else reason, run.log_path)
        if code != 0:
            return Failure(run.spec.name, f"{what} exited with status {code}", run.log_path)
        return None

    def _timeout(self) -> Failure:
        running = [r for r in self.tasks.runs if r.running and not r.daemon]
        pending = [r for r in self.tasks.runs if r.phase is Phase.PENDING]
        parts = [f"timeout after {self.budget:g} s"]
        if running:
            parts.append("still running: " + ", ".join(r.spec.name for r in running))
        if pending:
            parts.append("never started: " + ", ".join(describe_wait(r) for r in pending))
        first = running[0] if running else None
        return Failure(
            first.spec.name if first else None, "; ".join(parts), first.log_path if first else None
        )

    def run(self) -> Failure | None:
        try:
            return self._loop()
        finally:
            self._stop_all()

    def _loop(self) -> Failure | None:
        runs = self.tasks.runs
        while True:
            now = time.monotonic()
            for run in runs:
                if run.phase is Phase.PENDING and all_hold(run.spec.requires, run, self.tasks, now):
                    failure = self._start(run, now)
                    if failure:
                        return failure
            starting = [r for r in runs if r.phase is Phase.STARTING]
            bound = bound_sockets() if any(r.launch and r.launch.endpoints for r in starting) else set()
            for run in starting:
                failure = self._check_started(run, now, bound)
                if failure:
                    return failure
            for run in runs:
                if run.running:
                    failure = self._check_exit(run, now)
                    if failure:
                        return failure
            pending = any(r.phase is Phase.PENDING for r in runs)
            busy = any(r.running and not r.daemon for r in runs)
            if not pending and not busy:
                return None
            if now >= self.deadline:
                return self._timeout()
            time.sleep(TICK)

    def _stop_all(self) -> None:
        # non-daemons first (a sipp still talking to the server), then daemons in reverse order
        runs = [r for r in self.tasks.runs if not r.daemon] + [
            r for r in reversed(self.tasks.runs) if r.daemon
        ]
        for run in runs:
            release_ip(self.env, run.spec)
            if run.process is not None and run.running:
                grace = float(run.spec.get("stop_timeout", 0) or 0) if run.daemon else 0.2
                run.process.stop(min(max(grace, 1.0), 10.0))
            elif run.process is not None:
                run.process.stop(0.1)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
