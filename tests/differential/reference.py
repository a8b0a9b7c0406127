"""Run one script on the reference OpenSIPS 3.6 and on pysips, side by side, each on its own ports.

The differential tests (tests/differential/) send the same traffic to both servers and compare what
a user can observe: the xlog lines, the replies, what the next hop receives. This module starts and
stops the two servers and collects their logs; `dialect.py` rewrites the OpenSIPS copy of a script
that uses a 1.x/2.x spelling.

    with start_pair(script, tmp_path) as (opensips, pysips):   # script: text with @@PORT@@ ...
        logs = exchange([opensips, pysips], messages, done="DONE")

A script is a template: `@@NAME@@` placeholders are filled from `values` plus, for each server,
`PORT` (its UDP/TCP port), `MPATH` (OpenSIPS's module folder, or pysips's bundled modules) and
`SERVER` (`opensips` or `pysips`). With `header=True` (the default) the rig puts the global
parameters in front: logging to stderr, one worker, `socket=udp:127.0.0.1:PORT` and the mpath, so a
language script is just routes. The OpenSIPS binary comes from `$PYSIPS_OPENSIPS` or the cache
folder `scripts/setup` builds it into; when it is missing the test fails and says to run setup.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.differential.dialect import to_opensips_3
from tests.integration.proxy_harness import free_port
from tests.procs import log_tail, spawn, stop_group

LOCALHOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PREFIX = Path("/var/cache/pysips/opensips-3.6.8")
# Memory for the reference (MB): enough for the tests, small beside the other processes.
OPENSIPS_SHM_MB = 64
OPENSIPS_PKG_MB = 8


class ReferenceMissing(RuntimeError):
    """The OpenSIPS binary is not where setup puts it."""


def opensips_binary() -> Path:
    """The reference OpenSIPS: $PYSIPS_OPENSIPS (a binary) or PREFIX/sbin/opensips of the cache."""
    configured = os.environ.get("PYSIPS_OPENSIPS")
    binary = Path(configured) if configured else DEFAULT_PREFIX / "sbin" / "opensips"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise ReferenceMissing(
            f"reference OpenSIPS not found at {binary}: run scripts/setup (it builds OpenSIPS 3.6.8 "
            f"into {DEFAULT_PREFIX}), or point PYSIPS_OPENSIPS at an opensips binary"
        )
    return binary


def require_opensips() -> Path:
    """opensips_binary() for a test: a missing reference fails the test (never a skip)."""
    try:
        return opensips_binary()
    except ReferenceMissing as exc:
        pytest.fail(str(exc), pytrace=False)


def opensips_modules_dir(binary: Path | None = None) -> Path:
    """The module folder of the build that `binary` belongs to (PREFIX/lib64/opensips/modules/)."""
    prefix = (binary or opensips_binary()).resolve().parent.parent
    for lib in ("lib64", "lib"):
        candidate = prefix / lib / "opensips" / "modules"
        if candidate.is_dir():
            return candidate
    raise ReferenceMissing(f"no lib64/opensips/modules/ under {prefix}: rebuild with scripts/setup")


# ---------------------------------------------------------------------------------------------
# scripts


_PLACEHOLDER = re.compile(r"@@([A-Z][A-Z0-9_]*)@@")


def fill(template: str, values: Mapping[str, object]) -> str:
    """Replace every @@NAME@@ by values[NAME]; an unfilled placeholder is an error."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"placeholder @@{name}@@ has no value (given: {sorted(values)})")
        return str(values[name])

    return _PLACEHOLDER.sub(one, template)


def header(port: int, mpath: Path | None, log_level: int = 3) -> str:
    """Global parameters every differential script starts with, in the 3.x spelling both accept."""
    lines = [
        f"log_level={log_level}",
        "stderror_enabled=yes",
        "syslog_enabled=no",
        "udp_workers=1",
        "tcp_workers=1",
        f"socket=udp:{LOCALHOST}:{port}",
    ]
    # one line either way, so that both copies of a script have the same line numbers
    lines.append(f'mpath="{mpath}/"' if mpath is not None else "# mpath: pysips's bundled modules")
    lines.append('loadmodule "proto_udp.so"')  # built into the 3.6 core, loaded by this name
    return "\n".join(lines) + "\n\n"


# ---------------------------------------------------------------------------------------------
# processes


def _udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((LOCALHOST, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _tcp_listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((LOCALHOST, port)) == 0


# A log line's prefix: "Dec  7 02:33:12 [1234] " (both servers log this way on stderr).
_LOG_PREFIX = re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \[\d+\] ")


def _records(text: str) -> list[str]:
    """Log records without their prefix. A value printed with a line break (a folded header, a
    body) continues on lines without a prefix: they belong to the record before them."""
    records: list[str] = []
    for line in text.removesuffix("\n").split("\n"):
        if _LOG_PREFIX.match(line) or not records:
            records.append(_LOG_PREFIX.sub("", line))
        else:
            records[-1] += "\n" + line
    return records


@dataclass(slots=True)
class Server:
    """One server process (OpenSIPS or pysips) running one script, logging to `log_path`."""

    name: str
    argv: list[str]
    script_path: Path
    port: int
    log_path: Path
    workdir: Path
    ready_ports: Sequence[tuple[str, int]] = ()
    env: Mapping[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    _read_offset: int = field(default=0)

    def start(self, ready_timeout: float = 15.0) -> None:
        """Start the process; ready once every (proto, port) of `ready_ports` is bound/listening."""
        self.proc = spawn(self.argv, self.workdir, self.log_path, self.env)
        wanted = list(self.ready_ports) or [("udp", self.port)]
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} while starting "
                                   f"{self.script_path}\n{self.tail()}")
            if all(_udp_bound(p) if proto == "udp" else _tcp_listening(p) for proto, p in wanted):
                # OpenSIPS binds before it forks its workers; a datagram waits in the socket
                # buffer meanwhile, but a start-up failure after binding shows up here.
                time.sleep(0.2)
                if self.proc.poll() is None:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {wanted} within {ready_timeout}s\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def log_messages(self) -> list[str]:
        """Every log record with its timestamp/pid prefix removed (see `_records`)."""
        return _records(self.log_text())

    def new_messages(self) -> list[str]:
        """The log records written since the last call (prefix removed)."""
        data = self.log_path.read_bytes()
        end = data.rfind(b"\n") + 1  # a half-written line waits for the next call
        chunk = data[self._read_offset:end].decode("utf-8", "replace")
        self._read_offset = max(self._read_offset, end)
        return _records(chunk)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 5.0) -> list[str]:
        """Read new log lines until one matches `pattern`; return them all (the match last).

        Raises TimeoutError (with the log tail) when no line matches in time."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            for line in self.new_messages():
                seen.append(line)
                if regex.search(line):
                    return seen
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: no log line matching {regex.pattern!r} within "
                                   f"{timeout}s\n{self.tail()}")
            if not self.alive():
                raise RuntimeError(f"{self.name} exited\n{self.tail()}")
            time.sleep(0.02)

    def tail(self, limit: int = 6000) -> str:
        return log_tail(self.log_path, limit)


def opensips_argv(binary: Path, script_path: Path, workdir: Path) -> list[str]:
    """OpenSIPS in the foreground (-F), its pid file in the test's folder, small memory pools."""
    return [str(binary), "-F", "-f", str(script_path), "-m", str(OPENSIPS_SHM_MB), "-M", str(OPENSIPS_PKG_MB),
            "-P", str(workdir / "opensips.pid"), "-w", str(workdir)]


def pysips_argv(script_path: Path) -> list[str]:
    """pysips from this checkout (see `_checkout_env`), logging to stderr."""
    return [sys.executable, "-m", "pysips.cli", "-F", "-f", str(script_path)]


def _checkout_env() -> dict[str, str]:
    """The environment for pysips: this checkout first on the import path, whatever checkout an
    editable install points at."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def check_opensips_script(script: str, workdir: Path) -> tuple[int, str]:
    """`opensips -C` on a script (already filled and rewritten): exit code and output."""
    binary = require_opensips()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "opensips-check.cfg"
    path.write_text(script)
    done = subprocess.run([str(binary), "-C", "-f", str(path)], capture_output=True, text=True,
                          timeout=60, cwd=workdir, check=False)
    return done.returncode, done.stdout + done.stderr


def start_opensips(template: str, workdir: Path, *, port: int | None = None,
                   values: Mapping[str, object] | None = None, header_params: bool = True,
                   log_level: int = 3, ready_ports: Sequence[tuple[str, int]] = (),
                   rewrite: bool = True) -> Server:
    """Start the reference OpenSIPS on `template` (rewritten to 3.x spellings unless rewrite=False)."""
    binary = require_opensips()
    mpath = opensips_modules_dir(binary)
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    text = fill(template, {**(values or {}), "PORT": port, "MPATH": f"{mpath}/", "SERVER": "opensips"})
    if rewrite:
        text = to_opensips_3(text)
    if header_params:
        text = header(port, mpath, log_level) + text
    script_path = workdir / "opensips.cfg"
    script_path.write_text(text)
    server = Server("opensips", opensips_argv(binary, script_path, workdir), script_path, port,
                    workdir / "opensips.log", workdir, ready_ports)
    server.start()
    return server


def start_pysips(template: str, workdir: Path, *, port: int | None = None,
                 values: Mapping[str, object] | None = None, header_params: bool = True,
                 log_level: int = 3, ready_ports: Sequence[tuple[str, int]] = ()) -> Server:
    """Start pysips (this checkout) on `template`, unchanged apart from the placeholders."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    bundled = REPO_ROOT / "modules"
    text = fill(template, {**(values or {}), "PORT": port, "MPATH": f"{bundled}/", "SERVER": "pysips"})
    if header_params:
        text = header(port, None, log_level) + text
    script_path = workdir / "pysips.cfg"
    script_path.write_text(text)
    server = Server("pysips", pysips_argv(script_path), script_path, port, workdir / "pysips.log",
                    workdir, ready_ports, _checkout_env())
    server.start()
    return server


SERVER_NAMES = ("pysips", "opensips")


def start_server(name: str, template: str, workdir: Path, **options: Any) -> Server:
    """start_pysips or start_opensips by server name (for tests parametrized over both); the
    OpenSIPS copy is not rewritten (a script written for both is already in 3.x spelling)."""
    if name == "opensips":
        return start_opensips(template, workdir, rewrite=False, **options)
    if name == "pysips":
        return start_pysips(template, workdir, **options)
    raise ValueError(f"unknown server {name!r} (one of {SERVER_NAMES})")


@contextlib.contextmanager
def running(name: str, template: str, workdir: Path, **options: Any) -> Iterator[Server]:
    """start_server as a context: the server is stopped on exit."""
    server = start_server(name, template, workdir, **options)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def start_pair(template: str, workdir: Path, *, values: Mapping[str, object] | None = None,
               header_params: bool = True, log_level: int = 3) -> Iterator[tuple[Server, Server]]:
    """Both servers on the same script, each on its own free port; both stopped on exit."""
    opensips = start_opensips(template, workdir / "opensips", values=values,
                              header_params=header_params, log_level=log_level)
    try:
        pysips = start_pysips(template, workdir / "pysips", values=values,
                              header_params=header_params, log_level=log_level)
    except BaseException:
        opensips.stop()
        raise
    try:
        yield opensips, pysips
    finally:
        pysips.stop()
        opensips.stop()


# ---------------------------------------------------------------------------------------------
# traffic


def send_udp(port: int, data: bytes, *, source: socket.socket | None = None) -> None:
    """Send one datagram to 127.0.0.1:port (from `source` when given, so replies can be read)."""
    if source is not None:
        source.sendto(data, (LOCALHOST, port))
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        sock.sendto(data, (LOCALHOST, port))


def exchange(servers: Sequence[Server], messages: Sequence[bytes], *, done: str,
             timeout: float = 5.0, timeouts: Sequence[Mapping[str, float]] | None = None,
             ) -> dict[str, list[list[str]]]:
    """Send each message to every server in turn and collect the log records it caused.

    All datagrams leave from one socket, so `$si`/`$sp` read the same on both servers. The script
    must log a record containing `done` when it has finished with a message; the records up to it
    are that message's. Returns, per server name, one list of records per message. A message a
    server never finishes (dropped as unparsable, say) gets ["(no <done> line)"] after `timeout`
    (or `timeouts[i][server name]` for message i: short where that server is known to drop it).
    """
    marker = re.compile(re.escape(done))
    collected: dict[str, list[list[str]]] = {server.name: [] for server in servers}
    for server in servers:
        server.new_messages()  # start-up lines are not the first message's
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source:
        source.bind((LOCALHOST, 0))
        for i, data in enumerate(messages):
            for server in servers:
                send_udp(server.port, data, source=source)
            for server in servers:
                try:
                    wait = timeout if timeouts is None else timeouts[i].get(server.name, timeout)
                    lines = server.wait_for(marker, wait)
                except TimeoutError:
                    lines = [f"(no {done} line)"]
                collected[server.name].append(lines)
    return collected
