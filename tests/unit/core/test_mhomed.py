"""mhomed=yes: the outgoing UDP socket follows the destination's network."""

from __future__ import annotations

from pysips.core.api import Destination, Socket
from pysips.core.engine import Engine, ManualClock
from pysips.core.mhomed import OutSocketChooser, common_prefix, kernel_source, pick_socket
from pysips.script.context import MsgContext, ProcessState
from pysips.sip.receive import ReceiveInfo

A = Socket("udp", "10.52.0.1", 5060)
B = Socket("udp", "192.168.52.1", 5060)
T = Socket("tcp", "10.52.0.1", 5060)


def test_common_prefix() -> None:
    assert common_prefix("10.52.0.1", "10.52.0.3") == 30
    assert common_prefix("10.0.0.1", "10.0.0.1") == 32
    assert common_prefix("10.0.0.1", "::1") == -1
    assert common_prefix("nonsense", "10.0.0.1") == -1


def test_kernel_route_wins_when_one_socket_has_its_address() -> None:
    assert pick_socket([A, B], "8.8.8.8", "192.168.52.1") is B


def test_longest_prefix_when_no_socket_has_the_kernels_address() -> None:
    # on lo the kernel answers 127.0.0.1 for everything
    assert pick_socket([A, B], "192.168.52.3", "127.0.0.1") is B
    assert pick_socket([A, B], "10.52.0.3", "127.0.0.1") is A
    assert pick_socket([A, B], "10.52.0.3", None) is A


def test_loopback_route_lookup_gives_an_address() -> None:
    assert kernel_source("127.0.0.1") == "127.0.0.1"


def test_chooser_caches_and_ignores_other_protocols() -> None:
    calls: list[str] = []

    def lookup(ip: str) -> str | None:
        calls.append(ip)
        return None

    chooser = OutSocketChooser([A, B, T], lookup)
    assert chooser.choose(Destination("udp", "192.168.52.9", 5060)) is B
    assert chooser.choose(Destination("udp", "192.168.52.9", 5080)) is B
    assert calls == ["192.168.52.9"]
    assert chooser.choose(Destination("tcp", "192.168.52.9", 5060)) is None
    assert OutSocketChooser([A]).choose(Destination("udp", "192.168.52.9", 5060)) is None


def test_engine_socket_for_with_and_without_mhomed() -> None:
    engine = Engine(ProcessState(), [A, B], ManualClock())
    ctx = MsgContext(engine.process, None, ReceiveInfo("udp", A.ip, A.port, "10.52.0.3", 5060))
    dst = Destination("udp", "192.168.52.3", 5080)
    assert engine.socket_for(dst, ctx) is A  # the receiving socket
    engine.set_mhomed(True)
    assert engine.socket_for(dst, ctx) is B
    ctx.force_socket = A
    assert engine.socket_for(dst, ctx) is A  # force_send_socket() still wins
