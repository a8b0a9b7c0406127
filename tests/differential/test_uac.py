"""uac and uac_auth against OpenSIPS 3.6: the same script (cfg/uac.cfg) and traffic through both
servers (uac_scenarios.py); what every UA receives must be equal once volatile values are masked.
The digest answers (MD5, MD5-sess, SHA-256, qop auth/auth-int, HA1 and AVP credentials) and the
From restored in replies and in the callee's requests are compared byte for byte."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

from tests.differential.behaviour_scenarios import Scenario
from tests.differential.reference import start_opensips, start_pysips
from tests.differential.sipua import Endpoint, Transcript
from tests.differential.test_behaviour import Side, first_lines, render
from tests.differential.uac_scenarios import UAC_SCENARIOS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = (Path(__file__).parent / "cfg" / "uac.cfg").read_text()


@pytest.fixture(scope="module")
def uac_sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Side]]:
    started: dict[str, Side] = {}
    endpoints: list[Endpoint] = []
    try:
        for name, start in (("opensips", partial(start_opensips, rewrite=False)), ("pysips", start_pysips)):
            uas1 = Endpoint("uas1", Transcript(), bind_host="0.0.0.0")
            uas2 = Endpoint("uas2", Transcript(), bind_host="0.0.0.0")
            endpoints += [uas1, uas2]
            workdir = tmp_path_factory.mktemp(f"uac-{name}")
            server = start(SCRIPT, workdir, values={"UAS1": uas1.port, "UAS2": uas2.port},
                           header_params=False)
            started[name] = Side(server, uas1, uas2)
        yield started
    finally:
        for side in started.values():
            side.server.stop()
        for ep in endpoints:
            ep.close()


@pytest.mark.parametrize("scenario", UAC_SCENARIOS, ids=[s.name for s in UAC_SCENARIOS])
def test_uac_same_behaviour(uac_sides: dict[str, Side], scenario: Scenario) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        ref_run = pool.submit(uac_sides["opensips"].play, scenario)
        our_run = pool.submit(uac_sides["pysips"].play, scenario)
        reference, ours = ref_run.result(), our_run.result()
    for side in uac_sides.values():
        assert side.server.alive(), f"{side.server.name} died during {scenario.name}\n{side.server.tail()}"
    seen = first_lines(reference)
    missing = [e for e in scenario.expect if not any(line.startswith(e) for line in seen)]
    assert not missing, (f"the reference did not show {missing}: the scenario does not do what it "
                         f"says\n{render(reference)}")
    if reference != ours:
        diff = difflib.unified_diff(render(reference).splitlines(), render(ours).splitlines(),
                                    "opensips", "pysips", lineterm="", n=4)
        pytest.fail(f"{scenario.name}: pysips differs from OpenSIPS 3.6\n" + "\n".join(diff)
                    + "\n" + uac_sides["pysips"].server.tail(3000), pytrace=False)
