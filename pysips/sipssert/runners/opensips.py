"""`opensips` tasks: pysips running the test's script, with the docker addresses and paths mapped.

SIPssert mounts the test folder on /etc/opensips and passes `-f` (when `config_file` is set) and
`-l SOCKET` for `socket`/`sockets`. pysips has no `-l`, so the sockets become `socket=` statements on
the script's first line, which keeps every other line where it was (errors keep their line numbers).
"""

from __future__ import annotations

from pysips.sipssert.runners.base import Broken, Endpoint, Launch, TaskContext, parse_socket

DEFAULT_SCRIPT = "opensips.cfg"  # the image's /etc/opensips/opensips.cfg, i.e. the test's own
# pysips counts as started when its sockets are bound; a script that takes longer fails the test
STARTUP_TIMEOUT = 20.0


def task_sockets(ctx: TaskContext) -> list[str]:
    sockets: list[str] = []
    single = ctx.setting("socket")
    if single:
        sockets.append(str(single))
    many = ctx.setting("sockets") or []
    sockets.extend(str(s) for s in (many if isinstance(many, list) else [many]))
    return sockets


def render_script(ctx: TaskContext, text: str, sockets: list[str]) -> str:
    text = ctx.addresses.text(ctx.paths.text(text))
    if not sockets:
        return text
    prefix = " ".join(f"socket={s}" for s in sockets)
    return f"{prefix} {text}"


def opensips_launch(ctx: TaskContext) -> Launch | Broken:
    name = str(ctx.spec.get("config_file") or DEFAULT_SCRIPT)
    script = ctx.paths.resolve(name, ctx.spec.mount_point)
    if script is None or not script.is_file():
        return Broken(f"OpenSIPS script {name} not found in the test folder")
    try:
        text = script.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        return Broken(f"cannot read {script}: {exc.strerror}")
    sockets = task_sockets(ctx)
    rendered = ctx.workdir / f"{ctx.slug()}.cfg"
    rendered.write_text(render_script(ctx, text, sockets), encoding="utf-8", errors="surrogateescape")
    endpoints: list[Endpoint] = [e for e in (parse_socket(s) for s in sockets) if e is not None]
    argv = [*ctx.options.pysips, "-F", "-E", "-f", str(rendered), *ctx.config_args()]
    return Launch(
        argv=argv,
        cwd=script.parent,
        endpoints=tuple(endpoints),
        what="pysips",
        bind_timeout=STARTUP_TIMEOUT,
        strict_bind=True,
    )
