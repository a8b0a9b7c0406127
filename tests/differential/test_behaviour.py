"""Behaviour layer: the same script (cfg/behaviour.cfg) and the same SIP traffic through OpenSIPS 3.6
and pysips; what every UA receives must be equal once volatile values are masked (normalise.py).

One server of each kind serves all scenarios (started once per module); each scenario is its own
test and runs first against OpenSIPS, then against pysips. Scenarios that build state (the
registrations) run in table order on both servers, so selecting a subset with -k stays fair.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.differential.behaviour_scenarios import SCENARIOS, Scenario
from tests.differential.scenario_rig import Side, assert_same_behaviour, both_servers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = (Path(__file__).parent / "cfg" / "behaviour.cfg").read_text()


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Side]]:
    with both_servers(tmp_path_factory, SCRIPT, "behaviour",
                      lambda uas1, uas2: {"UAS1": uas1.port, "UAS2": uas2.port}) as started:
        yield started


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_same_behaviour(sides: dict[str, Side], scenario: Scenario) -> None:
    assert_same_behaviour(sides, scenario)


def test_at_least_thirty_scenarios() -> None:
    assert len(SCENARIOS) >= 30
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)
