"""The probing pieces dispatcher, load_balancer and drouting share: the answer rule, the verdict
load_balancer and drouting apply, and the repeating timer of their rounds."""

from __future__ import annotations

from pysips.core.engine import ManualClock
from pysips.core.periodic import Periodic
from pysips.core.probing import probe_accepted, probe_verdict
from pysips.script.param_checks import parse_codes


def test_200_and_listed_codes_answer() -> None:
    extra = parse_codes("404, 503,")
    assert extra == frozenset({404, 503})
    assert probe_accepted(200, extra) and probe_accepted(503, extra)
    assert not probe_accepted(408, extra) and not probe_accepted(486, frozenset())


def test_verdict_reenables_unless_forbidden_and_disables_on_errors() -> None:
    none: frozenset[int] = frozenset()
    assert probe_verdict(200, none, enabled=False, may_reenable=True) is True
    assert probe_verdict(200, none, enabled=False, may_reenable=False) is None  # MI-disabled
    assert probe_verdict(200, none, enabled=True, may_reenable=True) is None
    assert probe_verdict(503, none, enabled=True, may_reenable=True) is False
    assert probe_verdict(503, none, enabled=False, may_reenable=True) is None
    assert probe_verdict(302, none, enabled=True, may_reenable=True) is None  # not an error
    assert probe_verdict(503, frozenset({503}), enabled=False, may_reenable=True) is True


def test_periodic_repeats_until_cancelled() -> None:
    clock = ManualClock(0.0)
    runs: list[float] = []
    timer = Periodic(clock, 10, lambda: runs.append(clock.now()))
    for _ in range(7):
        clock.advance(5)
    assert runs == [10.0, 20.0, 30.0]
    timer.cancel()
    clock.advance(30)
    assert runs == [10.0, 20.0, 30.0]
