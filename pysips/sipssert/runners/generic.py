"""`generic` tasks: a container's command, run here only when it makes sense on this host.

The command runs when its program exists here (a file of the test folder or a program on PATH) and
every absolute path it names lies in a mounted folder (the test folder, a volume, the task's private
/tmp), mapped to the local folder standing in for it. So `cp /home/opensips.db /var/lib/.../` copies
the test's database into the scenario's volume, while a check script that is not shipped, or a
command that needs the container's own files, is reported as not run.
"""

from __future__ import annotations

import os
import shlex
import shutil

from pysips.sipssert.runners.base import Launch, NotRun, TaskContext


def generic_launch(ctx: TaskContext) -> Launch | NotRun:
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
    container = f"the {image} container" if image else "its container"
    if not words:
        return NotRun(f"runs the default command of {f'image {image}' if image else 'its image'}")
    words = [ctx.addresses.text(w) for w in words]
    mapped: list[str] = []
    for word in words:
        if word.startswith("/"):
            host = ctx.paths.host(word)
            if host is None:
                return NotRun(f"'{word}' is a path inside {container}")
            mapped.append(str(host))
        else:
            mapped.append(word)
    program = mapped[0]
    if words[0].startswith("/"):
        if not os.path.isfile(program):
            return NotRun(f"{words[0]} is not shipped with the test")
        argv = mapped if os.access(program, os.X_OK) else ["sh", *mapped]
    else:
        found = shutil.which(program)
        if found is None:
            return NotRun(f"'{program}' is not installed here")
        argv = [found, *mapped[1:]]
    return Launch(argv=argv, cwd=ctx.workdir, what=os.path.basename(argv[0]))
