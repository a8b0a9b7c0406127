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


def test_udp_listener_answers_a_burst_in_order() -> None:
    """The listener reads datagrams in batches and sends what a batch produced at its end: a
    burst larger than a batch still gets every answer, in order, from the listening socket."""
    import asyncio
    import socket

    from pysips.core.api import Destination, Socket
    from pysips.sip.receive import ReceiveInfo
    from pysips.transport.udp import READ_BATCH, UdpListener, start_udp_listener
    from tests.integration.proxy_harness import free_port

    count = READ_BATCH * 3 + 5
    port = free_port()

    async def run() -> list[bytes]:
        loop = asyncio.get_running_loop()
        listener: UdpListener | None = None

        def echo(data: bytes, rcv: ReceiveInfo) -> None:
            assert listener is not None
            listener.send(b"re:" + data, Destination("udp", rcv.src_ip, rcv.src_port))

        listener = await start_udp_listener(loop, Socket("udp", "127.0.0.1", port), echo)
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.bind(("127.0.0.1", 0))
        client.setblocking(False)
        try:
            for i in range(count):
                client.sendto(b"%05d" % i, ("127.0.0.1", port))
            got: list[bytes] = []
            deadline = loop.time() + 5
            while len(got) < count and loop.time() < deadline:
                try:
                    data, addr = client.recvfrom(100)
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                    continue
                assert addr == ("127.0.0.1", port)
                got.append(data)
            return got
        finally:
            client.close()
            listener.close()

    got = asyncio.run(run())
    assert got == [b"re:%05d" % i for i in range(count)]
