"""Container paths to local paths: the test folder's mount point and the scenario's volumes."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath


class PathMap:
    """Translates paths seen by one container into host paths.

    `binds` pairs a container folder (`/home`, `/var/lib/opensips/db_sqlite`) with the host folder
    that stands in for it; the longest matching container folder wins, as with nested mounts."""

    __slots__ = ("_binds", "_pattern")

    def __init__(self, binds: list[tuple[str, Path]]) -> None:
        cleaned = {str(PurePosixPath(c)): h for c, h in binds if c.startswith("/")}
        self._binds = sorted(cleaned.items(), key=lambda kv: len(kv[0]), reverse=True)
        if self._binds:
            alternatives = "|".join(re.escape(c) for c, _ in self._binds)
            self._pattern: re.Pattern[str] | None = re.compile(
                rf"(?<![\w.-])(?:{alternatives})(?=/|[^\w.-]|$)"
            )
        else:
            self._pattern = None

    def binds(self) -> list[tuple[str, Path]]:
        """(container folder, host folder) pairs, the longest container folder first."""
        return list(self._binds)

    def host(self, container_path: str) -> Path | None:
        """The host path for an absolute container path, or None when no mount covers it."""
        if not container_path.startswith("/"):
            return None
        path = PurePosixPath(container_path)
        for container, host in self._binds:
            try:
                rest = path.relative_to(container)
            except ValueError:
                continue
            return host / rest if str(rest) != "." else host
        return None

    def resolve(self, path: str, relative_to: str) -> Path | None:
        """`path` as the task names it (relative ones are inside `relative_to`, a container folder)."""
        absolute = path if path.startswith("/") else str(PurePosixPath(relative_to) / path)
        return self.host(absolute)

    def text(self, text: str) -> str:
        """`text` with every mounted container folder replaced by its host folder (for config files)."""
        if self._pattern is None:
            return text
        table = dict(self._binds)
        return self._pattern.sub(lambda m: str(table[m.group(0)]), text)
