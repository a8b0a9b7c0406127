from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pysips.sipssert.requires import (
    Kind,
    Phase,
    RequireError,
    Requirement,
    all_hold,
    holds,
    parse_requirements,
)


@dataclass
class FakeTask:
    name: str
    daemon: bool = False
    phase: Phase = Phase.PENDING
    started_at: float | None = None
    ended_at: float | None = None
    ready_conditions: tuple[Requirement, ...] = field(default_factory=tuple)


class FakeTimeline:
    def __init__(self, *tasks: FakeTask) -> None:
        self.tasks = list(tasks)
        self.list_started_at = 100.0

    def find(self, name: str) -> FakeTask | None:
        return next((t for t in self.tasks if t.name == name), None)

    def previous(self, task: object) -> FakeTask | None:
        i = self.tasks.index(task)  # type: ignore[arg-type]
        return self.tasks[i - 1] if i else None


def test_parse_all_forms() -> None:
    reqs = parse_requirements(
        [
            "OpenSIPS",
            {"After": {"Task": "Register", "Wait": 3}},
            {"started": "UAS"},
            {"ready": {"task": "UAS", "wait": "0.5"}},
            {"wait": 2},
            {"delay": 1},
        ]
    )
    assert reqs == (
        Requirement(Kind.AFTER, "OpenSIPS"),
        Requirement(Kind.AFTER, "Register", 3.0),
        Requirement(Kind.STARTED, "UAS"),
        Requirement(Kind.READY, "UAS", 0.5),
        Requirement(Kind.WAIT, None, 2.0),
        Requirement(Kind.DELAY, None, 1.0),
    )
    assert parse_requirements(None) == ()
    assert parse_requirements({"started": {"task": "X", "wait": 2}}) == (Requirement(Kind.STARTED, "X", 2.0),)


@pytest.mark.parametrize("bad", [{"soon": "X"}, {"after": {"wait": 1}}, {"wait": "later"}])
def test_parse_rejects(bad: object) -> None:
    with pytest.raises(RequireError):
        parse_requirements(bad)


def test_after_a_daemon_counts_from_its_start() -> None:
    server = FakeTask("OpenSIPS", daemon=True)
    me = FakeTask("UAC")
    tl = FakeTimeline(server, me)
    req = Requirement(Kind.AFTER, "OpenSIPS", 0.5)
    assert not holds(req, me, tl, 101.0)
    server.phase, server.started_at = Phase.STARTING, None
    assert not holds(req, me, tl, 101.0)  # launched but its sockets are not open yet
    server.phase, server.started_at = Phase.ACTIVE, 101.0
    assert not holds(req, me, tl, 101.4)
    assert holds(req, me, tl, 101.5)


def test_after_a_task_waits_for_its_end() -> None:
    reg = FakeTask("Register", phase=Phase.ACTIVE, started_at=100.0)
    me = FakeTask("Check")
    tl = FakeTimeline(reg, me)
    req = Requirement(Kind.AFTER, "Register", 3)
    assert not holds(req, me, tl, 200.0)
    reg.phase, reg.ended_at = Phase.ENDED, 110.0
    assert not holds(req, me, tl, 112.9)
    assert holds(req, me, tl, 113.0)
    # started: counts from the start, whatever the task is
    assert holds(Requirement(Kind.STARTED, "Register", 5), me, tl, 105.0)


def test_ready_needs_the_other_tasks_ready_conditions() -> None:
    gate = FakeTask("Gate")
    uas = FakeTask(
        "UAS", phase=Phase.ACTIVE, started_at=100.0, ready_conditions=(Requirement(Kind.AFTER, "Gate"),)
    )
    me = FakeTask("UAC")
    tl = FakeTimeline(gate, uas, me)
    req = Requirement(Kind.READY, "UAS")
    assert not holds(req, me, tl, 101.0)
    gate.phase, gate.ended_at = Phase.ENDED, 100.5
    assert holds(req, me, tl, 101.0)


def test_wait_and_delay() -> None:
    first = FakeTask("A")
    me = FakeTask("B")
    tl = FakeTimeline(first, me)
    assert not holds(Requirement(Kind.WAIT, None, 2), me, tl, 101.9)
    assert holds(Requirement(Kind.WAIT, None, 2), me, tl, 102.0)
    delay = Requirement(Kind.DELAY, None, 1)
    assert not holds(delay, me, tl, 150.0)  # the previous task has not started
    first.phase, first.started_at = Phase.ACTIVE, 149.5
    assert not holds(delay, me, tl, 150.0)
    assert holds(delay, me, tl, 150.5)
    assert holds(delay, first, tl, 101.0)  # the first task counts from the list's start


def test_unknown_task_never_holds_and_all_hold_is_conjunction() -> None:
    me = FakeTask("B")
    tl = FakeTimeline(me)
    assert not holds(Requirement(Kind.AFTER, "ghost"), me, tl, 1e9)
    assert all_hold((), me, tl, 0.0)
    assert not all_hold((Requirement(Kind.WAIT, None, 0), Requirement(Kind.WAIT, None, 5)), me, tl, 101.0)
