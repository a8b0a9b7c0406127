"""uac and uac_auth against OpenSIPS 3.6: the same script (cfg/uac.cfg) and traffic through both
servers (uac_scenarios.py); what every UA receives must be equal once volatile values are masked.
The digest answers (MD5, MD5-sess, SHA-256, qop auth/auth-int, HA1 and AVP credentials) and the
From restored in replies and in the callee's requests are compared byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.differential.behaviour_scenarios import Scenario
from tests.differential.scenario_rig import Side, assert_same_behaviour, both_servers
from tests.differential.uac_scenarios import UAC_SCENARIOS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = (Path(__file__).parent / "cfg" / "uac.cfg").read_text()


@pytest.fixture(scope="module")
def uac_sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Side]]:
    with both_servers(tmp_path_factory, SCRIPT, "uac",
                      lambda uas1, uas2: {"UAS1": uas1.port, "UAS2": uas2.port}) as started:
        yield started


@pytest.mark.parametrize("scenario", UAC_SCENARIOS, ids=[s.name for s in UAC_SCENARIOS])
def test_uac_same_behaviour(uac_sides: dict[str, Side], scenario: Scenario) -> None:
    assert_same_behaviour(uac_sides, scenario)
