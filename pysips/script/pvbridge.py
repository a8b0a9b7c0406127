"""The compiler's one door to the pseudo-variable layer (pv.py, owned separately).

Kept apart so that a change in that API touches one file here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysips.script import ast
from pysips.script.context import MsgContext
from pysips.script.flags import FlagKind, FlagRegistry
from pysips.script.pv import PVRegistry, compile_pvar, compile_template
from pysips.script.pv_base import PVAccessor, PVError
from pysips.script.pv_core import flag_names_pv, make_color_off

__all__ = ["PVAccessor", "PVError", "colours_off", "flag_names", "new_registry", "pvar", "template"]


def new_registry() -> Any:
    return PVRegistry()


def colours_off(registry: Any) -> None:
    """`$C(..)` reads empty: the script did not set xlog_force_color=yes (OpenSIPS's rule)."""
    registry.replace("C", make_color_off)


def flag_names(registry: Any, flags: FlagRegistry) -> None:
    """`$mf`/`$bf` print the names of the set flags, looked up in the script's flag table."""
    registry.replace("mf", flag_names_pv(lambda ctx: ctx.flags, lambda: flags.names(FlagKind.MESSAGE)))
    registry.replace("bf", flag_names_pv(lambda ctx: ctx.bflags, lambda: flags.names(FlagKind.BRANCH)))


def pvar(node: ast.PVar, registry: Any) -> PVAccessor:
    """Raises PVError for an unknown or malformed pseudo-variable."""
    return compile_pvar(node, registry)


def template(node: ast.StrTemplate, registry: Any) -> Callable[[MsgContext], str]:
    return compile_template(node, registry)
