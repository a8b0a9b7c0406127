"""PRACK and UPDATE through a record-routing dialog script (cfg/prack.cfg), OpenSIPS 3.6 against
pysips: what every UA receives must be equal once volatile values are masked (normalise.py, and
the dialog ids in the did parameters, which each server numbers its own way).

The scenarios are prack_scenarios.py; the rig is scenario_rig.py's, on this script.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.differential.behaviour_scenarios import Scenario
from tests.differential.prack_scenarios import SCENARIOS
from tests.differential.scenario_rig import Side, assert_same_behaviour, both_servers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = (Path(__file__).parent / "cfg" / "prack.cfg").read_text()
_DID = re.compile(r"did=[0-9a-f]+\.[0-9a-f]+", re.IGNORECASE)


def _mask_dialog_ids(text: str) -> str:
    return _DID.sub("did=*", text)


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Side]]:
    with both_servers(tmp_path_factory, SCRIPT, "prack", lambda uas1, uas2: {"UAS1": uas1.port},
                      mask=_mask_dialog_ids) as started:
        yield started


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_prack_same_as_opensips(sides: dict[str, Side], scenario: Scenario) -> None:
    assert_same_behaviour(sides, scenario)
