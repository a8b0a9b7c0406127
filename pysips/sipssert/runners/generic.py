"""`generic` tasks: a container's command, run here with the container's view of the paths.

The command runs in a private mount namespace where the test folder, the volumes and a private /tmp
and /run are mounted where its container has them (container.py), so `cp /home/opensips.db
/var/lib/opensips/db_sqlite/` fills the scenario's volume and a check script's own paths resolve.
Scripts run with the image's shell (busybox `sh` in Alpine images). A command whose program is
neither shipped with the test nor installed here cannot run: the task, and so the test, fails.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pysips.sipssert.runners.base import Broken, Launch, NotRun, TaskContext
from pysips.sipssert.runners.container import container_view, program_command, script_command


def generic_launch(ctx: TaskContext) -> Launch | NotRun | Broken:
    raw = ctx.spec.get("args")
    entrypoint = ctx.spec.get("entrypoint")
    words: list[str] = []
    if entrypoint:
        words += (
            [str(x) for x in entrypoint] if isinstance(entrypoint, list) else shlex.split(str(entrypoint))
        )
    if raw is not None:
        words += [str(x) for x in raw] if isinstance(raw, list) else shlex.split(str(raw))
    image = ctx.spec.get("image")
    if not words:
        return NotRun(f"runs the default command of {f'image {image}' if image else 'its image'}")
    words = [ctx.addresses.text(w) for w in words]
    program = words[0]
    command: list[str] | Broken | None
    if "/" in program:
        inside = program if program.startswith("/") else f"{ctx.spec.mount_point}/{program}"
        mounted = ctx.paths.host(inside)
        # not in a mount: the container's own file, the same here when installed
        host = mounted if mounted is not None else Path(inside)
        if not host.is_file():
            container = f"the {image} container" if image else "its container"
            where = "shipped with the test" if mounted is not None else f"here (a file of {container})"
            return NotRun(f"{program} is not {where}")
        command = script_command(ctx, host, inside)
    else:
        command = program_command(ctx, program)
        if command is None:
            return NotRun(f"'{program}' is not installed here")
    if isinstance(command, Broken):
        return command
    argv = container_view(ctx, [*command, *words[1:]])
    if isinstance(argv, Broken):
        return argv
    return Launch(argv=argv, cwd=ctx.workdir, what=Path(program).name)
