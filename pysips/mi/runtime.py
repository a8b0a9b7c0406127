"""The MI of one worker process: its command table, its statistics, and request handling.

Transports (mi_http, mi_fifo, mi_datagram) call `mi_of(process).handle_text(text)`. Modules
declare their commands and counters in their exports (`mi_commands`, `stats`); the loader adds
them after the module's init (`register_commands(process, COMMANDS)` and `stats_of(process)` remain
for what can only be known at run time).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from pysips.mi.command import MICall, MICommand
from pysips.mi.jsonrpc import encode, handle_request, parse_error_response
from pysips.mi.registry import MIRegistry
from pysips.mi.stats import StatsRegistry
from pysips.script.context import ProcessState

log = logging.getLogger("pysips.mi")

_KEY = "core.mi"  # where the runtime lives in process.modules (no module can be named so)


class MIRuntime:
    def __init__(self, process: ProcessState) -> None:
        self.process = process
        self.registry = MIRegistry()
        self.stats = StatsRegistry()
        self.started = time.time()
        self.roles: list[str] = []  # what this process does, for `ps` ("HTTPD 127.0.0.1:8888" ...)
        self._core_stats_done = False
        # set in the main process of a server with workers: runs a per-worker command in every
        # worker and returns the merged response
        self.fanout: Callable[[Any], dict[str, Any] | None] | None = None
        # with workers: brings their statistics up to date before a statistics command
        self.refresh_remote: Callable[[], None] | None = None
        from pysips.mi.core_cmds import CORE_COMMANDS

        self.registry.register_all(CORE_COMMANDS)

    # ---------------------------------------------------------------- modules' side

    def register(self, cmds: Iterable[MICommand]) -> None:
        self.registry.register_all(cmds)

    def add_role(self, role: str) -> None:
        if role not in self.roles:
            self.roles.append(role)

    def refresh(self) -> None:
        """Attaches the engine's counters once it runs (modules' come from their exports)."""
        if not self._core_stats_done and self.process.core is not None:
            from pysips.mi.module_adapters import register_core_stats

            register_core_stats(self, self.process.core)
            self._core_stats_done = True

    # ---------------------------------------------------------------- requests

    def lookup(self, name: str) -> MICommand | None:
        return self.registry.get(name)

    def handle(self, request: Any) -> dict[str, Any] | None:
        """A decoded JSON-RPC request to its response object (None: notification)."""
        self.refresh()
        if self.fanout is not None and isinstance(request, dict):
            method = request.get("method")
            cmd = self.lookup(method) if isinstance(method, str) else None
            if cmd is not None and cmd.per_worker:
                return self.fanout(request)
            if self.refresh_remote is not None and method in STATS_COMMANDS:
                self.refresh_remote()
        return handle_request(request, self.lookup, lambda names, values: MICall(self, names, values))

    def handle_text(self, text: str | bytes, pretty: bool = False) -> bytes | None:
        """One JSON-RPC request as text to the response bytes (None when nothing is to be sent)."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                return encode(parse_error_response(), pretty)
        try:
            request = json.loads(text)
        except ValueError:
            return encode(parse_error_response(), pretty)
        response = self.handle(request)
        return None if response is None else encode(response, pretty)


# the MI commands that read statistics (fresh values from the workers first)
STATS_COMMANDS = frozenset({"get_statistics", "list_statistics"})


def mi_of(process: ProcessState) -> MIRuntime:
    """The process's MI, created on first use."""
    runtime = process.modules.get(_KEY)
    if not isinstance(runtime, MIRuntime):
        runtime = MIRuntime(process)
        process.modules[_KEY] = runtime
    return runtime


def register_commands(process: ProcessState, cmds: Iterable[MICommand]) -> None:
    """For a module's init: adds its MI commands (a duplicate name is an error)."""
    mi_of(process).register(cmds)


def stats_of(process: ProcessState) -> StatsRegistry:
    """For a module's init: where it declares its counters."""
    return mi_of(process).stats
