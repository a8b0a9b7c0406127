"""`opensips-mi` and `opensips-cli` tasks: check scripts and commands against the management interface.

SIPssert runs an `opensips-mi` task's `script` with MI_TYPE/MI_IP/MI_PORT in its environment (the
python `opensips` package reads them), or without a script the `opensips-mi` command with
`-t TYPE -i IP -p PORT`. An `opensips-cli` task runs `opensips-cli -o url=http://IP:PORT/PATH` with
its `script` and `-o` options. A script that is not in the test folder is reported as not run.
"""

from __future__ import annotations

import os
import shutil

from pysips.sipssert.runners.base import Launch, NotRun, TaskContext

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


def mi_launch(ctx: TaskContext) -> Launch | NotRun:
    script, missing = _script(ctx)
    if missing is not None:
        return missing
    mi_type = str(ctx.setting("mi_type", MI_DEFAULT_TYPE))
    mi_ip = str(ctx.setting("mi_ip", "127.0.0.1"))
    mi_port = str(ctx.setting("mi_port", MI_DEFAULT_PORT))
    env = {"MI_TYPE": mi_type, "MI_IP": mi_ip, "MI_PORT": mi_port}
    if script is not None:
        if script.endswith(".py"):
            argv = [ctx.options.python, script]
        elif os.access(script, os.X_OK):
            argv = [script]
        else:
            argv = ["sh", script]
    else:
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
