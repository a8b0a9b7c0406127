"""In-dialog requests (To-tag) with forged Route headers towards an outside host.

OpenSIPS 3.6's loose_route() (modules/rr/loose.c, after_loose) treats a request with a To-tag as
not preloaded; when the topmost Route is not ours it sets the destination to that Route and
returns true. The seed's script then relays it: the seed is an in-dialog relay for anyone who
forges a Route. pysips must behave the same (scripts run unchanged), so the test runs the seed's
logic in both OpenSIPS 3.6.8 and pysips and compares what reaches an outside trap; then it shows
that the check docs/security.md recommends (the topmost Route must be ours) closes the forged
cases in both, while a route set that starts with us still passes (only dialog state can tell
those apart from a real dialog).
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.differential.reference import running
from tests.reliability.clients import build_request, final_status

pytestmark = pytest.mark.integration

TRAP_HOST = "127.0.0.2"
SCRIPT = (Path(__file__).resolve().parent / "cfg" / "indialog.cfg").read_text()
HARDENING = ('if (is_present_hf("Route") && !is_myself("$(hdr(Route)[0]{nameaddr.uri}{uri.host})")) '
             '{ sl_send_reply(403, "Route not ours"); exit; }')


@pytest.fixture(params=[("pysips", False), ("opensips", False), ("pysips", True), ("opensips", True)],
                ids=["pysips-seed", "opensips-seed", "pysips-hardened", "opensips-hardened"])
def proxy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, bool]]:
    kind, hardened = request.param
    with running(kind, SCRIPT, tmp_path, values={"HARDENING": HARDENING if hardened else ""},
                 header_params=False) as server:
        yield server.port, hardened


def forged_cases(me: str, trap: str) -> dict[str, str]:
    return {
        "foreign topmost Route": f"Route: <sip:{trap};lr>\r\n",
        "foreign strict Route": f"Route: <sip:{trap}>\r\n",
        "ours then foreign": f"Route: <sip:{me};lr>, <sip:{trap};lr>\r\n",
        "ours only, R-URI foreign": f"Route: <sip:{me};lr>\r\n",
    }


def send_and_watch(port: int, msg: bytes, trap: socket.socket,
                   timeout: float = 3.0) -> tuple[bool, int | None]:
    """Send `msg` to the proxy and watch both the reply and the trap: (relayed, final status).
    Returns as soon as one of them has spoken (plus a moment for the other), so a loaded machine
    only makes the test slower, never wrong."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.sendto(msg, ("127.0.0.1", port))
        relayed, status = False, None
        deadline = time.monotonic() + timeout
        settle: float | None = None
        while time.monotonic() < (settle or deadline):
            ready, _, _ = select.select([client, trap], [], [], 0.05)
            for sock in ready:
                data = sock.recv(65535)
                if sock is trap:
                    relayed = relayed or data.startswith(b"BYE sip:")
                else:
                    status = status or final_status([data])
            if (relayed or status) and settle is None:
                settle = time.monotonic() + 0.3
        return relayed, status


def test_forged_route_outcomes(proxy: tuple[int, bool]) -> None:
    port, hardened = proxy
    outcomes: dict[str, tuple[bool, int | None]] = {}
    for name in forged_cases("", ""):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trap:  # one trap per case
            trap.bind((TRAP_HOST, 0))
            where = f"{TRAP_HOST}:{trap.getsockname()[1]}"
            route = forged_cases(f"127.0.0.1:{port}", where)[name]
            msg = build_request("BYE", f"sip:bob@{where}", "UDP", from_uri="sip:mallory@foreign.example",
                                to_tag="forged1", extra=route)
            outcomes[name] = send_and_watch(port, msg, trap)
    if not hardened:
        # OpenSIPS 3.6.8 relays every one of these with the seed's logic; pysips does the same
        assert outcomes == dict.fromkeys(outcomes, (True, None)), outcomes
    else:
        assert outcomes == {
            "foreign topmost Route": (False, 403),
            "foreign strict Route": (False, 403),
            "ours then foreign": (True, None),
            "ours only, R-URI foreign": (True, None),
        }, outcomes
