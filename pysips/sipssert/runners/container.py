"""What a check task's container gives its command: the same paths, and the image's shell.

A check script names the paths of its container (`sqlite3 /var/lib/opensips/db_sqlite/opensips.db`,
`/home/scripts/check.sh`). It runs here in a private mount namespace (`unshare -m`, see mountns.py)
with the test folder, the volumes and a private /tmp and /run bind-mounted where the container has
them, so every path in it, and in whatever it runs, resolves as under SIPssert.

The shell is the image's: Alpine-based images (`alpine`, `keinos/sqlite3`, `busybox`) have busybox
`sh`, which accepts `==` in `[` where Debian's dash stops with "unexpected operator"; the upstream
checks rely on it. Their other commands are busybox applets too.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from pysips.sipssert.runners.base import Broken, TaskContext

MOUNTNS = Path(__file__).resolve().parent.parent / "mountns.py"
# images whose /bin/sh and basic commands are busybox (keinos/sqlite3 is built on alpine)
BUSYBOX_IMAGES = ("alpine", "busybox", "keinos/sqlite3")
SHELLS = frozenset({"sh", "ash"})


def busybox_image(image: object) -> bool:
    if not image:
        return False
    name = str(image).split("@", 1)[0]
    repository = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    repository = repository.removeprefix("docker.io/").removeprefix("library/")
    return repository in BUSYBOX_IMAGES


@functools.cache
def busybox_applets() -> frozenset[str]:
    program = shutil.which("busybox")
    if program is None:
        return frozenset()
    listed = subprocess.run([program, "--list"], capture_output=True, text=True, check=False)
    return frozenset(listed.stdout.split())


def _shebang(script: Path) -> list[str] | None:
    """The interpreter line's words, None when the file is a binary or has no `#!`."""
    try:
        with script.open("rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    if line and Path(line[0]).name == "env":
        line = line[1:]
    return line or None


def is_text(script: Path) -> bool:
    try:
        with script.open("rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return not head.startswith(b"\x7fELF") and b"\x00" not in head


def script_command(ctx: TaskContext, host: Path, inside: str) -> list[str] | Broken:
    """How the container would run the script `inside` (shipped here as `host`)."""
    if not is_text(host):
        return [inside]
    interpreter = _shebang(host) or ["sh"]
    if Path(interpreter[0]).name not in SHELLS:
        return [*interpreter, inside]
    if busybox_image(ctx.spec.get("image")):
        if not busybox_applets():
            return Broken("busybox is not installed (scripts/setup installs it)")
        return ["busybox", "sh", *interpreter[1:], inside]
    return ["sh", *interpreter[1:], inside]


def program_command(ctx: TaskContext, program: str) -> list[str] | None:
    """A program found on the image's PATH: a busybox applet in busybox images, else this host's."""
    if busybox_image(ctx.spec.get("image")) and program in busybox_applets():
        return ["busybox", program]
    return [program] if shutil.which(program) else None


def container_view(ctx: TaskContext, argv: list[str]) -> list[str] | Broken:
    """`argv` wrapped to run in a private mount namespace with the task's mounts in place."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return Broken("unshare (util-linux) is not installed: check scripts need the container's paths")
    binds = [f"{container}={host}" for container, host in ctx.paths.binds()]
    namespace = [unshare, "--mount", "--propagation", "private"]
    return [*namespace, ctx.options.python, str(MOUNTNS), *binds, "--", *argv]
