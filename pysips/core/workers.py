"""Worker processes with Call-ID affinity: the main process's side (docs/workers.md).

The main process loads the script, initialises every module (it owns the shared state: usrloc's
persistent copy, the MI servers), binds every listener, then starts `udp_workers` worker
processes (pysips.core.worker_process), each with the UDP sockets and one end of a socketpair.
It reads every datagram and stream message, finds its Call-ID without parsing
(pysips.core.callid_scan) and hands it to worker hash(Call-ID) % N, so a transaction's and a
dialog's messages are all handled, in order, by one worker. Workers send UDP themselves, on the
inherited sockets; stream data (TCP, TLS, WS, WSS) goes back through the main process, which owns
the connections, so any worker reaches a browser's WebSocket.

A worker that dies is logged and replaced (the messages hashed to it wait in its new channel);
SIGTERM stops the workers (each runs its modules' destroy) and then the main process's modules'
destroy runs once (usrloc's write-back flush).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pysips.core.api import Destination, Socket
from pysips.core.callid_scan import call_id_of
from pysips.core.engine import Engine
from pysips.core.ipc import STATS_REQUEST, Channel, call_blocking
from pysips.core.services import TLS_DOMAINS
from pysips.core.shared_state import MainSharedState
from pysips.mi.merge import merge_responses
from pysips.sip.receive import ReceiveInfo
from pysips.transport.stream_listeners import existing_streams
from pysips.transport.tls_vars import session_facts

if TYPE_CHECKING:
    from pysips.core.server import PreparedScript

log = logging.getLogger("pysips.core.workers")

SPEC_ENV = "PYSIPS_WORKER_SPEC"  # how a worker process learns its index, sockets and options
STOP_GRACE_S = 5.0  # how long workers get to run their destroy before they are killed
RESPAWN_DELAY_S = 0.2  # between a worker's death and its replacement
RESPAWN_MAX_DELAY_S = 30.0  # a worker that keeps dying before it is ready: at most this often
STATS_INTERVAL_S = 0.5  # how often workers report their statistics (MI sums them)
MI_TIMEOUT_S = 2.0  # how long the main process waits for one worker's MI answer
READY_TIMEOUT_S = 60.0  # how long the main process waits for the first workers to load the script
_MIN_MESSAGE = 16  # shorter: keepalives (CRLF, "jaK") or noise, as the engine ignores them


MAIN_PROCESS = -1  # reply_owner(): the reply is for a request the main process sent
_MARKED = b"branch=z9hG4bKw"


def branch_mark(index: int) -> str:
    """What a process puts at the start of its branches (pysips.sip.branch.set_branch_mark):
    `w<index>x` for a worker, `wmx` for the main process. Our other branches are hex digests or
    tm's ids, which never start with `w<digits>x`."""
    return "wmx" if index == MAIN_PROCESS else f"w{index}x"


def reply_owner(data: bytes) -> int | None:
    """The process whose mark the first branch (the top Via's) carries, or None."""
    at = data.find(b"branch=")
    if at < 0 or not data.startswith(_MARKED, at):
        return None
    start = at + len(_MARKED)
    end = data.find(b"x", start, start + 6)
    if end < 0:
        return None
    mark = data[start:end]
    if mark == b"m":
        return MAIN_PROCESS
    return int(mark) if mark.isdigit() else None


def worker_for(data: bytes, rcv: ReceiveInfo, count: int) -> int:
    """The worker index of a message: by Call-ID, else by source address."""
    key = call_id_of(data)
    if key is None:
        key = f"{rcv.src_ip}:{rcv.src_port}".encode()
    # the main process alone hashes, for its whole life: Python's (seeded) hash mixes sipp's
    # sequential Call-IDs well, where crc32's low bits repeat
    return hash(key) % count


@dataclass
class _Worker:
    index: int
    channel: Channel | None = None
    pid: int = 0
    proc: subprocess.Popen[bytes] | None = None  # a replacement's (started by exec)
    stats: dict[str, float] = field(default_factory=dict)
    ready: bool = False
    mi: socket.socket | None = None  # the main process's end of the worker's MI socketpair
    early_deaths: int = 0  # deaths before ready in a row: the restart delay doubles with each
    drained: bool = False  # told to drain, and done: nothing of its own in flight


class Supervisor:
    """Starts, feeds, replaces and stops the workers of one server."""

    def __init__(self, engine: Engine, count: int, spec: dict[str, Any],
                 udp_sockets: list[tuple[Socket, socket.socket]], shared: MainSharedState) -> None:
        self.engine = engine
        self.count = count
        self.loop = asyncio.get_running_loop()
        self.spec = spec
        self.udp_sockets = udp_sockets
        self.shared = shared
        self.workers = [_Worker(i) for i in range(count)]
        self.stopping = False
        self.shared_groups: set[str] = set()
        self._sockets = {(s.proto, s.ip, s.port): s for s in engine.sockets}
        self._all_ready = asyncio.Event()
        self._mi_req = 0
        self._tls: dict[int, tuple[Any, ...]] = {}  # conn_id -> its TLS session's facts

    def install(self) -> None:
        """Once the workers are forked (they must not inherit these): the main process's hooks."""
        self.shared.broadcast = self.broadcast
        self.engine.hooks.connection_closed.append(self._connection_closed)
        own = self.engine.reloader

        def reload_everywhere() -> bool:
            # MI reload_routes: the script is checked here, then every worker reloads it too
            if own is None or not own():
                return False
            self.broadcast(("reload",), -1)
            return True

        self.engine.reloader = reload_everywhere

    # ------------------------------------------------------------------ processes

    def _worker_spec(self, worker: _Worker, ipc_fd: int, mi_fd: int) -> dict[str, Any]:
        return dict(self.spec, index=worker.index, ipc_fd=ipc_fd, mi_fd=mi_fd,
                    udp=[[s.proto, s.ip, s.port, os_sock.fileno()] for s, os_sock in self.udp_sockets])

    def fork_all(self, prepared: PreparedScript) -> None:
        """The first workers, forked before the modules start: they inherit the imported code
        (a worker is ready in a fraction of a second instead of a fresh interpreter's seconds)
        and nothing a module opened."""
        for worker in self.workers:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            mi_ours, mi_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            spec = self._worker_spec(worker, theirs.fileno(), mi_theirs.fileno())
            # what the child must not keep: the main process's ends of every channel
            parent_ends = [ours.fileno(), mi_ours.fileno()]
            parent_ends += [w.channel.fileno for w in self.workers if w.channel is not None]
            parent_ends += [w.mi.fileno() for w in self.workers if w.mi is not None]
            pid = os.fork()
            if pid == 0:
                from pysips.core.worker_process import run_forked

                run_forked(spec, parent_ends, prepared)  # never returns
            theirs.close()
            mi_theirs.close()
            worker.mi = mi_ours
            self._attach(worker, ours, pid)

    async def wait_ready(self, timeout: float) -> bool:
        """Until every worker has loaded the script and started its modules (the main process
        reads no message before: a message queued for a worker still loading would wait)."""
        try:
            await asyncio.wait_for(self._all_ready.wait(), timeout)
        except TimeoutError:
            late = [w.index for w in self.workers if not w.ready]
            log.error("workers %s not ready after %gs: serving anyway", late, timeout)
            return False
        return True

    def _attach(self, worker: _Worker, ours: socket.socket, pid: int) -> None:
        worker.pid = pid
        worker.ready = False
        worker.stats = {}
        worker.channel = Channel(ours, self.loop, functools.partial(self._from_worker, worker),
                                 functools.partial(self._lost, worker))
        log.log(25, "worker %d started (pid %d)", worker.index, pid)

    def send_snapshots(self) -> None:
        """The shared tables as the main process's modules made them, before any message."""
        snapshot = self.shared.snapshot()
        for worker in self.workers:
            if worker.channel is not None:
                for message in snapshot:
                    worker.channel.send(message)

    def _exec(self, worker: _Worker) -> None:
        """A replacement: a fresh interpreter (the main process's modules run now, with their
        connections and threads; a fork would share them), with the sockets and its channel."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        mi_ours, mi_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spec = self._worker_spec(worker, theirs.fileno(), mi_theirs.fileno())
        env = dict(os.environ, **{SPEC_ENV: json.dumps(spec)})
        fds = [theirs.fileno(), mi_theirs.fileno()] + [os_sock.fileno() for _, os_sock in self.udp_sockets]
        worker.proc = subprocess.Popen([sys.executable, "-m", "pysips.core.worker_process"], env=env,
                                       pass_fds=fds)
        theirs.close()
        mi_theirs.close()
        if worker.mi is not None:
            worker.mi.close()
        worker.mi = mi_ours
        self._attach(worker, ours, worker.proc.pid)
        assert worker.channel is not None
        for message in self.shared.snapshot():
            worker.channel.send(message)

    def _exited(self, worker: _Worker) -> int | None:
        """The worker's exit code once it ended (negative: killed by that signal), else None."""
        if worker.proc is not None:
            return worker.proc.poll()
        try:
            pid, status = os.waitpid(worker.pid, os.WNOHANG)
        except ChildProcessError:
            return -1
        return os.waitstatus_to_exitcode(status) if pid else None

    def _lost(self, worker: _Worker) -> None:
        if self.stopping:
            return
        self._reap(worker, 0)

    def _reap(self, worker: _Worker, tries: int) -> None:
        status = self._exited(worker)
        if status is None and tries < 100:
            # the channel closed first; the process is about to end
            self.loop.call_later(0.05, self._reap, worker, tries + 1)
            return
        how = f"killed by signal {-status}" if status is not None and status < 0 else f"exit status {status}"
        log.error("worker %d (pid %d) died (%s): starting a new one", worker.index, worker.pid, how)
        self.shared.process_gone(worker.pid)
        worker.early_deaths = 0 if worker.ready else worker.early_deaths + 1
        worker.channel = None
        worker.proc = None
        delay = min(RESPAWN_DELAY_S * 2 ** worker.early_deaths, RESPAWN_MAX_DELAY_S)
        self.loop.call_later(delay, self._respawn, worker)

    def _respawn(self, worker: _Worker) -> None:
        if not self.stopping:
            self._exec(worker)

    async def drain(self, grace: float, hurry: asyncio.Event) -> None:
        """SIGTERM's grace period (pysips.core.drain) in every worker at once: each answers new
        requests 503 and serves what it has in flight, then says it is drained. Until all have
        (or `grace` is over, or a second signal), this process goes on handing them messages."""
        live = [w for w in self.workers if w.channel is not None]
        if grace <= 0 or not live:
            return
        for worker in live:
            worker.drained = False
            assert worker.channel is not None
            worker.channel.send(("drain", grace))
        deadline = self.loop.time() + grace + 0.5  # a worker ends its own drain at `grace`
        while not all(w.drained or w.channel is None for w in live):
            if hurry.is_set():
                self.broadcast(("hurry",), -1)
                return
            if self.loop.time() >= deadline:
                log.warning("workers %s still draining after %gs", [w.index for w in live if not w.drained],
                            grace)
                return
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Every worker runs its destroy and exits; those that do not in time are killed."""
        self.stopping = True
        for worker in self.workers:
            if worker.channel is not None:
                worker.channel.send(("stop",))
        deadline = self.loop.time() + STOP_GRACE_S
        for worker in self.workers:
            if not worker.pid:
                continue
            while self._exited(worker) is None and self.loop.time() < deadline:
                await asyncio.sleep(0.02)
            if self._exited(worker) is None:
                log.error("worker %d (pid %d) did not stop in time: killed", worker.index, worker.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
                await asyncio.sleep(0.05)
                self._exited(worker)
            if worker.channel is not None:
                worker.channel.close()
            if worker.mi is not None:
                worker.mi.close()
                worker.mi = None

    # ------------------------------------------------------------------ messages in

    def dispatch(self, data: bytes, rcv: ReceiveInfo) -> None:
        """What the transports call instead of Engine.receive: the message goes to its worker."""
        if len(data) < _MIN_MESSAGE:
            return
        index: int | None = None
        if data.startswith(b"SIP/2.0 "):
            # a reply goes to the process that sent the request: tm's transaction, or a ping
            # or a UAC request with a Call-ID of its own making
            index = reply_owner(data)
            if index == MAIN_PROCESS:
                self.engine.receive(data, rcv)
                return
        if index is None or not 0 <= index < self.count:
            index = worker_for(data, rcv, self.count)
        worker = self.workers[index]
        channel = worker.channel
        if channel is None:
            log.warning("worker %d is restarting: message from %s:%d dropped", worker.index, rcv.src_ip,
                        rcv.src_port)
            return
        tls = self._tls_facts(rcv.conn_id) if rcv.proto in ("tls", "wss") else None
        channel.send(("m", data, rcv.proto, rcv.local_ip, rcv.local_port, rcv.src_ip, rcv.src_port,
                      rcv.conn_id, tls))

    def _tls_facts(self, conn_id: int) -> tuple[Any, ...] | None:
        """The TLS session of a connection, for the worker's `$tls_*` (once per connection)."""
        found = self._tls.get(conn_id)
        if found is not None:
            return found
        streams = existing_streams(self.engine)
        conn = streams.table.by_id(conn_id) if streams is not None else None
        obj = getattr(conn, "ssl_object", None)
        if obj is None:
            return None
        facts = session_facts(obj, self.engine.process.services.get(TLS_DOMAINS))
        self._tls[conn_id] = facts
        return facts

    def broadcast(self, message: Any, skip: int) -> None:
        for worker in self.workers:
            if worker.index != skip and worker.channel is not None:
                worker.channel.send(message)

    def _connection_closed(self, conn_id: int) -> None:
        self._tls.pop(conn_id, None)
        self.broadcast(("closed", conn_id), -1)

    # ------------------------------------------------------------------ what workers ask

    def _from_worker(self, worker: _Worker, obj: Any) -> None:
        kind = obj[0]
        if kind == "s":
            # stream data: ("s", proto, ip, port, data, dst proto, dst ip, dst port, conn id, req)
            _, proto, ip, port, data, dproto, dip, dport, conn_id, req = obj
            sock = self._sockets.get((proto, ip, port))
            if sock is None:
                log.error("worker %d sends from an unknown socket %s:%s:%d", worker.index, proto, ip, port)
                ok = False
            else:
                ok = self.engine.send(data, Destination(dproto, dip, dport, conn_id), sock)
            if req and worker.channel is not None:
                worker.channel.send(("re", req, ok))
        elif kind == "pub":
            _, name, change, req = obj
            # after what from_worker() queued to this worker: it applies that first
            answer = self.shared.from_worker(worker.index, name, change)
            if req and worker.channel is not None:
                worker.channel.send(("re", req, answer))
        elif kind == "stats":
            worker.stats = obj[1]
        elif kind == "ready":
            worker.ready = True
            log.info("worker %d (pid %d) ready", worker.index, worker.pid)
            if all(w.ready for w in self.workers):
                self._all_ready.set()
        elif kind == "drained":
            worker.drained = True
        elif kind == "lifetime":
            self.engine.set_connection_lifetime(obj[1], obj[2])
        else:
            log.error("worker %d sent an unknown message %r", worker.index, kind)

    # ------------------------------------------------------------------ MI

    def mi_fanout(self, request: Any) -> dict[str, Any] | None:
        """A per-worker MI command (dlg_list ...) run in every worker, the answers merged. The
        main process waits for them (MI is rare; each worker answers from its loop at once)."""
        self._mi_req += 1
        responses = []
        for worker in self.workers:
            if worker.mi is None or not worker.ready:
                continue
            responses.append(call_blocking(worker.mi, self._mi_req, request, MI_TIMEOUT_S))
        return merge_responses(responses)

    # ------------------------------------------------------------------ statistics

    def refresh_stats(self) -> None:
        """Each worker's statistics as they are now, before an MI statistics command: the
        periodic reports are up to STATS_INTERVAL_S old, and a check made right after a call
        (OpenSIPS keeps statistics in shared memory) must see its effect."""
        for worker in self.workers:
            if worker.mi is None or not worker.ready:
                continue
            self._mi_req += 1
            values = call_blocking(worker.mi, self._mi_req, STATS_REQUEST, MI_TIMEOUT_S)
            if isinstance(values, dict):
                worker.stats = values

    def remote_stat(self, full_name: str) -> float:
        """The sum of a statistic over the workers (their last report)."""
        if full_name.partition(":")[0] in self.shared_groups:
            return 0  # kept whole by the owner: this process's value is the server's
        return sum(w.stats.get(full_name, 0) for w in self.workers)

    def reset_stat(self, full_name: str) -> None:
        for worker in self.workers:
            worker.stats.pop(full_name, None)
        self.broadcast(("reset", full_name), -1)


def worker_count(core: dict[str, Any], override: int | None) -> int:
    """`udp_workers` (2.x `children`), or `tcp_workers` when larger, or the override
    (`pysips --workers`, PYSIPS_WORKERS). Unset means one process (OpenSIPS's default is 8)."""
    if override is not None:
        return max(1, override)
    env = os.environ.get("PYSIPS_WORKERS")
    if env and env.strip().isdigit():
        return max(1, int(env))
    counts = [int(core.get(name) or 0) for name in ("udp_workers", "tcp_workers")]
    return max(1, *counts)
