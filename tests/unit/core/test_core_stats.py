"""OpenSIPS's core counters fwd_requests / drop_requests for forward()."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from core_support import OTHER, PROXY, make_net, request

from pysips.core.functions import ENGINE_FUNCTIONS
from pysips.script.compile import LoadOptions, load_script
from pysips.script.context import ProcessState
from pysips.script.parse import parse_text

SCRIPT = 'route { if ($rU == "nowhere") $du = "sip:unknown.invalid"; forward(); exit; }\n'


def test_forward_counts_forwarded_and_dropped_requests() -> None:
    process = ProcessState()
    net = make_net(None, (PROXY, OTHER), process=process)
    loaded = load_script(parse_text(SCRIPT, "t.cfg"),
                         LoadOptions(myself=net.engine.myself, core_functions=tuple(ENGINE_FUNCTIONS)))
    assert loaded.main_route is not None
    net.engine.main_route = loaded.main_route.run
    loaded.init_modules(process)
    stats = net.engine.stats
    assert (stats["fwd_requests"], stats["drop_requests"]) == (0, 0)
    assert len(net.deliver(request("OPTIONS", "sip:bob@192.0.2.9:5080"))) == 1
    assert net.deliver(request("OPTIONS", "sip:nowhere@192.0.2.9:5080", branch="z9hG4bKx2")) == []
    assert (stats["fwd_requests"], stats["drop_requests"]) == (1, 1)
