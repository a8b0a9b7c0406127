"""What a task runner is given and what it returns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pysips.sipssert.addresses import AddressMap
from pysips.sipssert.paths import PathMap
from pysips.sipssert.scenario import Scenario, TaskSpec


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A socket a task opens; the task counts as started once all of them are bound."""

    proto: str  # "udp" or "tcp", as /proc/net lists them
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class Launch:
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)  # added to this process's environment
    endpoints: tuple[Endpoint, ...] = ()
    what: str = ""  # how the report names the program ("pysips", "sipp", ...)
    # how long the task may take to come up; past it the task fails (strict) or counts as started
    bind_timeout: float = 3.0
    strict_bind: bool = False
    # a line the program logs once it serves (every socket bound): the task is up when it appears,
    # even if some of its sockets cannot be told from the script (a host name, an interface)
    ready_line: str | None = None


@dataclass(frozen=True, slots=True)
class NotRun:
    """The task cannot run here (an unknown task type, a check script or program that is missing).

    The test fails with this reason: a verdict without the task would claim what nobody checked."""

    reason: str


@dataclass(frozen=True, slots=True)
class Broken:
    """The task cannot run because the test itself is incomplete: the test fails."""

    reason: str


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    pysips: list[str]  # the pysips command (argv prefix)
    python: str  # the interpreter for Python check scripts
    startup_timeout: float = 30.0  # how long pysips may take to come up; past it the test fails


@dataclass(frozen=True, slots=True)
class TaskContext:
    spec: TaskSpec
    scenario: Scenario
    addresses: AddressMap
    paths: PathMap
    ip: str  # the task's own loopback address
    workdir: Path  # this test's scratch folder
    options: RunnerOptions

    def setting(self, key: str, default: Any = None) -> Any:
        """A task key with the docker addresses in it mapped."""
        return self.addresses.value(self.spec.get(key, default))

    def config_args(self) -> list[str]:
        """The task's `args`, split as SIPssert splits them (on spaces), addresses and paths mapped."""
        raw = self.spec.get("args")
        if raw is None:
            return []
        items = [str(x) for x in raw] if isinstance(raw, list) else str(raw).split(" ")
        return [self.map_arg(x) for x in items if x != ""]

    def map_arg(self, arg: str) -> str:
        arg = self.addresses.text(arg)
        host = self.paths.host(arg) if arg.startswith("/") else None
        return str(host) if host is not None else arg

    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.spec.name)


SOCKET_PROTOS = {
    "udp": "udp",
    "tcp": "tcp",
    "tls": "tcp",
    "ws": "tcp",
    "wss": "tcp",
    "bin": "tcp",
    "hep_tcp": "tcp",
}


def parse_socket(text: str) -> Endpoint | None:
    """`udp:1.2.3.4:5060` (OpenSIPS socket syntax, without `as`/`anycast` extras) as an endpoint."""
    head = text.strip().split()[0] if text.strip() else ""
    proto, _, rest = head.partition(":")
    host, _, port = rest.rpartition(":")
    kind = SOCKET_PROTOS.get(proto.lower())
    if kind is None or not host or not port.isdigit():
        return None
    return Endpoint(kind, host.strip("[]"), int(port))
