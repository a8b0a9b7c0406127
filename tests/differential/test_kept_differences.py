"""Behaviour kept different from OpenSIPS on purpose (docs/compatibility.md), asserted as such.

tm absorbs request retransmissions and the ACK of a negative final before the script; OpenSIPS
matches them only when the script asks (t_check_trans()). With a script that never asks, the
ACK of a locally generated 480 does not stop OpenSIPS retransmitting the 480; pysips stops.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.differential.reference import Server, start_server
from tests.differential.sipua import Endpoint, Message, Transcript, hop_ack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# the rig's header (reference.header) puts the globals, the socket and mpath in front
SCRIPT = """
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "sipmsgops.so"

route {
    if (is_method("ACK"))
        exit;  # no t_check_trans(): the ACK is not matched to the transaction here
    t_newtran();
    t_reply(480, "Not Now");
}
"""

INVITE = (
    "INVITE sip:x@127.0.0.1:{proxy} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-kept-{server};rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:a@127.0.0.1>;tag=kept\r\n"
    "To: <sip:x@127.0.0.1>\r\n"
    "Call-ID: kept-{server}\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n\r\n"
)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {}
    try:
        for name in ("opensips", "pysips"):
            started[name] = start_server(name, SCRIPT, tmp_path_factory.mktemp(f"kept-{name}"))
        yield started
    finally:
        for server in started.values():
            server.stop()


def _finals_after_ack(server: Server, name: str) -> list[str]:
    """INVITE, its 480, our ACK; then the first lines of every 480 that still arrives in 1.2 s."""
    ua = Endpoint("ua", Transcript())
    try:
        text = INVITE.format(proxy=server.port, port=ua.port, server=name)
        ua.send(text, ("127.0.0.1", server.port))
        final = ua.recv_final()
        assert final is not None and final.status == 480, f"{name}: no 480\n{server.tail()}"
        ua.send(hop_ack(Message.parse(text.encode()), final), ("127.0.0.1", server.port))
        seen: list[str] = []
        deadline = time.monotonic() + 1.2  # T1 = 0.5 s: OpenSIPS resends at 0.5 s and 1.5 s
        while (left := deadline - time.monotonic()) > 0:
            try:
                ua.sock.settimeout(left)
                data = ua.sock.recv(65535)
            except TimeoutError:
                break
            seen.append(data.split(b"\r\n", 1)[0].decode())
        return seen
    finally:
        ua.close()


def test_kept_difference_ack_absorbed_before_the_script(servers: dict[str, Server]) -> None:
    assert _finals_after_ack(servers["opensips"], "opensips") == ["SIP/2.0 480 Not Now"]
    assert _finals_after_ack(servers["pysips"], "pysips") == []
