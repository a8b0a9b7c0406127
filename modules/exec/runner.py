"""Running one external command for exec() without stalling the worker.

The command runs through /bin/sh -c as a child process of the event loop (asyncio subprocess);
the script that called exec() waits on it through pysips.core.suspend.wait, so only that message
waits while other traffic goes on. As in OpenSIPS: without stdin, stdout or stderr to handle the
command is started and exec() returns at once; otherwise it returns once both outputs reached
their end (the process may still run; it is reaped in the background). Each output keeps at most
31 KiB, OpenSIPS's buffer. time_to_kill sends SIGTERM to a command still running after that many
seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass

log = logging.getLogger("pysips.modules.exec")

OUTPUT_LIMIT = 31 * 1024  # OpenSIPS reads 1 KiB chunks into a 32 KiB buffer, the last one unused


@dataclass(frozen=True, slots=True)
class ExecResult:
    stdout: bytes
    stderr: bytes


class ExecRunner:
    """The commands this process started, kept until they end (so none is left a zombie)."""

    __slots__ = ("reapers", "time_to_kill")

    def __init__(self, time_to_kill: float) -> None:
        self.time_to_kill = time_to_kill
        self.reapers: set[asyncio.Task[None]] = set()

    async def run(self, command: str, stdin: bytes | None, want_out: bool, want_err: bool,
                  env: dict[str, str]) -> ExecResult:
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, env={**os.environ, **env},
            stdin=pipe if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=pipe if want_out else None, stderr=pipe if want_err else None)
        self._reap_later(proc)
        if stdin is not None and proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(stdin)
                await proc.stdin.drain()
            proc.stdin.close()
        out, err = await asyncio.gather(_read_all(proc.stdout), _read_all(proc.stderr))
        return ExecResult(out, err)

    def _reap_later(self, proc: asyncio.subprocess.Process) -> None:
        task = asyncio.ensure_future(self._reap(proc))
        self.reapers.add(task)
        task.add_done_callback(self.reapers.discard)

    async def _reap(self, proc: asyncio.subprocess.Process) -> None:
        if not self.time_to_kill:
            await proc.wait()
            return
        try:
            await asyncio.wait_for(proc.wait(), self.time_to_kill)
        except TimeoutError:
            log.info("exec: pid %d still running after %s s, sending SIGTERM", proc.pid,
                     self.time_to_kill)
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            await proc.wait()

    async def close(self) -> None:
        """On shutdown: waits a moment for the commands still running, then stops watching."""
        if self.reapers:
            await asyncio.wait(set(self.reapers), timeout=1.0)
        for task in list(self.reapers):
            task.cancel()


async def _read_all(stream: asyncio.StreamReader | None) -> bytes:
    if stream is None:
        return b""
    data = bytearray()
    while chunk := await stream.read(4096):
        if len(data) < OUTPUT_LIMIT:
            data += chunk
    if len(data) > OUTPUT_LIMIT:
        log.warning("exec: no more space in output buffer")
        del data[OUTPUT_LIMIT:]
    return bytes(data)
