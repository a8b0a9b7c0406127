"""The example third-party module (examples/modules/options_ping), as a user gets it: pip-installs
the package from a temporary copy, then `pysips -f` loads it by `loadmodule "options_ping.so"`
through the `pysips.modules` entry point. The script pings a UDP UAS of the test and a dead
port; the MI (mi_datagram) shows the answers and the module's statistics."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy_harness import LOCALHOST, REPO_ROOT, Rig, free_port, mi_datagram, options_probe

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EXAMPLE = REPO_ROOT / "examples" / "modules" / "options_ping"

SCRIPT = """
socket=udp:127.0.0.1:{sip}
loadmodule "sl.so"
loadmodule "options_ping.so"
loadmodule "tm.so"
loadmodule "mi_datagram.so"
modparam("tm", "fr_timeout", 2)
modparam("options_ping", "from_uri", "sip:monitor@pysips.test")
modparam("mi_datagram", "socket_name", "udp:127.0.0.1:{mi}")
route {{
    if ($rm == "MESSAGE") {{
        if (options_ping("$hdr(X-Target)")) sl_send_reply(202, "Pinging");
        else sl_send_reply(500, "Not Sent");
        exit;
    }}
    sl_send_reply(200, "OK");
}}
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install` of the example from a temporary folder into a --target directory."""
    root = tmp_path_factory.mktemp("third-party")
    source = root / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "dist"))
    target = root / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    entry_points = next(target.glob("pysips_options_ping-*.dist-info")) / "entry_points.txt"
    assert "options_ping = pysips_options_ping" in entry_points.read_text()
    return target


class Uas:
    """Answers every OPTIONS with 200 and records them."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCALHOST, 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.received: list[str] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            text = data.decode()
            self.received.append(text)
            head = [line for line in text.split("\r\n\r\n")[0].split("\r\n")[1:]
                    if line.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
            head = [line + ";tag=uas" if line.lower().startswith("to:") else line for line in head]
            self.sock.sendto(("SIP/2.0 200 OK\r\n" + "\r\n".join(head) + "\r\nContent-Length: 0\r\n\r\n")
                             .encode(), addr)

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def uas() -> Iterator[Uas]:
    peer = Uas()
    yield peer
    peer.close()


def _request(port: int, target: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        sock.settimeout(5)
        local = sock.getsockname()[1]
        tag = uuid.uuid4().hex[:8]
        sock.sendto((f"MESSAGE sip:ping@{LOCALHOST}:{port} SIP/2.0\r\n"
                     f"Via: SIP/2.0/UDP {LOCALHOST}:{local};branch=z9hG4bK{tag};rport\r\n"
                     f"From: <sip:admin@{LOCALHOST}>;tag={tag}\r\nTo: <sip:ping@{LOCALHOST}>\r\n"
                     f"Call-ID: {tag}\r\nCSeq: 1 MESSAGE\r\nX-Target: {target}\r\n"
                     "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(), (LOCALHOST, port))
        return sock.recv(65535).decode().split("\r\n")[0]


def test_installed_module_loads_by_entry_point_pings_and_reports(installed: Path, uas: Uas,
                                                                 tmp_path: Path) -> None:
    sip, mi = free_port(), free_port()
    cfg = tmp_path / "ping.cfg"
    cfg.write_text(SCRIPT.format(sip=sip, mi=mi))
    env = {"PYTHONPATH": f"{installed}:{REPO_ROOT}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "pysips", "-f", str(cfg)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 15
        while options_probe(sip) is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
        alive = f"sip:gw@{LOCALHOST}:{uas.port}"
        dead = f"sip:gone@{LOCALHOST}:{free_port()}"
        assert _request(sip, alive) == "SIP/2.0 202 Pinging"
        assert _request(sip, dead) == "SIP/2.0 202 Pinging"
        assert _request(sip, "tel:+123") == "SIP/2.0 500 Not Sent"  # the fixup refuses it per call
        deadline = time.monotonic() + 10
        listed: object = []
        while time.monotonic() < deadline:
            listed = mi_datagram(mi, "options_ping_list")
            if isinstance(listed, list) and len(listed) == 2:
                break
            time.sleep(0.2)
        assert listed == [
            {"uri": dead, "code": 408, "reason": "Request Timeout", "local": True},
            {"uri": alive, "code": 200, "reason": "OK", "local": False},
        ]
        (options,) = uas.received
        assert options.startswith(f"OPTIONS {alive} SIP/2.0") and "sip:monitor@pysips.test" in options
        stats = mi_datagram(mi, "get_statistics", {"statistics": ["options_ping:"]})
        assert stats == {"options_ping:sent": 2, "options_ping:answered": 1, "options_ping:timeouts": 1}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    output = proc.communicate()[0]
    # destroy ran on SIGTERM
    assert "options_ping: 2 sent, 1 answered, 1 unanswered" in output, output


def test_without_tm_the_installed_module_does_not_load(installed: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "no-tm.cfg"
    cfg.write_text(f'socket=udp:127.0.0.1:{free_port()}\nloadmodule "options_ping.so"\nroute {{ exit; }}\n')
    env = {"PYTHONPATH": f"{installed}:{REPO_ROOT}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "pysips", "-f", str(cfg)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "module options_ping depends on module tm, but it was not loaded!" in done.stderr


# ---------------------------------------------------------------------------------------------
# the same module driven with the rig: pysips from a template, sipp as the pinged peer

RIG_TEMPLATE = """\
log_level=@@LOG_LEVEL@@
socket=udp:127.0.0.1:@@PROXY_PORT@@
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "options_ping.so"
route {
    if ($rm == "MESSAGE") {
        options_ping("sip:peer@127.0.0.1:@@UAS_PORT@@");
        sl_send_reply(202, "Pinging");
        exit;
    }
    sl_send_reply(200, "OK");
}
"""


def test_with_the_rig_a_sipp_peer_answers_the_ping(installed: Path, rig: Rig,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # the proxy process the rig starts inherits the environment: it finds the installed package
    monkeypatch.setenv("PYTHONPATH", f"{installed}:{REPO_ROOT}")
    template = rig.workdir / "options_ping.cfg.in"
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template.write_text(RIG_TEMPLATE)
    peer = rig.start_uas("uas_options.xml", rig.ports.uas)
    rig.start_pysips(template)
    assert _request(rig.ports.proxy, "sip:unused@127.0.0.1") == "SIP/2.0 202 Pinging"
    result = peer.wait(timeout=10)
    assert result.ok and result.successful == 1, rig.report(result)
