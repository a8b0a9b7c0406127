"""set_advertised_address()/set_advertised_port() on the wire: what the next hop receives.

A pysips process relays a MESSAGE to a UDP socket of the test, statelessly (forward) and through
tm (t_relay); the Via and the Record-Route must carry the advertised address, as OpenSIPS 3.6.8
does (checked with the same script: `Record-Route: <sip:edge.example.net:5999;lr;ftag=...>`).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.proxy_harness import LOCALHOST, Rig
from tests.integration.test_udp_engine import pysips_env, server_argv

pytestmark = pytest.mark.integration
__all__ = ["pysips_env"]

CFG = """
log_level=2
listen=udp:127.0.0.1:@@PROXY_PORT@@
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "proto_udp.so"
route{
    if ($rU == NULL) {
        sl_send_reply(200, "OK");
        exit;
    }
    if ($rU == "plain") {
        forward();
        exit;
    }
    set_advertised_address("edge.example.net");
    set_advertised_port("5999");
    record_route();
    if ($rU == "stateless") {
        forward();
        exit;
    }
    t_relay();
}
"""


@pytest.fixture
def proxy(rig: Rig, pysips_env: None) -> Iterator[Rig]:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    cfg = rig.workdir / "adv.cfg"
    cfg.write_text(CFG.replace("@@PROXY_PORT@@", str(rig.ports.proxy)))
    rig.start_proxy("pysips", server_argv(cfg))
    yield rig


def relayed(proxy_port: int, user: str) -> list[str]:
    """Send a MESSAGE for `user` at our peer socket through the proxy; the header lines it gets."""
    tag = uuid.uuid4().hex[:10]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ua, socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ) as peer:
        ua.bind((LOCALHOST, 0))
        peer.bind((LOCALHOST, 0))
        peer.settimeout(5)
        ua_port = ua.getsockname()[1]
        peer_port = peer.getsockname()[1]
        request = (
            f"MESSAGE sip:{user}@{LOCALHOST}:{peer_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCALHOST}:{ua_port};branch=z9hG4bK{tag};rport\r\n"
            f"From: <sip:ua@{LOCALHOST}:{ua_port}>;tag={tag}\r\n"
            f"To: <sip:{user}@{LOCALHOST}>\r\n"
            f"Call-ID: adv-{tag}@{LOCALHOST}\r\n"
            "CSeq: 1 MESSAGE\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        ua.sendto(request, (LOCALHOST, proxy_port))
        data = peer.recv(65535)
    return data.decode().split("\r\n")


def test_stateless_forward_advertises_in_via_and_record_route(proxy: Rig) -> None:
    lines = relayed(proxy.ports.proxy, "stateless")
    assert any(line.startswith("Via: SIP/2.0/UDP edge.example.net:5999;branch=") for line in lines), lines
    assert any(line.startswith("Record-Route: <sip:edge.example.net:5999;lr") for line in lines), lines


def test_t_relay_advertises_in_via_and_record_route(proxy: Rig) -> None:
    lines = relayed(proxy.ports.proxy, "tm")
    assert any(line.startswith("Via: SIP/2.0/UDP edge.example.net:5999;branch=") for line in lines), lines
    assert any(line.startswith("Record-Route: <sip:edge.example.net:5999;lr") for line in lines), lines


def test_without_the_call_the_socket_address_is_used(proxy: Rig) -> None:
    lines = relayed(proxy.ports.proxy, "plain")
    assert lines[1].startswith(f"Via: SIP/2.0/UDP {LOCALHOST}:{proxy.ports.proxy};branch="), lines
