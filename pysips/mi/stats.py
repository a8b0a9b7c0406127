"""Statistics as OpenSIPS names them (`group:name`, e.g. `core:rcv_requests`, `tm:UAS_transactions`).

Nothing is counted here: modules and the engine keep plain int attributes (or dict entries) and
increment them directly, one process, no locks. The registry only knows how to read and reset
them when MI asks, so counting costs an attribute increment and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

Getter = Callable[[], int | float]
Resetter = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Stat:
    group: str
    name: str
    get: Getter
    reset: Resetter | None = None  # None: "non-incremental" (a gauge or a function), not resettable

    @property
    def full_name(self) -> str:
        return f"{self.group}:{self.name}"


# With worker processes (pysips.core.workers) the main process's statistics add the workers'
# values: remote(full name) is their sum, remote_reset(full name) clears them
Remote = Callable[[str], int | float]
RemoteReset = Callable[[str], None]


class StatsRegistry:
    __slots__ = ("_groups", "remote", "remote_reset")

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, Stat]] = {}
        self.remote: Remote | None = None
        self.remote_reset: RemoteReset | None = None

    def register(self, group: str, name: str, get: Getter, reset: Resetter | None = None) -> Stat:
        remote = self.remote
        if remote is not None:
            get, reset = _summed(f"{group}:{name}", get, reset, remote, self.remote_reset)
        stat = Stat(group, name, get, reset)
        self._groups.setdefault(group, {})[name] = stat
        return stat

    def gauge(self, group: str, name: str, get: Getter) -> Stat:
        return self.register(group, name, get)

    def counter_attr(self, group: str, name: str, obj: Any, attr: str | None = None) -> Stat:
        """A counter kept as `obj.<attr>` (a plain int the owner increments)."""
        field = attr or name

        def get() -> int | float:
            return int(getattr(obj, field))

        def reset() -> None:
            setattr(obj, field, 0)

        return self.register(group, name, get, reset)

    def counter_key(self, group: str, name: str, table: MutableMapping[str, int],
                    key: str | None = None) -> Stat:
        """A counter kept as `table[key]` (the engine's `stats` dict)."""
        k = key or name

        def get() -> int | float:
            return table.get(k, 0)

        def reset() -> None:
            table[k] = 0

        return self.register(group, name, get, reset)

    def has_group(self, group: str) -> bool:
        return group in self._groups

    def groups(self) -> list[str]:
        return list(self._groups)

    def group(self, group: str) -> list[Stat]:
        return list(self._groups.get(group, {}).values())

    def find(self, name: str) -> Stat | None:
        """`group:name`, or a bare name searched in every group (as OpenSIPS's get_stat)."""
        if ":" in name:
            group, _, short = name.partition(":")
            return self._groups.get(group, {}).get(short)
        for stats in self._groups.values():
            if name in stats:
                return stats[name]
        return None

    def by_name(self, name: str) -> Stat | None:
        """What the MI statistics commands look up: OpenSIPS's get_stat() takes a bare name only,
        so `group:name` finds nothing there (a group is asked for as `group:`)."""
        return None if ":" in name else self.find(name)

    def __iter__(self) -> Iterator[Stat]:
        for stats in self._groups.values():
            yield from stats.values()


def _summed(full_name: str, get: Getter, reset: Resetter | None, remote: Remote,
            remote_reset: RemoteReset | None) -> tuple[Getter, Resetter | None]:
    def summed_get() -> int | float:
        return get() + remote(full_name)

    if reset is None:
        return summed_get, None
    local_reset = reset

    def summed_reset() -> None:
        local_reset()
        if remote_reset is not None:
            remote_reset(full_name)

    return summed_get, summed_reset
