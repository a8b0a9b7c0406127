"""error_route with `pysips -f`: a REGISTER whose Contact does not parse, over a raw UDP socket."""

from __future__ import annotations

import os
import socket

import pytest

from tests.integration.proxy_harness import LOCALHOST, REPO_ROOT, Rig

pytestmark = pytest.mark.integration

CFG = """
listen=udp:127.0.0.1:@@PROXY_PORT@@
loadmodule "sl.so"
loadmodule "sipmsgops.so"
loadmodule "signaling.so"
loadmodule "usrloc.so"
modparam("usrloc", "db_mode", 0)
loadmodule "registrar.so"

error_route {
    xlog("L_ERR", "error_route: class=$err.class info=$err.info\\n");
    sl_send_reply($err.rcode, "$err.rreason ($err.info)");
    exit;
}

route {
    if (is_method("REGISTER")) {
        save("location");
        sl_send_reply(299, "main route went on");
        exit;
    }
    sl_send_reply(200, "OK");
}
"""


def _register(local_port: int, proxy_port: int, contact: str) -> bytes:
    return (
        f"REGISTER sip:{LOCALHOST}:{proxy_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{local_port};branch=z9hG4bKerr1;rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:alice@{LOCALHOST}>;tag=e1\r\n"
        f"To: <sip:alice@{LOCALHOST}>\r\n"
        "Call-ID: error-route-1\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: {contact}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _replies(sock: socket.socket, want: int) -> list[str]:
    lines: list[str] = []
    sock.settimeout(3.0)
    while len(lines) < want:
        data = sock.recv(65535)
        lines.append(data.split(b"\r\n", 1)[0].decode())
    sock.settimeout(0.3)
    try:
        extra = sock.recv(65535)
        lines.append(extra.split(b"\r\n", 1)[0].decode())
    except TimeoutError:
        pass
    return lines


def test_bad_contact_runs_error_route_and_its_exit_ends_the_script(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT))
    proxy = rig.start_pysips_script(CFG.replace("@@PROXY_PORT@@", str(rig.ports.proxy)), "error_route.cfg")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        port = sock.getsockname()[1]
        proxy_at = (LOCALHOST, rig.ports.proxy)
        sock.sendto(_register(port, rig.ports.proxy, f"<sip:alice@{LOCALHOST}:{port}"), proxy_at)
        lines = _replies(sock, 2)
        # save()'s own answer, then the error_route's; its exit keeps the 299 from going out
        assert lines == [
            "SIP/2.0 400 Bad Request",
            "SIP/2.0 400 bad headers (error parsing CONTACT headers)",
        ], proxy.log()
        sock.sendto(_register(port, rig.ports.proxy, f"<sip:alice@{LOCALHOST}:{port}>"), proxy_at)
        assert _replies(sock, 2) == ["SIP/2.0 200 OK", "SIP/2.0 299 main route went on"], proxy.log()
    assert "error_route: class=1 info=error parsing CONTACT headers" in proxy.log()


def test_unparsable_from_runs_error_route_instead_of_the_automatic_400(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT))
    proxy = rig.start_pysips_script(CFG.replace("@@PROXY_PORT@@", str(rig.ports.proxy)), "error_route.cfg")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        port = sock.getsockname()[1]
        options = (
            f"OPTIONS sip:{LOCALHOST}:{rig.ports.proxy} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCALHOST}:{port};branch=z9hG4bKerr2;rport\r\n"
            "Max-Forwards: 70\r\n"
            'From: "unclosed <sip:alice@example.com>;tag=e2\r\n'
            f"To: <sip:bob@{LOCALHOST}>\r\n"
            "Call-ID: error-route-2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        sock.sendto(options, (LOCALHOST, rig.ports.proxy))
        lines = _replies(sock, 1)
    # the script's error_route answered (its reason carries $err.info), not the engine's automatic 400
    assert len(lines) == 1 and lines[0].startswith("SIP/2.0 400 bad headers ("), (lines, proxy.log())
    assert "error_route: class=1" in proxy.log()
