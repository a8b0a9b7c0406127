"""The server side of the end-to-end test: the rtpengine daemon, pysips running the residential
example (ports, sockets, certificate and FIFO paths rewritten, nothing else), and a static HTTP
server for the browser page.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pysips.script.loader import ModuleFinder
from tests.procs import stop_group

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "residential.cfg"
BROWSER_DIR = Path(__file__).resolve().parent / "browser"
HOST = "127.0.0.1"
# `--log-level=7` makes the daemon dump each request as JSON (SDP with raw newlines inside)
_DUMP = re.compile(r"Dump for '(offer|answer|delete)' from [^:]+:\d+: (\{.*?\})\n(?=\[|\Z)", re.S)


def _bencode() -> Any:
    """The rtpengine module's NG codec (modules load as `pysips_modules.*`)."""
    assert ModuleFinder().find("rtpengine") is not None
    return importlib.import_module("pysips_modules.rtpengine.bencode")


class RtpEngine:
    """The Debian daemon in userspace mode on 127.0.0.1 (flags measured in DESIGN.md)."""

    def __init__(self, workdir: Path, ng_port: int) -> None:
        binary = shutil.which("rtpengine")
        if binary is None:
            raise RuntimeError("rtpengine is not installed (apt: rtpengine-daemon --no-install-recommends)")
        self.ng_port = ng_port
        base = random.randrange(40000, 49000, 2)
        self.log_path = workdir / "rtpengine.log"
        self.proc = subprocess.Popen(
            [
                binary,
                "--config-file=none",
                "--table=-1",
                "--foreground",
                "--log-stderr",
                "--log-level=7",
                f"--interface={HOST}",
                f"--listen-ng={HOST}:{self.ng_port}",
                f"--port-min={base}",
                f"--port-max={base + 199}",
                "--delete-delay=0",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("wb"),
            start_new_session=True,
        )
        self._wait_ready()

    @property
    def sock(self) -> str:
        return f"udp:{HOST}:{self.ng_port}"

    def command(self, command: dict[str, Any]) -> dict[str, Any]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            # a fresh cookie each time: the daemon answers a repeated cookie from its cache
            cookie = f"e2e{random.randrange(1 << 40)}".encode()
            s.sendto(cookie + b" " + _bencode().encode(command), (HOST, self.ng_port))
            data = s.recv(65535)
        reply: dict[str, Any] = _bencode().decode(data.partition(b" ")[2])
        return reply

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rtpengine exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(OSError):
                if self.command({"command": "ping"}).get("result") == "pong":
                    return
            time.sleep(0.1)
        raise RuntimeError("rtpengine did not answer ping")

    def query(self, call_id: str) -> dict[str, Any]:
        return self.command({"command": "query", "call-id": call_id})

    def commands_for(self, call_id: str) -> list[dict[str, Any]]:
        """offer/answer/delete requests the daemon logged for a call (its debug dumps), SDP left out."""
        found: list[dict[str, Any]] = []
        for match in _DUMP.finditer(self.log_text()):
            with contextlib.suppress(ValueError):
                body = json.loads(match.group(2), strict=False)
                if body.get("call-id") == call_id:
                    body.pop("sdp", None)
                    found.append(body)
        return found

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_group(self.proc)


@dataclass(frozen=True)
class SipPorts:
    udp: int
    tls: int
    ws: int
    wss: int


def script_ports(source: Path) -> tuple[SipPorts, int]:
    """The SIP listener ports and the rtpengine NG port a script names.

    Inside its own network namespace the test can keep them; run_e2e's --port-shift moves them (a
    browser's `sip:127.0.0.1` is `myself` on any port pysips listens on, as in OpenSIPS 3.x).
    """
    text = source.read_text()
    found = {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^listen=(\w+):127\.0\.0\.1:(\d+)$", text, re.M)
    }
    ng = re.search(r'^modparam\("rtpengine", "rtpengine_sock", "udp:127\.0\.0\.1:(\d+)"\)$', text, re.M)
    if set(found) != {"udp", "tls", "ws", "wss"} or ng is None:
        raise RuntimeError(f"{source}: expected udp, tls, ws and wss listeners and one rtpengine_sock")
    return SipPorts(udp=found["udp"], tls=found["tls"], ws=found["ws"], wss=found["wss"]), int(ng.group(1))


def _literal(text: str, _match: re.Match[str]) -> str:
    return text


def render_config(
    source: Path, ports: SipPorts, rtpengine_sock: str, cert: Path, key: Path, fifo: Path
) -> str:
    """The example script with only its addresses and paths changed; each rewrite must apply."""
    text = source.read_text()
    rewrites = [
        (r"^listen=ws:127\.0\.0\.1:\d+$", f"listen=ws:{HOST}:{ports.ws}"),
        (r"^listen=wss:127\.0\.0\.1:\d+$", f"listen=wss:{HOST}:{ports.wss}"),
        (r"^listen=tls:127\.0\.0\.1:\d+$", f"listen=tls:{HOST}:{ports.tls}"),
        (r"^listen=udp:127\.0\.0\.1:\d+$", f"listen=udp:{HOST}:{ports.udp}"),
        (
            r'^modparam\("rtpengine", "rtpengine_sock", "[^"]*"\)$',
            f'modparam("rtpengine", "rtpengine_sock", "{rtpengine_sock}")',
        ),
        (
            r'^modparam\("tls_mgm", ?"certificate", ?"[^"]*"\)$',
            f'modparam("tls_mgm", "certificate", "{cert}")',
        ),
        (
            r'^modparam\("tls_mgm", ?"private_key", ?"[^"]*"\)$',
            f'modparam("tls_mgm", "private_key", "{key}")',
        ),
        (r'^modparam\("mi_fifo", "fifo_name", "[^"]*"\)$', f'modparam("mi_fifo", "fifo_name", "{fifo}")'),
    ]
    for pattern, replacement in rewrites:
        # a function, not a template: Windows-style paths must not be read as backreferences
        text, count = re.subn(pattern, functools.partial(_literal, replacement), text, flags=re.M)
        if count != 1:
            raise RuntimeError(f"{source}: expected one line matching {pattern!r}, found {count}")
    return text


class Pysips:
    """`pysips -E -f CFG`, the command users run (-E: the example logs to syslog, the test to a file)."""

    def __init__(self, cfg: Path, log_path: Path, log_level: int | None = None) -> None:
        self.log_path = log_path
        argv = [sys.executable, "-m", "pysips", "-E", "-f", str(cfg)]
        if log_level is not None:
            argv += ["--log-level", str(log_level)]
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_listening(self, tcp_ports: list[int], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(tcp_ports)
        while pending:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pysips exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"pysips did not listen on {pending}: {self.log_tail()}")
            try:
                socket.create_connection((HOST, pending[0]), timeout=0.2).close()
                pending.pop(0)
            except OSError:
                time.sleep(0.1)

    def log_tail(self, size: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-size:]

    def stop(self) -> None:
        stop_group(self.proc)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class PageServer:
    """Serves the page and the JsSIP bundle on http://127.0.0.1:PORT/ (a secure context)."""

    def __init__(self) -> None:
        handler = functools.partial(_QuietHandler, directory=str(BROWSER_DIR))
        self.httpd = ThreadingHTTPServer((HOST, 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/page.html"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
