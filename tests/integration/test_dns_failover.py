"""RFC 3263 resolution and tm's DNS failover against a DNS server started by the test (issue 10).

The zone: example.test has a NAPTR (SIP+D2U) to _sip._udp.example.test, whose SRV records name
dead.example.test (priority 10) and live.example.test (priority 20), both 127.0.0.1 at different
ports. pysips runs with `--dns-server` pointing at the test's server and relays every new INVITE to
sip:callee@example.test. The first target is dead (a sipp answering 503, or nothing listening at
all); the call must complete through the second, a sipp UAS.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysips.core.api import Destination
from pysips.core.resolve import Resolver
from pysips.core.suspend import spawn
from tests.integration.dns_server import DnsServer
from tests.integration.proxy_harness import LOCALHOST, Rig, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ZONE = """\
example.test. 60 IN NAPTR 10 10 "S" "SIP+D2U" "" _sip._udp.example.test.
example.test. 60 IN NAPTR 20 10 "S" "SIP+D2T" "" _sip._tcp.example.test.
_sip._udp.example.test. 60 IN SRV 20 10 {live} live.example.test.
_sip._udp.example.test. 60 IN SRV 10 10 {dead} dead.example.test.
_sip._tcp.example.test. 60 IN SRV 10 10 {dead} dead.example.test.
dead.example.test. 60 IN A 127.0.0.1
live.example.test. 60 IN A 127.0.0.1
live.example.test. 60 IN AAAA ::1
"""

SCRIPT = """\
log_level = 3
dns_retr_time = 1
dns_retr_no = 2
dns_servers_no = 1
socket = udp:127.0.0.1:{port}
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
modparam("tm", "fr_timeout", 2)
loadmodule "rr.so"
loadmodule "sipmsgops.so"

route {{
    if (has_totag()) {{
        if (loose_route()) {{
            t_relay();
        }} else if (is_method("ACK") && t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans())
            t_relay();
        exit;
    }}
    t_check_trans();
    record_route();
    $ru = "sip:" + $rU + "@example.test";
    if (!t_relay())
        sl_reply_error();
}}
"""


@pytest.fixture
def ports() -> tuple[int, int]:
    return free_port(), free_port()


@pytest.fixture
def dns(ports: tuple[int, int]) -> Iterator[DnsServer]:
    dead, live = ports
    server = DnsServer(ZONE.format(dead=dead, live=live))
    yield server
    server.close()


def test_the_resolver_keeps_every_target_in_order(dns: DnsServer, ports: tuple[int, int]) -> None:
    dead, live = ports
    resolver = Resolver({"udp", "tcp"})
    assert resolver.dns is not None
    resolver.dns.use_servers([(LOCALHOST, dns.port)])
    resolver.dns.hosts = {}
    found: list[list[Destination]] = []

    async def main() -> None:
        # in a script greenlet on a running loop, as in the server: the lookups suspend
        assert spawn(lambda: found.append(resolver.resolve("sip:bob@example.test"))) is False
        while not found:
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert found[0] == [
        Destination("udp", "127.0.0.1", dead),
        Destination("udp", "127.0.0.1", live),
        Destination("udp", "::1", live),
        Destination("tcp", "127.0.0.1", dead),
    ]
    assert dns.queries[:2] == [("example.test", "NAPTR"), ("_sip._udp.example.test", "SRV")]
    # .invalid is never asked
    before = len(dns.queries)
    assert resolver.resolve("sip:bob@df7jal23ls0d.invalid") == []
    assert len(dns.queries) == before


def start_pysips(rig: Rig, dns: DnsServer) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    cfg = rig.workdir / "pysips.cfg"
    cfg.write_text(SCRIPT.format(port=rig.ports.proxy))
    exe = shutil.which("pysips")
    argv = [exe] if exe else [sys.executable, "-m", "pysips.cli"]
    rig.start_proxy("pysips", [*argv, "-f", str(cfg), "--dns-server", dns.address])


@pytest.mark.parametrize("dead_target", ["answers_503", "silent"])
def test_the_call_completes_through_the_second_srv_target(
    rig: Rig, dns: DnsServer, ports: tuple[int, int], dead_target: str, tmp_path: Path
) -> None:
    dead, live = ports
    start_pysips(rig, dns)
    dead_uas = rig.start_uas("uas_unavailable.xml", dead) if dead_target == "answers_503" else None
    live_uas = rig.start_uas("uas_call.xml", live)
    uac = rig.run_uac("uac_call.xml", "callee", timeout_s=15.0)
    results = [uac, live_uas.wait(timeout=10.0)]
    if dead_uas is not None:
        results.append(dead_uas.wait(timeout=10.0))
    failed = [r.describe() for r in results if not r.ok or r.successful != 1]
    assert not failed, "\n".join(failed) + "\n" + rig.report(*results)
    asked = set(dns.queries)
    assert ("example.test", "NAPTR") in asked and ("_sip._udp.example.test", "SRV") in asked
    log = rig.proxy.log() if rig.proxy else ""
    code = 503 if dead_target == "answers_503" else 408
    assert f"DNS failover: INVITE to 127.0.0.1:{live} (udp) after {code}" in log
