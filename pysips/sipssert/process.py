"""Local processes for tasks: one session each (so their children die with them), output to a log file.

Every process started here is registered until it is reaped; `kill_all()` ends whatever is left
(the command line calls it on exit and on SIGINT/SIGTERM)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

_LIVE: set[TaskProcess] = set()
_LIVE_LOCK = threading.Lock()


class TaskProcess:
    __slots__ = ("__weakref__", "_log", "argv", "log_path", "popen", "started_at")

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self._log = log_path.open("ab")
        self._log.write(f"$ {shlex.join(argv)}\n".encode())
        self._log.flush()
        self.started_at = time.monotonic()
        try:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError:
            self._log.close()
            raise
        with _LIVE_LOCK:
            _LIVE.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        code = self.popen.poll()
        if code is not None and not self._log.closed:
            self._signal_group(signal.SIGKILL)  # forked children of a leader that is gone
            self._reaped()
        return code

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, grace: float) -> int:
        """SIGTERM to the process group, SIGKILL after `grace` seconds; returns the exit code."""
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=max(grace, 0.1))
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait()
        # children that outlived the leader (forked workers) go too
        self._signal_group(signal.SIGKILL)
        self._reaped()
        return self.popen.returncode

    def _reaped(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if not self._log.closed:
            self._log.close()


def kill_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        proc.stop(0.5)


def log_tail(path: Path, lines: int = 15) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    text = data[-64 * 1024 :].decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()][-lines:]
