"""Behaviour layer: the same script (cfg/behaviour.cfg) and the same SIP traffic through OpenSIPS 3.6
and pysips; what every UA receives must be equal once volatile values are masked (normalise.py).

One server of each kind serves all scenarios (started once per module); each scenario is its own
test and runs first against OpenSIPS, then against pysips. Scenarios that build state (the
registrations) run in table order on both servers, so selecting a subset with -k stays fair.
"""

from __future__ import annotations

import difflib
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from tests.differential.behaviour_scenarios import SCENARIOS, Net, Scenario, settle
from tests.differential.normalise import normalise
from tests.differential.reference import Server, start_opensips, start_pysips
from tests.differential.sipua import Endpoint, Transcript

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = (Path(__file__).parent / "cfg" / "behaviour.cfg").read_text()


@dataclass(slots=True)
class Side:
    """One server and the two UAS sockets its script relays to."""

    server: Server
    uas1: Endpoint
    uas2: Endpoint

    def play(self, scenario: Scenario) -> dict[str, list[str]]:
        transcript = Transcript()
        for uas in (self.uas1, self.uas2):
            uas.transcript = Transcript()  # leftovers of the previous scenario are not this one's
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
        return normalise(transcript.entries, names)


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Side]]:
    started: dict[str, Side] = {}
    endpoints: list[Endpoint] = []
    try:
        # the script is written in 3.x already: the OpenSIPS copy is not rewritten
        for name, start in (("opensips", partial(start_opensips, rewrite=False)), ("pysips", start_pysips)):
            uas1 = Endpoint("uas1", Transcript(), bind_host="0.0.0.0")
            uas2 = Endpoint("uas2", Transcript(), bind_host="0.0.0.0")
            endpoints += [uas1, uas2]
            workdir = tmp_path_factory.mktemp(f"behaviour-{name}")
            server = start(SCRIPT, workdir, values={"UAS1": uas1.port, "UAS2": uas2.port},
                           header_params=False)
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


def first_lines(transcript: dict[str, list[str]]) -> list[str]:
    return [f"{who} {text.split(chr(13), 1)[0]}" for who, texts in transcript.items() for text in texts]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_same_behaviour(sides: dict[str, Side], scenario: Scenario) -> None:
    # both at once: each side has its own sockets and server, and the waits overlap
    with ThreadPoolExecutor(max_workers=2) as pool:
        ref_run = pool.submit(sides["opensips"].play, scenario)
        our_run = pool.submit(sides["pysips"].play, scenario)
        reference, ours = ref_run.result(), our_run.result()
    for side in sides.values():
        assert side.server.alive(), f"{side.server.name} died during {scenario.name}\n{side.server.tail()}"
    seen = first_lines(reference)
    missing = [e for e in scenario.expect if not any(line.startswith(e) for line in seen)]
    assert not missing, (f"the reference did not show {missing}: the scenario does not do what it "
                         f"says\n{render(reference)}")
    if reference != ours:
        diff = difflib.unified_diff(render(reference).splitlines(), render(ours).splitlines(),
                                    "opensips", "pysips", lineterm="", n=4)
        pytest.fail(f"{scenario.name}: pysips differs from OpenSIPS 3.6\n" + "\n".join(diff)
                    + "\n" + sides["pysips"].server.tail(3000), pytrace=False)


def test_at_least_thirty_scenarios() -> None:
    assert len(SCENARIOS) >= 30
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)
