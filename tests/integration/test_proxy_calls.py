"""Every call case of the rig through pysips: `pysips -f residential-test.cfg` driven by real sipp.

The same `CASES` pass through Kamailio (test_scenarios_reference.py), so a failure here is pysips's.
"""

from __future__ import annotations

import pytest

from tests.integration.proxy_harness import CASES, CFG_DIR, CallCase, Rig, run_case

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CFG = CFG_DIR / "residential-test.cfg"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_through_pysips(rig: Rig, case: CallCase) -> None:
    rig.start_pysips(CFG)
    run_case(rig, case)
