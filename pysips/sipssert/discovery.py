"""Finding SIPssert tests under the folders given on the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCENARIO_FILE = "scenario.yml"
CONFIG_FILE = "config.yml"
DEFINES_FILE = "defines.yml"


@dataclass(frozen=True, slots=True)
class TestLocation:
    """One test folder and the folders whose templates apply to it (SIPssert's three levels)."""

    directory: Path  # holds scenario.yml
    set_directory: Path  # the test set: config.yml and defines.yml for every test in it
    root_directory: Path | None  # the run level: a defines.yml above the sets, if there is one

    @property
    def name(self) -> str:
        """`set/test`, as the report prints it."""
        return f"{self.set_directory.name}/{self.directory.name}"


def locate(test_dir: Path) -> TestLocation:
    test_dir = test_dir.resolve()
    set_dir = test_dir.parent
    root = set_dir.parent
    has_root = (root / DEFINES_FILE).is_file() and not (root / SCENARIO_FILE).is_file()
    return TestLocation(test_dir, set_dir, root if has_root else None)


def discover(paths: list[Path]) -> list[TestLocation]:
    """Tests in the given folders, in order: a test folder itself, or every test below a folder."""
    found: list[TestLocation] = []
    seen: set[Path] = set()
    for path in paths:
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: not a folder")
        if (path / SCENARIO_FILE).is_file():
            candidates = [path / SCENARIO_FILE]
        else:
            candidates = sorted(path.rglob(SCENARIO_FILE))
        for scenario in candidates:
            test_dir = scenario.parent.resolve()
            if test_dir not in seen:
                seen.add(test_dir)
                found.append(locate(test_dir))
    return found
