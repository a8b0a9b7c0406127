"""The table of MI commands of one process, in registration order (core first, then modules)."""

from __future__ import annotations

from collections.abc import Iterable

from pysips.mi.command import MICommand


class DuplicateCommand(Exception):
    pass


class MIRegistry:
    __slots__ = ("_by_name",)

    def __init__(self) -> None:
        self._by_name: dict[str, MICommand] = {}

    def register(self, cmd: MICommand) -> None:
        old = self._by_name.get(cmd.name)
        if old is not None:
            raise DuplicateCommand(
                f"MI command {cmd.name!r} of {cmd.module} is already registered by {old.module}")
        self._by_name[cmd.name] = cmd

    def register_all(self, cmds: Iterable[MICommand]) -> None:
        for cmd in cmds:
            self.register(cmd)

    def get(self, name: str) -> MICommand | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)
