"""2,000 idle connections (1,600 TCP, 400 WebSocket) held against pysips: all stay open, new
requests are answered while they are held, memory per connection stays small. The 10,000 version
is benchmarks/idle_connections.py (by hand)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy_harness import free_port
from tests.integration.test_transports import serving
from tests.reliability.idle import CFG, hold

pytestmark = pytest.mark.integration

# generous: an idle connection costs pysips a few KiB (measured 3.2 KiB: asyncio transport and
# protocol objects); 64 KiB would mean a message-sized buffer kept per connection, or a leak
MAX_KIB_PER_CONNECTION = 64


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, int], Path]]:
    base = tmp_path_factory.mktemp("idle")
    ports = {"udp": free_port(), "tcp": free_port(), "ws": free_port()}
    with serving(base / "idle.cfg", CFG.format(max_connections=5000, **ports),
                 [ports["ws"]]) as (proc, log):
        yield proc.pid, ports, log


def test_two_thousand_idle_connections(server: tuple[int, dict[str, int], Path]) -> None:
    pid, ports, log = server
    result = hold(pid, ports, tcp=1600, ws=400)
    print(result.summary())
    assert result.alive_after == 2000, (result.summary(), log.read_text()[-3000:])
    assert result.fds_held - result.fds_before >= 2000
    assert result.answered_while_held == result.probes, result.summary()
    assert result.kib_per_connection < MAX_KIB_PER_CONNECTION, result.summary()
