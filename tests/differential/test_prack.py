"""PRACK and UPDATE through a record-routing dialog script (cfg/prack.cfg), OpenSIPS 3.6 against
pysips: what every UA receives must be equal once volatile values are masked (normalise.py, and
the dialog ids in the did parameters, which each server numbers its own way).

The scenarios are prack_scenarios.py; the rig is test_behaviour.py's, on this script.
"""

from __future__ import annotations

import difflib
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest

from tests.differential.behaviour_scenarios import Net, Scenario, settle
from tests.differential.normalise import normalise
from tests.differential.prack_scenarios import SCENARIOS
from tests.differential.reference import Server, start_opensips, start_pysips
from tests.differential.sipua import Endpoint, Transcript

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = (Path(__file__).parent / "cfg" / "prack.cfg").read_text()
_DID = re.compile(r"did=[0-9a-f]+\.[0-9a-f]+", re.IGNORECASE)


class Side:
    """One server and the UAS sockets its script relays to."""

    def __init__(self, server: Server, uas1: Endpoint, uas2: Endpoint) -> None:
        self.server, self.uas1, self.uas2 = server, uas1, uas2

    def play(self, scenario: Scenario) -> dict[str, list[str]]:
        transcript = Transcript()
        for uas in (self.uas1, self.uas2):
            uas.transcript = Transcript()
            uas.quiet(0.01)
            uas.transcript = transcript
        uac = Endpoint("uac", transcript)
        run_id = secrets.token_hex(4)
        net = Net(self.server.port, self.uas1, self.uas2, uac, transcript, run_id, scenario.name)
        try:
            scenario.play(net)
            settle(net)
        finally:
            uac.close()
        names = {str(self.server.port): "PROXY", str(self.uas1.port): "UAS1",
                 str(self.uas2.port): "UAS2", str(uac.port): "UAC", run_id: "RUN"}
        return {who: [_DID.sub("did=*", text) for text in texts]
                for who, texts in normalise(transcript.entries, names).items()}


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Side]]:
    started: dict[str, Side] = {}
    endpoints: list[Endpoint] = []
    try:
        for name, start in (("opensips", partial(start_opensips, rewrite=False)), ("pysips", start_pysips)):
            uas1 = Endpoint("uas1", Transcript(), bind_host="0.0.0.0")
            uas2 = Endpoint("uas2", Transcript(), bind_host="0.0.0.0")
            endpoints += [uas1, uas2]
            workdir = tmp_path_factory.mktemp(f"prack-{name}")
            server = start(SCRIPT, workdir, values={"UAS1": uas1.port}, header_params=False)
            started[name] = Side(server, uas1, uas2)
        yield started
    finally:
        for side in started.values():
            side.server.stop()
        for ep in endpoints:
            ep.close()


def render(transcript: dict[str, list[str]]) -> str:
    out: list[str] = []
    for who in sorted(transcript):
        for text in transcript[who]:
            out.append(f"== {who} received:")
            out += text.rstrip("\r\n").split("\r\n")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_prack_same_as_opensips(sides: dict[str, Side], scenario: Scenario) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        ref_run = pool.submit(sides["opensips"].play, scenario)
        our_run = pool.submit(sides["pysips"].play, scenario)
        reference, ours = ref_run.result(), our_run.result()
    for side in sides.values():
        assert side.server.alive(), f"{side.server.name} died during {scenario.name}\n{side.server.tail()}"
    seen = [f"{who} {text.split(chr(13), 1)[0]}" for who, texts in reference.items() for text in texts]
    missing = [e for e in scenario.expect if not any(line.startswith(e) for line in seen)]
    assert not missing, f"the reference did not show {missing}\n{render(reference)}"
    if reference != ours:
        diff = difflib.unified_diff(render(reference).splitlines(), render(ours).splitlines(),
                                    "opensips", "pysips", lineterm="", n=4)
        pytest.fail(f"{scenario.name}: pysips differs from OpenSIPS 3.6\n" + "\n".join(diff)
                    + "\n" + sides["pysips"].server.tail(3000), pytrace=False)
