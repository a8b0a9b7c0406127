"""Task ordering: SIPssert's `require` (and `ready`) conditions and when they hold.

Forms accepted, as SIPssert reads them:
  require: OpenSIPS                      -> after OpenSIPS
  require: {after: {task: X, wait: 2}}   -> X ended 2 s ago; for a daemon X: X started 2 s ago
  require: {started: X} / {started: {task: X, wait: 0.5}}
  require: {ready: X}                    -> X started and X's own `ready` conditions hold
  require: {wait: 3}                     -> 3 s after the task list started
  require: {delay: 1}                    -> 1 s after the previous task in the list started
  require: {healthy: X}                  -> X started (there are no health checks without Docker)
A list of these must all hold. Keys are case-insensitive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol


class RequireError(ValueError):
    """A `require` entry that SIPssert would not accept either."""


class Kind(enum.Enum):
    AFTER = "after"
    STARTED = "started"
    READY = "ready"
    WAIT = "wait"
    DELAY = "delay"
    HEALTHY = "healthy"


class Phase(enum.IntEnum):
    """A task's progress; the order matters (a finished task has also started)."""

    PENDING = 0
    STARTING = 1  # process launched, its sockets not open yet
    ACTIVE = 2
    ENDED = 3


@dataclass(frozen=True, slots=True)
class Requirement:
    kind: Kind
    task: str | None = None  # for AFTER, STARTED, READY, HEALTHY
    wait: float = 0.0  # seconds

    def describe(self) -> str:
        target = f" {self.task}" if self.task is not None else ""
        delay = f" +{self.wait:g}s" if self.wait else ""
        return f"{self.kind.value}{target}{delay}"


class Tracked(Protocol):
    """What a condition needs to know about a task while the scenario runs."""

    @property
    def phase(self) -> Phase: ...
    @property
    def started_at(self) -> float | None: ...
    @property
    def ended_at(self) -> float | None: ...
    @property
    def daemon(self) -> bool: ...
    @property
    def ready_conditions(self) -> tuple[Requirement, ...]: ...


class Timeline(Protocol):
    @property
    def list_started_at(self) -> float: ...
    def find(self, name: str) -> Tracked | None: ...
    def previous(self, task: Tracked) -> Tracked | None: ...


def _number(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RequireError(f"{where}: {value!r} is not a number of seconds") from None


def _lower_keys(node: dict[Any, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in node.items()}


def _task_condition(kind: Kind, value: Any) -> Requirement:
    if isinstance(value, dict):
        keys = _lower_keys(value)
        if "task" not in keys:
            raise RequireError(f"'{kind.value}' needs a task name: {value!r}")
        wait = _number(keys["wait"], kind.value) if "wait" in keys else 0.0
        return Requirement(kind, str(keys["task"]), wait)
    if value is None:
        raise RequireError(f"'{kind.value}' needs a task name")
    return Requirement(kind, str(value))


def parse_requirements(node: Any) -> tuple[Requirement, ...]:
    if node is None or node == []:
        return ()
    entries = node if isinstance(node, list) else [node]
    result: list[Requirement] = []
    for entry in entries:
        if not isinstance(entry, dict):
            result.append(Requirement(Kind.AFTER, str(entry)))
            continue
        keys = _lower_keys(entry)
        for kind in Kind:
            if kind.value in keys:
                value = keys[kind.value]
                if kind in (Kind.WAIT, Kind.DELAY):
                    result.append(Requirement(kind, None, _number(value, kind.value)))
                else:
                    result.append(_task_condition(kind, value))
                break
        else:
            raise RequireError(f"unknown require condition {entry!r}")
    return tuple(result)


def holds(req: Requirement, task: Tracked, timeline: Timeline, now: float) -> bool:
    """True when `req` (a condition of `task`) is met at time `now`."""
    if req.kind is Kind.WAIT:
        return now - timeline.list_started_at >= req.wait
    if req.kind is Kind.DELAY:
        prev = timeline.previous(task)
        if prev is None:
            return now - timeline.list_started_at >= req.wait
        if prev.phase < Phase.ACTIVE or prev.started_at is None:
            return False
        return now - prev.started_at >= req.wait
    assert req.task is not None
    other = timeline.find(req.task)
    if other is None:
        return False
    by_start = req.kind is not Kind.AFTER or other.daemon
    if by_start:
        if other.phase < Phase.ACTIVE or other.started_at is None:
            return False
        if req.kind is Kind.READY and not all_hold(other.ready_conditions, other, timeline, now):
            return False
        reference = other.started_at
    else:
        if other.phase < Phase.ENDED or other.ended_at is None:
            return False
        reference = other.ended_at
    return now - reference >= req.wait


def all_hold(reqs: tuple[Requirement, ...], task: Tracked, timeline: Timeline, now: float) -> bool:
    return all(holds(r, task, timeline, now) for r in reqs)


def unknown_targets(reqs: tuple[Requirement, ...], names: set[str]) -> list[str]:
    """Task names the conditions refer to that no task (name or label) carries."""
    return [r.task for r in reqs if r.task is not None and r.task not in names]
