"""The sipp scenarios checked against Kamailio, a proxy known to be right.

If a case fails here, the scenario is wrong, not pysips. The same `CASES` later run through pysips.
"""

from __future__ import annotations

import pytest

from tests.integration.proxy_harness import CASES, CallCase, Rig, options_probe, run_case

pytestmark = [pytest.mark.integration, pytest.mark.kamailio, pytest.mark.timeout(60)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_through_kamailio(rig: Rig, case: CallCase) -> None:
    rig.start_kamailio()
    run_case(rig, case)


def test_a_scenario_fails_without_its_callee(rig: Rig) -> None:
    """The rig can say no: with no UAS the call case must fail (the proxy times out with 408)."""
    rig.start_kamailio()
    with pytest.raises(AssertionError, match="case call failed"):
        run_case(rig, CallCase("call", "uac_call.xml", "callee", uac_timeout_s=8.0))


def test_rig_stops_the_proxy(rig: Rig) -> None:
    proxy = rig.start_kamailio()
    assert options_probe(rig.ports.proxy) is not None
    rig.close()
    assert not proxy.alive()
    assert options_probe(rig.ports.proxy) is None
