"""How each SIPssert task type becomes a local process (or is reported as not run)."""

from __future__ import annotations

from collections.abc import Callable

from pysips.sipssert.runners.base import Broken, Launch, NotRun, TaskContext
from pysips.sipssert.runners.generic import generic_launch
from pysips.sipssert.runners.mi import cli_launch, mi_launch
from pysips.sipssert.runners.opensips import opensips_launch
from pysips.sipssert.runners.sipp import sipp_launch

Builder = Callable[[TaskContext], Launch | NotRun | Broken]

BUILDERS: dict[str, Builder] = {
    "opensips": opensips_launch,
    "uac-sipp": sipp_launch,
    "uas-sipp": sipp_launch,
    "opensips-mi": mi_launch,
    "opensips-cli": cli_launch,
    "generic": generic_launch,
}


def build_launch(ctx: TaskContext) -> Launch | NotRun | Broken:
    builder = BUILDERS.get(ctx.spec.kind)
    if builder is None:
        return NotRun(f"task type '{ctx.spec.kind}' has no local runner")
    return builder(ctx)


__all__ = ["BUILDERS", "Broken", "Launch", "NotRun", "TaskContext", "build_launch"]
