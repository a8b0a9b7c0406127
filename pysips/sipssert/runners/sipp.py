"""`uac-sipp` / `uas-sipp` tasks: sipp with the arguments SIPssert builds, bound to the task's address.

SIPssert's order: -sf FILE, -au, -ap, -s SERVICE, -p PORT, -i IP, -key K V..., -m CALLS, -d DURATION,
then the proxy (remote host) as the positional argument; a UAC adds `-key caller` and `-rsa` (when
both `proxy` and `remote` are given, `remote` is the positional host and `proxy` the sending address),
and a task without `config_file` uses sipp's built-in `uac`/`uas`. Here `-bind_local` keeps sipp on
its own loopback address and the traces go to the test's log folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from pysips.sipssert.runners.base import Broken, Endpoint, Launch, NotRun, TaskContext

DEFAULT_SCENARIO = "sipp.xml"


def _port(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).split("/")[0]


_CDATA = re.compile(r"(<!\[CDATA\[.*?\]\]>)", re.S)
_ATTRIBUTE = re.compile(r'(\s[\w:.-]+\s*=\s*")([^"]*)(")')


def escape_attribute_lt(text: str) -> str:
    """A bare `<` inside an attribute value (SIPssert's regexps: `regexp="<sip:(...)"`) escaped as
    `&lt;`: the sipp of SIPssert's image reads it, the sipp installed here refuses the scenario
    ("Invalid XML") or misreads the elements after it. CDATA (the SIP messages) is left alone."""

    def fix_value(m: re.Match[str]) -> str:
        return m.group(1) + m.group(2).replace("<", "&lt;") + m.group(3)

    parts = _CDATA.split(text)
    return "".join(p if p.startswith("<![CDATA[") else _ATTRIBUTE.sub(fix_value, p) for p in parts)


def scenario_file(ctx: TaskContext) -> Path | Broken | None:
    name = ctx.spec.get("config_file")
    if name is None:
        default = ctx.scenario.directory / DEFAULT_SCENARIO
        return default if default.is_file() else None
    path = ctx.paths.resolve(str(name), ctx.spec.mount_point)
    if path is None or not path.is_file():
        return Broken(f"sipp scenario {name} not found in the test folder")
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    mapped = escape_attribute_lt(ctx.addresses.text(text))
    if mapped == text:
        return path
    # the scenario names docker addresses itself: run a copy with them mapped
    copy = ctx.workdir / f"{ctx.slug()}.{path.name}"
    copy.write_text(mapped, encoding="utf-8", errors="surrogateescape")
    return copy


def sipp_arguments(ctx: TaskContext, scenario: Path | None) -> list[str]:
    spec = ctx.spec
    uac = spec.kind == "uac-sipp"
    username = ctx.setting("username")
    password = ctx.setting("password")
    service = ctx.setting("service")
    proxy = ctx.setting("proxy")
    remote = ctx.setting("remote") if uac else None
    if uac:
        if proxy and remote:
            proxy, remote = remote, proxy
        elif not proxy:
            proxy, remote = remote, None
        if not service:
            service = ctx.setting("destination", username)
    elif not service:
        service = username
    keys = dict(ctx.setting("keys") or {})
    if "scenario" not in keys:
        keys["scenario"] = spec.get("scenario") or ctx.scenario.directory.name
    calls = str(spec.get("calls", "1"))
    duration = str(spec.get("duration", "5000"))

    args: list[str] = []
    if scenario is not None:
        args += ["-sf", str(scenario)]
    if username:
        args += ["-au", str(username)]
    if password:
        args += ["-ap", str(password)]
    if service:
        args += ["-s", str(service)]
    port = _port(spec.get("port"))
    if port:
        args += ["-p", port]
    args += ["-i", ctx.ip]
    for key, value in keys.items():
        args += ["-key", str(key), str(value)]
    if calls != "unlimited":
        args += ["-m", calls]
    if duration != "0":
        args += ["-d", duration]
    if proxy:
        args.append(str(proxy))
    if scenario is None:
        args += ["-sn", "uac" if uac else "uas"]
    if uac:
        caller = ctx.setting("caller", username)
        if caller:
            args += ["-key", "caller", str(caller)]
        if remote:
            args += ["-rsa", str(remote)]
    return args


def sipp_launch(ctx: TaskContext) -> Launch | NotRun | Broken:
    sipp = shutil.which("sipp")
    if sipp is None:
        return Broken("sipp is not installed")
    if ctx.spec.get("proxy") is None and ctx.spec.get("remote") is None and ctx.spec.kind == "uac-sipp":
        return Broken("uac-sipp task without 'proxy' or 'remote'")
    scenario = scenario_file(ctx)
    if isinstance(scenario, Broken):
        return scenario
    logs = ctx.workdir / ctx.slug()
    traces = [
        "-bind_local",
        "-nostdin",
        "-trace_err",
        "-error_file",
        f"{logs}.errors.log",
        "-trace_msg",
        "-message_file",
        f"{logs}.messages.log",
        "-trace_screen",
        "-screen_file",
        f"{logs}.screen.log",
    ]
    argv = [sipp, *sipp_arguments(ctx, scenario), *ctx.config_args(), *traces]
    port = _port(ctx.spec.get("port"))
    endpoints = (Endpoint("udp", ctx.ip, int(port)),) if port and port.isdigit() else ()
    return Launch(argv=argv, cwd=ctx.scenario.directory, endpoints=endpoints, what="sipp")
