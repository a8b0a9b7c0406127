"""A worker process (`python3 -m pysips.core.worker_process`, started by the main process with
its spec in PYSIPS_WORKER_SPEC): loads the same script, runs the whole engine (tm, dialog ... of
its own) on the messages the main process hands it, sends UDP on the inherited sockets and stream
data through the main process. See docs/workers.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

from pysips.core.api import Destination, Socket
from pysips.core.drain import drain
from pysips.core.ipc import STATS_REQUEST, Channel
from pysips.core.services import SHARED_STATE
from pysips.core.shared_state import WorkerSharedState
from pysips.core.worker_rpc import WorkerRpc
from pysips.core.workers import SPEC_ENV, STATS_INTERVAL_S, branch_mark
from pysips.mi.runtime import mi_of
from pysips.sip.branch import set_branch_mark
from pysips.sip.receive import ReceiveInfo
from pysips.transport.tls_vars import REMOTE_SESSIONS, SessionFacts
from pysips.transport.udp import AsyncioClock, UdpListener

if TYPE_CHECKING:
    from pysips.core.server import PreparedScript

log = logging.getLogger("pysips.core.workers")


class _StreamRelay:
    """A worker's sender for one stream socket: the data goes to the main process, which owns the
    connections. From a script the result is the main process's (False: the connection is gone
    and must not be opened, as for a browser: tm answers 477 at once); elsewhere True, handed
    over (the main process logs a send that fails)."""

    __slots__ = ("_rpc", "_sock")

    def __init__(self, sock: Socket, rpc: WorkerRpc) -> None:
        self._sock = sock
        self._rpc = rpc

    def send(self, data: bytes, dst: Destination) -> bool:
        sock = self._sock
        return bool(self._rpc.call(True, "s", sock.proto, sock.ip, sock.port, data, dst.proto, dst.ip,
                                   dst.port, dst.conn_id))


async def run_worker(spec: dict[str, Any], prepared: PreparedScript | None = None) -> int:
    """A worker's life: the script loaded (or, forked, the main process's load reused on this
    process's own event loop), modules started, messages served until told to stop."""
    from pysips.core.server import (
        ServeOptions,
        destroy_modules,
        install_routes,
        prepare_script,
        start_modules,
    )

    set_branch_mark(branch_mark(int(spec["index"])))
    loop = asyncio.get_running_loop()
    if prepared is None:
        opts = ServeOptions(skip_unimplemented=bool(spec.get("skip_unimplemented")), mpath=spec.get("mpath"),
                            log_level=spec.get("log_level"),
                            dns_servers=tuple((str(ip), int(port))
                                              for ip, port in spec.get("dns_servers") or ()))
        fresh = await prepare_script(spec["cfg"], opts)
        if isinstance(fresh, int):
            return fresh
        prepared = fresh
    else:
        prepared.engine.clock = AsyncioClock(loop)
    loaded, engine = prepared.loaded, prepared.engine
    process = engine.process
    ipc = socket.socket(fileno=int(spec["ipc_fd"]))
    outbox: list[Any] = []  # what modules send before the channel exists (during init)
    channel_ref: list[Channel] = []

    def send(obj: Any) -> None:
        if channel_ref:
            channel_ref[0].send(obj)
        else:
            outbox.append(obj)

    rpc = WorkerRpc(send)
    shared = WorkerSharedState(rpc)
    process.services.provide(SHARED_STATE, shared, "core")
    install_routes(loaded, engine)
    if not await start_modules(loaded, engine, main_process=False):
        return 1

    udp: list[UdpListener] = []
    for proto, ip, port, fd in spec["udp"]:
        sock = engine.table.find(proto, ip, port)
        if sock is None:
            continue
        os_sock = socket.socket(fileno=int(fd))
        os_sock.setblocking(False)
        listener = UdpListener(sock, engine.receive, loop, os_sock)  # sends only: the main process reads
        udp.append(listener)
        engine.attach(sock, listener.send)
    for lst in prepared.listeners:
        if lst.socket.proto != "udp":
            engine.attach(lst.socket, _StreamRelay(lst.socket, rpc).send)

    def keep_connection(conn_id: int, seconds: float) -> bool:
        rpc.notify("lifetime", conn_id, seconds)
        return True

    engine.connection_owner = keep_connection

    stop = asyncio.Event()
    hurry = asyncio.Event()  # the main process got a second signal: the drain ends now
    draining: list[asyncio.Task[None]] = []

    async def drain_then_report(grace: float) -> None:
        await drain(engine, grace, hurry)
        channel.send(("drained",))

    receive = engine.receive
    hooks = engine.hooks
    stats = mi_of(process).stats
    mi_of(process).refresh()
    shared_groups = shared.names()

    holding = False  # the UDP listeners hold this batch's sends

    def on_message(obj: Any) -> bool:
        nonlocal holding
        kind = obj[0]
        if kind == "m":
            if not holding:
                # the sends of the messages handed over together go out together, as a single
                # process's listener does for a read batch: each peer is woken once per batch
                holding = True
                for listener in udp:
                    listener.hold()
            _, data, proto, lip, lport, sip, sport, conn_id, tls = obj
            if tls is not None and conn_id not in REMOTE_SESSIONS:
                REMOTE_SESSIONS[conn_id] = SessionFacts(*tls)
            receive(data, ReceiveInfo(proto, lip, lport, sip, sport, conn_id))
        elif kind == "bus":
            shared.deliver(obj[1], obj[2])
        elif kind == "re":
            return rpc.answered(obj[1], obj[2])
        elif kind == "closed":
            REMOTE_SESSIONS.pop(obj[1], None)
            for hook in list(hooks.connection_closed):
                hook(obj[1])
        elif kind == "reset":
            found = stats.find(obj[1])
            if found is not None and found.reset is not None:
                found.reset()
        elif kind == "reload":
            engine.reload_routes()
        elif kind == "drain":
            if not draining:
                draining.append(loop.create_task(drain_then_report(float(obj[1]))))
        elif kind == "hurry":
            hurry.set()
        elif kind == "stop":
            stop.set()
        return False

    channel = Channel(ipc, loop, on_message, stop.set)

    def release_sends() -> None:
        nonlocal holding
        if holding:
            holding = False
            for listener in udp:
                listener.release()

    channel.on_batch_end = release_sends
    mi = mi_of(process)
    mi_channel: list[Channel] = []

    def on_mi(obj: Any) -> None:
        req, request = obj
        answer = current_stats() if request == STATS_REQUEST else mi.handle(request)
        mi_channel[0].send((req, answer))

    mi_channel.append(Channel(socket.socket(fileno=int(spec["mi_fd"])), loop, on_mi))
    channel_ref.append(channel)
    for obj in outbox:
        channel.send(obj)
    outbox.clear()

    def current_stats() -> dict[str, float]:
        values: dict[str, float] = {}
        for stat in stats:
            if stat.group in shared_groups:
                continue
            try:
                value = stat.get()
            except Exception:
                continue
            if value:
                values[stat.full_name] = value
        return values

    def report() -> None:
        channel.send(("stats", current_stats()))
        timer[0] = loop.call_later(STATS_INTERVAL_S, report)

    timer = [loop.call_later(STATS_INTERVAL_S, report)]
    # SIGTERM: stop as asked (a forked worker's loop runs in a thread: its SIGTERM kills it)
    with contextlib.suppress(ValueError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    channel.send(("ready",))
    await stop.wait()
    hurry.set()
    for task in draining:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    timer[0].cancel()
    for listener in udp:
        listener.close()
    await destroy_modules(loaded, process)
    channel.close()
    mi_channel[0].close()
    return 0


def run_forked(spec: dict[str, Any], close_fds: list[int], prepared: PreparedScript) -> None:
    """The child side of os.fork() in the main process's event loop: that loop, its signal
    wake-up and the main process's channel ends are left alone (the fds closed), and the worker
    runs its own loop in a new thread. Never returns: the process exits."""
    code = 1
    try:
        for fd in close_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(asyncio.run(run_worker(spec, prepared))),
                                  name=f"worker-{spec['index']}")
        thread.start()
        thread.join()
        code = result[0] if result else 1
    except BaseException:
        log.exception("worker %s failed", spec.get("index"))
    finally:
        logging.shutdown()
        os._exit(code)


def main() -> int:
    spec = json.loads(os.environ.pop(SPEC_ENV))
    # Ctrl-C reaches the whole process group: the main process decides when workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return asyncio.run(run_worker(spec))


if __name__ == "__main__":
    sys.exit(main())
