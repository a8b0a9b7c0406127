"""Running a script: listeners bound, modules initialised, startup_route run, messages served.

`run_script_file(path)` is what `pysips -f FILE` calls; `python3 -m pysips.core.server -f FILE`
does the same without the CLI. One process unless `udp_workers` (or `--workers`) asks for more:
then pysips.core.worker_main runs the main process and its workers (docs/workers.md).

UDP, TCP, TLS, WS and WSS listeners are served (the stream ones by pysips.transport). A listener of
another protocol (sctp, bin, hep ...) is a startup error naming it, unless `skip_unimplemented`
(`--skip-unimplemented-listeners`) is given: then it is skipped with a warning.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import inspect
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysips.core.drain import DEFAULT_GRACE_S, drain
from pysips.core.engine import Engine
from pysips.core.functions import ENGINE_FUNCTIONS
from pysips.core.listeners import (
    Listener,
    ListenerError,
    global_params_core,
    listeners_from,
    script_aliases,
    script_listeners,
    wildcard_aliases,
)
from pysips.script import ast
from pysips.script.context import MsgContext, ProcessState, RouteType
from pysips.script.events import events_of
from pysips.script.oslog import setup_logging
from pysips.transport.stream_listeners import STREAM_PROTOS, StreamListener, start_stream_listener
from pysips.transport.udp import AsyncioClock, UdpListener, start_udp_listener

log = logging.getLogger("pysips.core.server")

IMPLEMENTED_PROTOS = frozenset({"udp"}) | STREAM_PROTOS
DEFAULT_LOG_LEVEL = 2  # L_NOTICE: the "listening on" lines show, per-message chatter does not


class StartupError(Exception):
    """Something that keeps the server from starting; the message says what and where."""



@dataclass(slots=True)
class ServeOptions:
    skip_unimplemented: bool = False
    reuse_port: bool = False
    mpath: str | None = None
    log_level: int | None = None  # overrides the script's log_level/debug
    # DNS servers to ask instead of the system's (ip, port): `pysips --dns-server`
    dns_servers: tuple[tuple[str, int], ...] = ()
    # seconds SIGTERM/SIGINT waits for transactions in flight (`pysips --shutdown-grace`; 0: none)
    shutdown_grace: float = DEFAULT_GRACE_S
    # worker processes: overrides the script's udp_workers (`pysips --workers`); None: the script's
    workers: int | None = None
    # called once every listener is bound (tests use it to learn the server is up)
    on_ready: Callable[[Engine], None] | None = None


def usable_listeners(listeners: list[Listener], skip_unimplemented: bool) -> list[Listener]:
    usable: list[Listener] = []
    for listener in listeners:
        proto = listener.socket.proto
        if proto in IMPLEMENTED_PROTOS:
            usable.append(listener)
            continue
        where = f"{listener.pos.file}:{listener.pos.line}" if listener.pos.file else "the script"
        text = f"listener {listener.written} ({where}): protocol {proto!r} is not implemented yet"
        if not skip_unimplemented:
            raise StartupError(text + " (use --skip-unimplemented-listeners to run without it)")
        log.warning("%s: skipped", text)
    if not usable:
        raise StartupError("no usable listener: the script has no udp listener")
    return usable


def _load(script: ast.Script, path: Path, engine: Engine, mpath: str | None) -> Any:
    from pysips.script.compile import LoadOptions, load_script

    options = LoadOptions(base_dir=path.resolve().parent, mpath=mpath, myself=engine.myself,
                          core_functions=ENGINE_FUNCTIONS)
    return load_script(script, options)


def route_reloader(path: Path, engine: Engine, mpath: str | None, loaded: Any) -> Callable[[], bool]:
    """MI reload_routes: parse and compile the script again and swap the engine's routes, only if
    it loads and uses the same modules (their runtime state stays; OpenSIPS reloads routes only)."""
    from pysips.script.errors import ScriptLoadError
    from pysips.script.parse import ScriptSyntaxError, parse_file

    current = [loaded]

    def reload() -> bool:
        try:
            fresh = _load(parse_file(path), path, engine, mpath)
        except (ScriptSyntaxError, ScriptLoadError) as exc:
            for problem in exc.problems:
                log.error("reload_routes: %s", problem.format())
            return False
        if list(fresh.modules) != list(current[0].modules):
            log.error("reload_routes: the script loads other modules now; restart to change modules")
            return False
        main = fresh.main_route
        onreply = fresh.route(ast.RouteKind.ONREPLY, None)
        engine.main_route = main.run if main is not None else None
        engine.onreply_route = onreply.run if onreply is not None else None
        error_route = fresh.error_route
        engine.error_route = error_route.run if error_route is not None else None
        current[0] = fresh
        log.log(25, "reload_routes: routes of %s reloaded", path)
        return True

    return reload


@dataclass(slots=True)
class PreparedScript:
    """A script parsed and loaded on a fresh engine, with its listeners (not bound yet)."""

    path: Path
    loaded: Any  # pysips.script.compile.LoadedScript
    engine: Engine
    listeners: list[Listener]


async def prepare_script(path: str | Path, opts: ServeOptions) -> PreparedScript | int:
    """Parse and load the script and make its engine; an exit status when it cannot."""
    from pysips.script.errors import ScriptLoadError
    from pysips.script.parse import ScriptSyntaxError, parse_file

    setup_logging(opts.log_level if opts.log_level is not None else DEFAULT_LOG_LEVEL)
    file = Path(path)
    try:
        script = parse_file(file)
    except ScriptSyntaxError as exc:
        for problem in exc.problems:
            print(problem.format(), file=sys.stderr)
        return 1
    core0 = global_params_core(script)
    try:
        listeners = script_listeners(core0)
        if not listeners:
            log.warning("no listen= in the script: listening on udp:*:5060")
            listeners = listeners_from([ast.SocketSpec("udp", "*", 5060, raw="udp:*:5060")])
        listeners = usable_listeners(listeners, opts.skip_unimplemented)
    except (ListenerError, StartupError) as exc:
        print(f"pysips: {exc}", file=sys.stderr)
        return 1

    loop = asyncio.get_running_loop()
    process = ProcessState()
    engine = Engine(process, [lst.socket for lst in listeners], AsyncioClock(loop),
                    aliases=script_aliases(core0) + wildcard_aliases(listeners))
    try:
        loaded = _load(script, file, engine, opts.mpath)
    except ScriptLoadError as exc:
        for load_problem in exc.problems:
            print(load_problem.format(), file=sys.stderr)
        print(f"pysips: {path}: the script does not load", file=sys.stderr)
        return 1
    level = opts.log_level if opts.log_level is not None else loaded.core.get("log_level", DEFAULT_LOG_LEVEL)
    setup_logging(int(level))
    engine.reloader = route_reloader(file, engine, opts.mpath, loaded)
    server_header = loaded.core.get("server_header")
    if server_header:
        engine.server_header = str(server_header)
    if loaded.core.get("server_signature") is False:
        engine.server_header = None
    if loaded.core.get("dns_try_ipv6") is False:
        engine.resolver.try_ipv6 = False
    if loaded.core.get("dns_try_naptr") is False:
        engine.resolver.try_naptr = False
    dns = engine.resolver.dns
    if dns is not None:
        if opts.dns_servers:
            dns.use_servers(list(opts.dns_servers))
        timing = [loaded.core.get(name) for name in ("dns_retr_time", "dns_retr_no", "dns_servers_no")]
        dns.set_timing(*(int(v) if v is not None else None for v in timing))
    engine.set_mhomed(bool(loaded.core.get("mhomed")))
    engine.translate_503 = not loaded.core.get("disable_503_translation")
    return PreparedScript(file, loaded, engine, listeners)


async def serve_script(path: str | Path, options: ServeOptions | None = None,
                       stop: asyncio.Event | None = None) -> int:
    """Load, bind, run until SIGTERM/SIGINT (or `stop`); returns the process exit status."""
    opts = options or ServeOptions()
    prepared = await prepare_script(path, opts)
    if isinstance(prepared, int):
        return prepared
    from pysips.core.workers import worker_count

    count = worker_count(prepared.loaded.core, opts.workers)
    if count > 1:
        from pysips.core.worker_main import serve_with_workers

        return await serve_with_workers(prepared, opts, count, stop)
    return await serve(prepared.loaded, prepared.engine, prepared.listeners, opts, stop)


def install_routes(loaded: Any, engine: Engine) -> None:
    """The script's main, onreply and error routes, as the engine runs them."""
    main = loaded.main_route
    engine.main_route = main.run if main is not None else None
    onreply = loaded.route(ast.RouteKind.ONREPLY, None)
    engine.onreply_route = onreply.run if onreply is not None else None
    error_route = loaded.error_route
    engine.error_route = error_route.run if error_route is not None else None


async def start_modules(loaded: Any, engine: Engine, main_process: bool = True) -> bool:
    """Every module's init and child_init, then event routes wired to the engine; False (after
    printing why and destroying what started) when a module does not start."""
    process = engine.process
    try:
        loaded.init_modules(process, main_process)
        loaded.child_init(process, main_process)
    except Exception as exc:
        # a port in use, a database that does not open...: a start error, not a traceback
        log.debug("module initialisation failed", exc_info=True)
        print(f"pysips: {_start_error(loaded, process, exc)}", file=sys.stderr)
        await destroy_modules(loaded, process)
        return False
    events = events_of(process)
    if events is not None:
        # event_route runs after the work that raised the event, as OpenSIPS hands it to another
        # process; through the engine, so an error in it costs that run only
        def schedule(work: Callable[[], None]) -> None:
            engine.call_at(engine.now(), work)

        events.schedule = schedule
        events.route_runner = lambda run, ctx: engine.run_route(ctx, run)
    tune_gc()
    return True


def run_startup_route(loaded: Any, engine: Engine) -> None:
    startup = loaded.route(ast.RouteKind.STARTUP, None)
    if startup is not None:
        start_ctx = MsgContext(engine.process, None, None, RouteType.STARTUP, engine.wall_time())
        engine.run_route(start_ctx, startup.run)


def _start_error(loaded: Any, process: ProcessState, exc: Exception) -> str:
    """The error, named after the first module whose init has not stored its runtime."""
    text = str(exc) or type(exc).__name__
    for name, mod in getattr(loaded, "modules", {}).items():
        if getattr(mod.exports, "init", None) is not None and name not in process.modules:
            return text if text.startswith(f"{name}:") else f"{name}: {text}"
    return text


async def serve(loaded: Any, engine: Engine, listeners: list[Listener], options: ServeOptions | None = None,
                stop: asyncio.Event | None = None) -> int:
    """Run a loaded script (pysips.script.compile.LoadedScript) on an engine until stopped."""
    opts = options or ServeOptions()
    process = engine.process
    install_routes(loaded, engine)
    if not await start_modules(loaded, engine):
        return 1

    loop = asyncio.get_running_loop()
    bound: list[UdpListener | StreamListener] = []
    try:
        for listener in listeners:
            sock = listener.socket
            started: UdpListener | StreamListener
            try:
                if sock.proto == "udp":
                    started = await start_udp_listener(loop, sock, engine.receive, opts.reuse_port)
                else:
                    started = await start_stream_listener(loop, sock, engine, opts.reuse_port)
            except OSError as exc:
                print(f"pysips: cannot bind {listener.written}: {exc.strerror or exc}", file=sys.stderr)
                return 1
            bound.append(started)
            engine.attach(sock, started.send)

        run_startup_route(loaded, engine)

        for started in bound:
            log.log(25, "listening on %s", started.sock.name)
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
        await drain(engine, opts.shutdown_grace, hurry)
        log.log(25, "stopping: %d messages received", engine.stats["received"])
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        for started in bound:
            started.close()
        await destroy_modules(loaded, process)


async def destroy_modules(loaded: Any, process: ProcessState) -> None:
    """Each module's `destroy` in reverse init order (usrloc's last write-back, acc and database
    connections closing), awaited before the process exits; one failing does not stop the rest."""
    for name, hook, runtime in loaded.destroy_hooks(process):
        try:
            result = hook(runtime)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("destroy of module %s failed", name)


# Per-message objects are freed by reference counting (tm keeps no cycles), so the cyclic collector
# only has to run rarely; at the default threshold (700) it ran every few messages and walked every
# live transaction each time, costing about a quarter of the CPU under load.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Once the script is loaded: the grammar, the compiled script and the modules live as long as
    the process, so they move to the permanent generation, out of every later collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_script_file(path: str | Path, *, mpath: str | None = None, skip_unimplemented: bool = False,
                    log_level: int | None = None, dns_servers: tuple[tuple[str, int], ...] = (),
                    shutdown_grace: float = DEFAULT_GRACE_S, workers: int | None = None) -> int:
    """The entry for `pysips -f FILE`: returns the exit status."""
    options = ServeOptions(skip_unimplemented=skip_unimplemented, mpath=mpath, log_level=log_level,
                           dns_servers=dns_servers, shutdown_grace=shutdown_grace, workers=workers)
    try:
        return asyncio.run(serve_script(path, options))
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m pysips.core.server", description="run a routing script")
    parser.add_argument("-f", dest="cfg", required=True, help="the routing script")
    parser.add_argument("--mpath", help="module folder searched before the bundled modules")
    parser.add_argument("--skip-unimplemented-listeners", action="store_true",
                        help="skip (with a warning) listeners of protocols not implemented yet")
    parser.add_argument("--log-level", type=int, help="OpenSIPS log level (-3..4), overrides the script")
    args = parser.parse_args(argv)
    return run_script_file(args.cfg, mpath=args.mpath, skip_unimplemented=args.skip_unimplemented_listeners,
                           log_level=args.log_level)


if __name__ == "__main__":
    sys.exit(main())
