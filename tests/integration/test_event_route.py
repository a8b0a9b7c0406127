"""event_route in a running server: a request raises an event; its event_route runs after the
request's route, with the parameters, and a route subscribed from startup_route gets it too."""

from __future__ import annotations

import time

import pytest

from tests.integration.proxy_harness import Rig, options_probe
from tests.integration.test_udp_engine import pysips_env, server_argv

pytestmark = pytest.mark.integration
__all__ = ["pysips_env"]

CFG = """
log_level=2
listen=udp:127.0.0.1:@@PROXY_PORT@@
loadmodule "sl.so"
loadmodule "proto_udp.so"
startup_route {
    subscribe_event("E_PROBE", "route:E_AUDIT", 60);
}
route{
    $avp(v) = $si;
    $avp(v) = $rm;
    $avp(n) = "source";
    $avp(n) = "method";
    raise_event("E_PROBE", $avp(n), $avp(v));
    xlog("L_NOTICE", "route done\\n");
    sl_send_reply(200, "OK");
}
event_route[E_PROBE] {
    xlog("L_NOTICE", "E_PROBE: $param(method) from $param(source)\\n");
}
event_route[E_AUDIT] {
    xlog("L_NOTICE", "E_AUDIT saw $param(1)\\n");
}
"""


def test_event_route_runs_after_the_request_route(rig: Rig, pysips_env: None) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    cfg = rig.workdir / "events.cfg"
    cfg.write_text(CFG.replace("@@PROXY_PORT@@", str(rig.ports.proxy)))
    proxy = rig.start_proxy("pysips", server_argv(cfg))
    assert options_probe(rig.ports.proxy, timeout=2.0) == "SIP/2.0 200 OK"
    deadline = time.monotonic() + 5
    while "E_AUDIT saw" not in proxy.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = proxy.log()
    done = log.find("route done")
    probe = log.find("E_PROBE: OPTIONS from 127.0.0.1")
    audit = log.find("E_AUDIT saw OPTIONS")
    assert done >= 0 and probe > done and audit > done, log
