"""Processes the test rigs start: each in its own session, so that stopping it stops everything it
forked (OpenSIPS and Kamailio workers), and each remembered until stopped, so that an interpreter
exit cannot leave one behind. Used by the sipp rig (tests/integration/proxy_harness.py) and the
differential rig (tests/differential/reference.py)."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# Every process started by `spawn` and not yet stopped by `stop_group`.
_live: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _stop_all_left() -> None:
    for proc in list(_live):
        stop_group(proc, grace=1.0)


def spawn(argv: Sequence[str], cwd: Path, out_path: Path,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session, stdout and stderr to `out_path`, no stdin."""
    with out_path.open("wb") as out:
        proc = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env=None if env is None else dict(env))
    _live.add(proc)
    return proc


def stop_group(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """SIGTERM the process group, SIGKILL what is left after `grace` seconds."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # workers may outlive a leader that already exited
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _live.discard(proc)


def log_tail(path: Path, limit: int = 6000) -> str:
    """The last `limit` bytes of a log, headed by its path, for an assertion message."""
    try:
        data = path.read_bytes()
    except OSError:
        return f"({path}: no such file)"
    text = data[-limit:].decode("utf-8", "replace")
    return f"--- {path} (last {min(limit, len(data))} of {len(data)} bytes) ---\n{text}"
