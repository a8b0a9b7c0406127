"""What the in-process benchmarks (engine_calls, engine_instructions, registrations) share: the
scripts they run, rendered for an engine whose sockets are the harness's, and that engine. No
pysips import at module level: engine_instructions.py imports this before it puts the tree under
test first on the path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# the sipp rig's record-routing stateful proxy, with the values an in-process call needs
CALLS_CFG = ROOT / "tests" / "integration" / "cfg" / "residential-test.cfg"
CALLS_VALUES: dict[str, object] = {"PROXY_PORT": 5060, "UAS_PORT": 7000, "UAS2_PORT": 7002, "CHILDREN": 1,
                                   "LOG_LEVEL": 0, "FR_TIMEOUT": 2, "FR_INV_TIMEOUT": 3}


def render(template: str, values: dict[str, object]) -> str:
    """`template` with its @@NAME@@ values filled in, without socket/listen lines (the harness
    gives the engine its sockets) or an empty db_url (memory-only usrloc has none)."""
    text = re.sub(r"@@([A-Z0-9_]+)@@", lambda m: str(values[m.group(1)]), template)
    return "\n".join(line for line in text.splitlines()
                     if not line.startswith(("socket", "listen")) and '"db_url", ""' not in line)


def calls_script() -> str:
    return render(CALLS_CFG.read_text(), CALLS_VALUES)


def engine(cfg: str) -> Any:
    """The real Engine running `cfg` (tests.unit.core.core_support.Net: sends captured, timers on
    a manual clock), with the collector set as the server sets it (pysips.core.server.tune_gc):
    Python's default threshold would collect every few messages, which the server does not pay."""
    from pysips.core.server import tune_gc
    from tests.unit.core.core_support import script_net

    net, _ = script_net(cfg)
    tune_gc()
    return net
