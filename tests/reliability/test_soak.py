"""The soak in CI, short: calls at a fixed rate through the soak proxy (the seed's routing with
its registrar) with REGISTER refreshes beside them. No call fails, no refresh fails, and after
the warm-up (transactions live ~32 s before tm frees them, so memory grows until then) RSS and
open file descriptors stay flat within generous bounds. benchmarks/soak.py is the long run at
80% of the measured maximum, with the PNG.

PYSIPS_SOAK_SECONDS and PYSIPS_SOAK_RATE change the length and rate (defaults: 120 s, 40 calls/s:
well below what one pysips process carries on a shared 2-core machine; a share of a maximum
measured on the CI machine would need minutes of search first, and depend on its other load).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.proxy_harness import rig_in
from tests.reliability.soak_rig import plot, run_soak

pytestmark = pytest.mark.integration

SECONDS = float(os.environ.get("PYSIPS_SOAK_SECONDS", "120"))
RATE = float(os.environ.get("PYSIPS_SOAK_RATE", "40"))
WARMUP = min(40.0, SECONDS / 2)
# generous: measured +404 KiB/min over 38-75 s (the tail of the warm-up); the allowance is 2 MiB/min
# (about 870 bytes per call at 40 calls/s), so allocator noise and a loaded machine pass and a
# per-call leak of a message's size does not
MAX_RSS_SLOPE_KIB_PER_MIN = 2048.0
MAX_FD_SLOPE_PER_MIN = 1.0


def test_soak(tmp_path: Path) -> None:
    with rig_in(tmp_path) as rig:
        result = run_soak(rig, RATE, SECONDS, WARMUP)
        report = rig.report(result.calls) if result.calls.failed else ""
    print(result.summary())
    plot(result, tmp_path / "soak.png")
    assert result.calls.failed == 0 and result.calls.successful == round(RATE * SECONDS), report
    assert result.registers_failed == 0, result.summary()
    assert result.rss_slope_kib_per_min < MAX_RSS_SLOPE_KIB_PER_MIN, result.summary()
    assert abs(result.fd_slope_per_min) < MAX_FD_SLOPE_PER_MIN, result.summary()
    assert (tmp_path / "soak.png").stat().st_size > 10_000
