"""`opensips-mi` and `opensips-cli` tasks: check scripts and commands against the management interface.

SIPssert runs an `opensips-mi` task's `script` with MI_TYPE/MI_IP/MI_PORT in its environment (the
python `opensips` package reads them), or without a script the `opensips-mi` command with
`-t TYPE -i IP -p PORT`. An `opensips-cli` task runs `opensips-cli -o url=http://IP:PORT/PATH` with
its `script` and `-o` options. A script runs with its container's paths (container.py); one that
is not in the test folder cannot run, and fails the test.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

from pysips.sipssert.runners.base import Broken, Launch, NotRun, TaskContext
from pysips.sipssert.runners.container import container_view, script_command

MI_DEFAULT_PORT = 8888
MI_DEFAULT_TYPE = "http"
MI_DEFAULT_PATH = "mi"


def _script(ctx: TaskContext) -> tuple[str | None, NotRun | None]:
    name = ctx.spec.get("script")
    if not name:
        return None, None
    path = ctx.paths.resolve(str(name), ctx.spec.mount_point)
    if path is None or not path.is_file():
        return None, NotRun(f"check script {name} is not shipped with the test")
    return str(path), None


def _inside(ctx: TaskContext, name: str) -> str:
    """The script's path in the container (the test folder is mounted on the task's mount point)."""
    return name if name.startswith("/") else str(PurePosixPath(ctx.spec.mount_point) / name)


def mi_launch(ctx: TaskContext) -> Launch | NotRun | Broken:
    script, missing = _script(ctx)
    if missing is not None:
        return missing
    mi_type = str(ctx.setting("mi_type", MI_DEFAULT_TYPE))
    mi_ip = str(ctx.setting("mi_ip", "127.0.0.1"))
    mi_port = str(ctx.setting("mi_port", MI_DEFAULT_PORT))
    env = {"MI_TYPE": mi_type, "MI_IP": mi_ip, "MI_PORT": mi_port}
    command: list[str] | Broken
    if script is not None:
        inside = _inside(ctx, str(ctx.spec.get("script")))
        if script.endswith(".py"):
            command = [ctx.options.python, inside]  # the image's Python with the `opensips` package
        else:
            command = script_command(ctx, Path(script), inside)
        if isinstance(command, Broken):
            return command
        # the script sees its container's paths (volumes, the test folder on its mount point)
        wrapped = container_view(ctx, [*command, *ctx.config_args()])
        if isinstance(wrapped, Broken):
            return wrapped
        return Launch(argv=wrapped, cwd=ctx.scenario.directory, env=env, what="opensips-mi")
    program = shutil.which("opensips-mi")
    if program is None:
        return NotRun("the opensips-mi command is not installed")
    argv = [program, "-t", mi_type, "-i", mi_ip, "-p", mi_port]
    return Launch(argv=[*argv, *ctx.config_args()], cwd=ctx.scenario.directory, env=env, what="opensips-mi")


def cli_launch(ctx: TaskContext) -> Launch | NotRun:
    program = shutil.which("opensips-cli")
    if program is None:
        return NotRun("opensips-cli is not installed")
    script, missing = _script(ctx)
    if missing is not None:
        return missing
    argv = [program]
    config = ctx.spec.get("config_file")
    if config:
        path = ctx.paths.resolve(str(config), ctx.spec.mount_point)
        if path is None or not path.is_file():
            return NotRun(f"opensips-cli configuration {config} is not shipped with the test")
        argv += ["-f", str(path)]
    ip = ctx.setting("mi_ip", "127.0.0.1")
    port = ctx.setting("mi_port", MI_DEFAULT_PORT)
    path_part = ctx.setting("mi_path", MI_DEFAULT_PATH)
    argv += ["-o", f"url=http://{ip}:{port}/{path_part}"]
    if script is not None:
        argv.append(script)
    options = ctx.setting("options") or {}
    for key, value in options.items():
        argv += ["-o", f"{key}={value}"]
    return Launch(argv=[*argv, *ctx.config_args()], cwd=ctx.scenario.directory, what="opensips-cli")
