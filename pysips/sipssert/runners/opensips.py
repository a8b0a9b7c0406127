"""`opensips` tasks: pysips running the test's script, with the docker addresses and paths mapped.

SIPssert mounts the test folder on /etc/opensips and passes `-f` (when `config_file` is set) and
`-l SOCKET` for `socket`/`sockets`. pysips has no `-l`, so the sockets become `socket=` statements on
the script's first line, which keeps every other line where it was (errors keep their line numbers).
"""

from __future__ import annotations

import re

from pysips.sipssert.dbmap import map_script_hashes
from pysips.sipssert.runners.base import Broken, Endpoint, Launch, TaskContext, parse_socket

DEFAULT_SCRIPT = "opensips.cfg"  # the image's /etc/opensips/opensips.cfg, i.e. the test's own
# the last lines pysips logs at start-up (L_NOTICE), once every SIP socket is bound
READY_LINE = "NOTICE:server: listening on "
# the script's own sockets, when the task names none (SIPssert passes those with -l)
SCRIPT_SOCKET = re.compile(r"^[ \t]*(?:socket|listen)[ \t]*=[ \t]*([^\s#]+)", re.MULTILINE)
IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def task_sockets(ctx: TaskContext) -> list[str]:
    sockets: list[str] = []
    single = ctx.setting("socket")
    if single:
        sockets.append(str(single))
    many = ctx.setting("sockets") or []
    sockets.extend(str(s) for s in (many if isinstance(many, list) else [many]))
    return sockets


HTTPD_LOAD = re.compile(r'^(\s*loadmodule\s+"httpd(?:\.so)?"[^\n#]*)', re.MULTILINE)
HTTPD_ADDRESS_PARAM = re.compile(r'modparam\(\s*"httpd"\s*,\s*"(?:ip|socket)"')


def pin_httpd(text: str, ip: str) -> str:
    """Bind httpd to the task's address when the script leaves it to the default.

    In a container the default reaches the MI on the container's own address (where SIPssert's MI
    tasks look for it); on a shared host it would be one port for every test."""
    if HTTPD_ADDRESS_PARAM.search(text):
        return text
    return HTTPD_LOAD.sub(lambda m: f'{m.group(1)} modparam("httpd", "ip", "{ip}")', text, count=1)


def render_script(ctx: TaskContext, text: str, sockets: list[str]) -> str:
    defines = [str(v) for v in ctx.scenario.defines.values() if isinstance(v, str | int) and str(v)]
    text = map_script_hashes(text, ctx.addresses, defines)
    text = pin_httpd(ctx.addresses.text(ctx.paths.text(text)), ctx.ip)
    if not sockets:
        return text
    prefix = " ".join(f"socket={s}" for s in sockets)
    return f"{prefix} {text}"


def script_endpoints(text: str) -> list[Endpoint]:
    """The sockets a script declares with an address we can watch (`*` means every address)."""
    found: list[Endpoint] = []
    for match in SCRIPT_SOCKET.finditer(text):
        endpoint = parse_socket(match.group(1).strip("\"'"))
        if endpoint is None:
            continue
        if endpoint.address == "*":
            endpoint = Endpoint(endpoint.proto, "0.0.0.0", endpoint.port)
        if IPV4.match(endpoint.address):
            found.append(endpoint)
    return found


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
    script_text = render_script(ctx, text, sockets)
    rendered.write_text(script_text, encoding="utf-8", errors="surrogateescape")
    endpoints: list[Endpoint] = [e for e in (parse_socket(s) for s in sockets) if e is not None]
    if not sockets:
        endpoints = script_endpoints(script_text)
        if not SCRIPT_SOCKET.search(script_text):
            endpoints = [Endpoint("udp", "0.0.0.0", 5060)]  # no socket at all: udp:*:5060, as OpenSIPS
    argv = [*ctx.options.pysips, "-F", "-E", "-f", str(rendered), *ctx.config_args()]
    return Launch(
        argv=argv,
        cwd=script.parent,
        endpoints=tuple(endpoints),
        what="pysips",
        bind_timeout=ctx.options.startup_timeout,
        strict_bind=True,
        ready_line=READY_LINE,
    )
