"""The registrar runtime (`process.modules["registrar"]`): its settings and usrloc's LOCATION
service it stores bindings in."""

from __future__ import annotations

import time
from typing import Any

from pysips.core.services import LOCATION, LocationService
from pysips.script.context import MsgContext, ProcessState

from .config import RegConfig


class Registrar:
    __slots__ = ("_ul", "accepted", "config", "process", "rejected", "tables")

    def __init__(self, config: RegConfig, process: ProcessState, tables: tuple[str, ...] = ()) -> None:
        self.config = config
        self.process = process
        self._ul: LocationService | None = None
        self.accepted = 0
        self.rejected = 0
        self.tables = tables  # the usrloc tables the script names

    def open_tables(self) -> None:
        """Creates (and loads) every table the script names, as OpenSIPS does at startup."""
        ul = self.usrloc
        for name in self.tables:
            ul.domain(name)

    @property
    def usrloc(self) -> LocationService:
        ul = self._ul
        if ul is None:
            ul = self._ul = self.process.services.get(LOCATION)
            if ul is None:
                raise RuntimeError("registrar: the usrloc module is not initialised")
            for name in self.tables:
                ul.domain(name)
        return ul


def registrar_of(ctx: MsgContext) -> Registrar:
    reg = ctx.process.modules.get("registrar")
    if not isinstance(reg, Registrar):
        raise RuntimeError("registrar: module not initialised in this process")
    return reg


def now_of(ctx: MsgContext) -> float:
    """The event's wall-clock time (passed in by the engine); the clock when run by hand."""
    if ctx.now:
        return ctx.now
    core: Any = ctx.process.core
    return float(core.wall_time()) if core is not None else time.time()
