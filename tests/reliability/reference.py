"""Run one script text in OpenSIPS 3.6.8 (the reference, built by scripts/setup) or in pysips,
on a UDP port of 127.0.0.1, for tests that compare the two."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.proxy_harness import free_port

REPO = Path(__file__).resolve().parents[2]
CFG_DIR = Path(__file__).resolve().parent / "cfg"
OPENSIPS_HOME = Path("/var/cache/pysips/opensips-3.6.8")
KINDS = ("pysips", "opensips")


def render(template: str, kind: str, port: int, **values: str) -> str:
    """@PORT@, @MPATH@ (OpenSIPS's module folder, empty for pysips) and @NAME@ for each value."""
    mpath = f'mpath="{OPENSIPS_HOME}/lib64/opensips/modules/"' if kind == "opensips" else ""
    text = (CFG_DIR / template).read_text().replace("@PORT@", str(port)).replace("@MPATH@", mpath)
    for name, value in values.items():
        text = text.replace(f"@{name.upper()}@", value)
    return text


def _wait_udp(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        with open(f"/proc/{proc.pid}/net/udp") as table:
            if f":{port:04X} " in table.read():
                time.sleep(0.3)  # bound (the table is the namespace's); let the workers start
                return
        time.sleep(0.1)
    raise AssertionError(log.read_text(errors="replace")[-3000:])


@contextmanager
def run_proxy(kind: str, template: str, workdir: Path, **values: str) -> Iterator[tuple[int, Path]]:
    """(port, log path) of a running `kind` with the rendered template; stopped on exit."""
    port = free_port()
    cfg = workdir / f"{kind}-{template}"
    cfg.write_text(render(template, kind, port, **values))
    log = workdir / f"{kind}-{template}.log"
    if kind == "opensips":
        binary = OPENSIPS_HOME / "sbin" / "opensips"
        if not binary.exists():
            pytest.fail(f"the reference OpenSIPS is not built at {binary}: run scripts/setup")
        argv = [str(binary), "-F", "-f", str(cfg), "-m", "64", "-M", "8"]
    else:
        argv = [sys.executable, "-m", "pysips", "-f", str(cfg)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_udp(port, proc, log)
        yield port, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
