"""The rig of the scenario-based differential tests (test_behaviour, test_uac, test_prack): one
OpenSIPS 3.6 and one pysips on the same script, each relaying to two UAS sockets of its own; a
scenario plays against both at once and what every UA received must be equal once volatile
values are masked (normalise.py, plus a test's own `mask`)."""

from __future__ import annotations

import difflib
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import pytest

from tests.differential.behaviour_scenarios import Net, Scenario, settle
from tests.differential.normalise import normalise
from tests.differential.reference import Server, start_opensips, start_pysips
from tests.differential.sipua import Endpoint, Transcript

Mask = Callable[[str], str]
Received = dict[str, list[str]]  # UA name -> the messages it received, normalised


@dataclass(slots=True)
class Side:
    """One server and the two UAS sockets its script relays to."""

    server: Server
    uas1: Endpoint
    uas2: Endpoint
    mask: Mask | None = None  # what else differs per server by design (ids each numbers its own way)

    def play(self, scenario: Scenario) -> Received:
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
        received = normalise(transcript.entries, names)
        if self.mask is None:
            return received
        mask = self.mask
        return {who: [mask(text) for text in texts] for who, texts in received.items()}


@contextmanager
def both_servers(tmp_path_factory: pytest.TempPathFactory, script: str, label: str,
                 values: Callable[[Endpoint, Endpoint], dict[str, object]],
                 mask: Mask | None = None) -> Iterator[dict[str, Side]]:
    """"opensips" and "pysips" Sides on `script` (written in 3.x already: the OpenSIPS copy is
    not rewritten); `values` fills the script's placeholders from the two UAS endpoints."""
    started: dict[str, Side] = {}
    endpoints: list[Endpoint] = []
    try:
        for name, start in (("opensips", partial(start_opensips, rewrite=False)), ("pysips", start_pysips)):
            uas1 = Endpoint("uas1", Transcript(), bind_host="0.0.0.0")
            uas2 = Endpoint("uas2", Transcript(), bind_host="0.0.0.0")
            endpoints += [uas1, uas2]
            workdir = tmp_path_factory.mktemp(f"{label}-{name}")
            server = start(script, workdir, values=values(uas1, uas2), header_params=False)
            started[name] = Side(server, uas1, uas2, mask)
        yield started
    finally:
        for side in started.values():
            side.server.stop()
        for ep in endpoints:
            ep.close()


def render(transcript: Received) -> str:
    out: list[str] = []
    for who in sorted(transcript):
        for text in transcript[who]:
            out.append(f"== {who} received:")
            out += text.rstrip("\r\n").split("\r\n")
    return "\n".join(out) + "\n"


def first_lines(transcript: Received) -> list[str]:
    return [f"{who} {text.split(chr(13), 1)[0]}" for who, texts in transcript.items() for text in texts]


def assert_same_behaviour(sides: dict[str, Side], scenario: Scenario) -> None:
    """Plays the scenario on both servers, checks the reference shows what the scenario expects
    (else the scenario does not test what it says) and that pysips's transcript equals it."""
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
