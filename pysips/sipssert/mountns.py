"""Run a command with a container's view of the file system: `python3 mountns.py TARGET=SOURCE... -- CMD`.

The runner starts this file under `unshare -m` (a private mount namespace, so nothing here is seen
by the rest of the host) to give a check script the paths its SIPssert container has: the test folder
on /home, each volume on its bind path (`/var/lib/opensips/db_sqlite`), a private /tmp and /run.
Each SOURCE is opened before anything is mounted, and mounted through its descriptor: a mount over
/tmp would otherwise hide sources that live under /tmp (the runner's log folder usually does).
Mount points missing on the host are created (empty folders, left in place; their content is only
ever visible inside such a namespace). Deliberately standard library only: it runs as a plain file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

MS_BIND = 0x1000
MS_REC = 0x4000


def _mount_bind(libc: ctypes.CDLL, fd: int, target: str) -> None:
    source = f"/proc/self/fd/{fd}".encode()
    if libc.mount(source, target.encode(), None, MS_BIND | MS_REC, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot bind-mount onto {target}: {os.strerror(err)}")


def parse(argv: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: mountns.py TARGET=SOURCE... -- COMMAND [ARG...]")
    cut = argv.index("--")
    binds = []
    for item in argv[:cut]:
        target, sep, source = item.partition("=")
        if not sep or not target.startswith("/") or not source:
            raise SystemExit(f"mountns: bad bind {item!r} (TARGET=SOURCE, TARGET absolute)")
        binds.append((target, source))
    command = argv[cut + 1 :]
    if not command:
        raise SystemExit("mountns: no command")
    return binds, command


def main(argv: list[str]) -> int:
    binds, command = parse(argv)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    # every source first, while no mount hides it yet
    opened = [(target, os.open(source, os.O_PATH | os.O_CLOEXEC)) for target, source in binds]
    # parents before the folders inside them (a volume inside a mounted folder stays visible)
    for target, fd in sorted(opened, key=lambda item: item[0].rstrip("/").count("/")):
        if os.path.islink(target):
            continue  # /var/run -> /run: the image has the same link, the real folder gets its mount
        os.makedirs(target, exist_ok=True)
        _mount_bind(libc, fd, target)
        os.close(fd)
    os.execvp(command[0], command)
    return 127  # not reached: execvp replaces this process or raises


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except OSError as exc:
        print(f"mountns: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        sys.exit(126)
