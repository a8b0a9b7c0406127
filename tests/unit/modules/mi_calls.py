"""MI calls for unit tests of a module's MI handlers: the real MICall over a process, with the
parameters given by name (as a JSON-RPC request names them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysips.mi.command import MICall
from pysips.mi.runtime import MIRuntime
from pysips.script.context import ProcessState


def mi_caller(process: ProcessState) -> Callable[..., MICall]:
    runtime = MIRuntime(process)

    def call(**values: Any) -> MICall:
        return MICall(runtime, tuple(values), values)

    return call
