"""Open relay: the seed's script (examples/residential.cfg) must not carry a stranger's request
to another stranger, whatever the method and transport.

The "foreign" destination is a trap: a UDP socket on 127.0.0.2 (not one of our addresses, so not
`myself`). A refused request gets 403 from the script's relay check and the trap hears nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.reliability.clients import build_request, exchange, final_status
from tests.reliability.seed import PROTOS, SeedServer, run_seed

pytestmark = pytest.mark.integration

TRAP_HOST = "127.0.0.2"
METHODS = ("INVITE", "MESSAGE", "OPTIONS", "SUBSCRIBE", "NOTIFY", "PUBLISH", "REFER", "INFO", "UPDATE",
           "PRACK", "BYE")


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeedServer]:
    with run_seed(tmp_path_factory.mktemp("relay")) as server:
        yield server


@pytest.fixture()
def trap() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((TRAP_HOST, 0))
        s.settimeout(0.3)
        yield s


def trapped(trap: socket.socket) -> list[bytes]:
    got: list[bytes] = []
    try:
        while True:
            got.append(trap.recv(65535))
    except TimeoutError:
        return got


@pytest.mark.parametrize("proto", PROTOS)
def test_foreign_to_foreign_is_403_for_every_method(seed: SeedServer, trap: socket.socket,
                                                    proto: str) -> None:
    port = seed.ports[proto]
    trap_port = trap.getsockname()[1]
    outcomes = {}
    for method in METHODS:
        msg = build_request(method, f"sip:bob@{TRAP_HOST}:{trap_port}", proto.upper(),
                            from_uri="sip:alice@foreign.example")
        outcomes[method] = final_status(exchange(proto, port, msg))
    assert outcomes == dict.fromkeys(METHODS, 403), seed.log()
    assert trapped(trap) == []


@pytest.mark.parametrize("proto", PROTOS)
def test_foreign_domain_names_are_403_too(seed: SeedServer, proto: str) -> None:
    msg = build_request("INVITE", "sip:bob@victim.example.com", proto.upper(),
                        from_uri="sip:alice@attacker.example.net")
    assert final_status(exchange(proto, seed.ports[proto], msg)) == 403


def test_ack_from_stranger_is_dropped_not_relayed(seed: SeedServer, trap: socket.socket) -> None:
    msg = build_request("ACK", f"sip:bob@{TRAP_HOST}:{trap.getsockname()[1]}", "UDP",
                        from_uri="sip:alice@foreign.example")
    assert exchange("udp", seed.ports["udp"], msg, timeout=0.5) == []
    assert trapped(trap) == []


def test_local_caller_may_call_out_control(seed: SeedServer, trap: socket.socket) -> None:
    """The control: the same request from one of ours (From is myself) is relayed, so the trap
    would hear a relay if the 403 check were missing."""
    me = f"127.0.0.1:{seed.ports['udp']}"
    msg = build_request("MESSAGE", f"sip:bob@{TRAP_HOST}:{trap.getsockname()[1]}", "UDP",
                        from_uri=f"sip:alice@{me}")
    exchange("udp", seed.ports["udp"], msg, timeout=0.5)
    heard = trapped(trap)
    assert heard and heard[0].startswith(b"MESSAGE sip:bob@127.0.0.2"), seed.log()


def test_register_for_a_foreign_domain_is_forwarded_as_the_seed_says(seed: SeedServer,
                                                                    trap: socket.socket) -> None:
    """The seed's relay check exempts REGISTER: a stranger's REGISTER for another domain is
    forwarded there (docs/security.md tells operators to refuse it in the script if unwanted)."""
    msg = build_request("REGISTER", f"sip:{TRAP_HOST}:{trap.getsockname()[1]}", "UDP",
                        from_uri="sip:alice@foreign.example", to_uri="sip:alice@foreign.example")
    exchange("udp", seed.ports["udp"], msg, timeout=0.5)
    heard = trapped(trap)
    assert heard and heard[0].startswith(b"REGISTER sip:127.0.0.2"), seed.log()
