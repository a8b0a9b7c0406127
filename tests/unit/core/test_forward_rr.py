"""forward() renders rr's Record-Route for the socket the request leaves on (double RR)."""

from __future__ import annotations

from typing import Any

from core_support import OTHER, PROXY, Net, make_net, request

from pysips.core.functions import ENGINE_FUNCTIONS
from pysips.script.compile import LoadOptions, load_script
from pysips.script.context import ProcessState
from pysips.script.parse import parse_text

SCRIPT = """
listen=udp:127.0.0.1:5060
listen=udp:127.0.0.2:5070
loadmodule "rr.so"
loadmodule "proto_udp.so"
route{
    record_route();
    if ($rU == "other")
        force_send_socket(udp:127.0.0.2:5070);
    forward();
}
"""




def script_net(text: str) -> tuple[Net, Any]:
    """The engine with the script loaded as the server loads it: forward() and friends wired."""
    process = ProcessState()
    net = make_net(None, (PROXY, OTHER), process=process)
    loaded = load_script(parse_text(text, "t.cfg"),
                         LoadOptions(myself=net.engine.myself, core_functions=tuple(ENGINE_FUNCTIONS)))
    assert loaded.main_route is not None
    net.engine.main_route = loaded.main_route.run
    loaded.init_modules(process)
    loaded.child_init(process)
    return net, loaded


def test_forward_out_of_another_socket_adds_a_second_record_route() -> None:
    net, _ = script_net(SCRIPT)
    out = net.deliver(request("INVITE", "sip:other@192.0.2.9:5080"))
    assert len(out) == 1 and out[0].socket.ip == "127.0.0.2"
    text = out[0].data.decode()
    lines = [ln for ln in text.split("\r\n") if ln.lower().startswith("record-route:")]
    assert len(lines) == 2, text
    assert "127.0.0.2:5070" in lines[0] and "r2=on" in lines[0]
    assert "127.0.0.1" in lines[1] and "r2=on" in lines[1]


def test_forward_out_of_the_receiving_socket_keeps_one_record_route() -> None:
    net, _ = script_net(SCRIPT)
    out = net.deliver(request("INVITE", "sip:bob@192.0.2.9:5080"))
    lines = [ln for ln in out[0].data.decode().split("\r\n") if ln.lower().startswith("record-route:")]
    assert len(lines) == 1 and "127.0.0.1" in lines[0] and "r2" not in lines[0]
