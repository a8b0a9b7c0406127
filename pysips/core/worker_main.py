"""The main process of a server with worker processes (docs/workers.md): modules initialised once
here (the owner of the shared state, the MI servers), every listener bound here, messages handed
to the workers by Call-ID (pysips.core.workers.Supervisor)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING

from pysips.core.api import Socket
from pysips.core.drain import drain
from pysips.core.services import SHARED_STATE
from pysips.core.shared_state import MainSharedState
from pysips.core.workers import MAIN_PROCESS, READY_TIMEOUT_S, Supervisor, branch_mark
from pysips.mi.runtime import mi_of
from pysips.sip.branch import set_branch_mark
from pysips.transport.stream_listeners import StreamListener, start_stream_listener, streams_of
from pysips.transport.udp import UdpListener, open_udp_socket

if TYPE_CHECKING:
    from pysips.core.server import PreparedScript, ServeOptions

log = logging.getLogger("pysips.core.workers")


async def serve_with_workers(prepared: PreparedScript, opts: ServeOptions, count: int,
                             stop: asyncio.Event | None = None) -> int:
    from pysips.core.server import destroy_modules, install_routes, run_startup_route, start_modules

    loaded, engine = prepared.loaded, prepared.engine
    process = engine.process
    loop = asyncio.get_running_loop()
    shared = MainSharedState()
    udp_sockets: list[tuple[Socket, socket.socket]] = []
    spec = {"cfg": str(prepared.path), "mpath": opts.mpath, "log_level": opts.log_level,
            "skip_unimplemented": opts.skip_unimplemented, "dns_servers": [list(d) for d in opts.dns_servers]}
    supervisor = Supervisor(engine, count, spec, udp_sockets, shared)
    install_routes(loaded, engine)

    # the UDP sockets first: the workers inherit them when they are forked, before the modules
    # start here (a module's connections and threads are this process's only)
    for listener in prepared.listeners:
        sock = listener.socket
        if sock.proto != "udp":
            continue
        try:
            udp_sockets.append((sock, open_udp_socket(sock.ip, sock.port, opts.reuse_port)))
        except OSError as exc:
            print(f"pysips: cannot bind {listener.written}: {exc.strerror or exc}", file=sys.stderr)
            for _, os_sock in udp_sockets:
                os_sock.close()
            return 1
    supervisor.fork_all(prepared)
    # replies to what this process sends itself (MI t_uac_dlg, nathelper's pings) come back here
    set_branch_mark(branch_mark(MAIN_PROCESS))
    # what only the main process has, made after the fork: the shared state's owner side, the
    # statistics summed over the workers (registered from now on), the supervisor's hooks
    process.services.provide(SHARED_STATE, shared, "core")
    stats = mi_of(process).stats
    stats.remote = supervisor.remote_stat
    stats.remote_reset = supervisor.reset_stat
    mi_of(process).fanout = supervisor.mi_fanout
    mi_of(process).refresh_remote = supervisor.refresh_stats
    supervisor.install()

    bound: list[UdpListener | StreamListener] = []
    modules_started = False
    try:
        if not await start_modules(loaded, engine):
            return 1
        modules_started = True
        supervisor.shared_groups = shared.names()
        mi_of(process).refresh()
        supervisor.send_snapshots()
        await supervisor.wait_ready(READY_TIMEOUT_S)
        for sock, os_sock in udp_sockets:
            udp = UdpListener(sock, supervisor.dispatch, loop, os_sock)
            udp.start()
            bound.append(udp)
            engine.attach(sock, udp.send)
        for listener in prepared.listeners:
            sock = listener.socket
            if sock.proto == "udp":
                continue
            try:
                stream = await start_stream_listener(loop, sock, engine, opts.reuse_port)
            except OSError as exc:
                print(f"pysips: cannot bind {listener.written}: {exc.strerror or exc}", file=sys.stderr)
                return 1
            streams_of(engine, loop).receive = supervisor.dispatch
            bound.append(stream)
            engine.attach(sock, stream.send)

        run_startup_route(loaded, engine)
        for started in bound:
            log.log(25, "listening on %s", started.sock.name)
        log.log(25, "%d worker processes, messages shared out by Call-ID", count)
        stop_event = stop or asyncio.Event()
        hurry = asyncio.Event()  # a second signal: no more draining

        def on_signal() -> None:
            (hurry if stop_event.is_set() else stop_event).set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
        if opts.on_ready is not None:
            opts.on_ready(engine)
        await stop_event.wait()
        # the workers drain what they hold while this process still hands them messages; its
        # own transactions (MI t_uac_dlg, pings) drain beside them
        await asyncio.gather(supervisor.drain(opts.shutdown_grace, hurry),
                             drain(engine, opts.shutdown_grace, hurry))
        log.log(25, "stopping %d workers", count)
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await supervisor.stop()
        for started in bound:
            started.close()
        for _, os_sock in udp_sockets:
            os_sock.close()
        if modules_started:
            await destroy_modules(loaded, process)
