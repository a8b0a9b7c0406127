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

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.clients import build_request, exchange, final_status
from tests.reliability.reference import run_proxy

pytestmark = pytest.mark.integration

TRAP_HOST = "127.0.0.2"
HARDENING = ('if (is_present_hf("Route") && !is_myself("$(hdr(Route)[0]{nameaddr.uri}{uri.host})")) '
             '{ sl_send_reply(403, "Route not ours"); exit; }')


@pytest.fixture(params=[("pysips", False), ("opensips", False), ("pysips", True), ("opensips", True)],
                ids=["pysips-seed", "opensips-seed", "pysips-hardened", "opensips-hardened"])
def proxy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, bool]]:
    kind, hardened = request.param
    with run_proxy(kind, "indialog.cfg", tmp_path, hardening=HARDENING if hardened else "") as (port, _):
        yield port, hardened


def forged_cases(me: str, trap: str) -> dict[str, str]:
    return {
        "foreign topmost Route": f"Route: <sip:{trap};lr>\r\n",
        "foreign strict Route": f"Route: <sip:{trap}>\r\n",
        "ours then foreign": f"Route: <sip:{me};lr>, <sip:{trap};lr>\r\n",
        "ours only, R-URI foreign": f"Route: <sip:{me};lr>\r\n",
    }


def test_forged_route_outcomes(proxy: tuple[int, bool]) -> None:
    port, hardened = proxy
    outcomes: dict[str, tuple[bool, int | None]] = {}
    for name in forged_cases("", ""):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trap:  # one trap per case
            trap.bind((TRAP_HOST, 0))
            trap.settimeout(0.4)
            where = f"{TRAP_HOST}:{trap.getsockname()[1]}"
            route = forged_cases(f"127.0.0.1:{port}", where)[name]
            msg = build_request("BYE", f"sip:bob@{where}", "UDP", from_uri="sip:mallory@foreign.example",
                                to_tag="forged1", extra=route)
            status = final_status(exchange("udp", port, msg, timeout=0.4))
            try:
                relayed = trap.recv(65535).startswith(b"BYE sip:")
            except TimeoutError:
                relayed = False
            outcomes[name] = (relayed, status)
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
