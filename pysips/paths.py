"""Where the grammar and the bundled modules live.

In a wheel they are data inside the pysips package; in a source checkout they sit beside it at the
top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE_DIR / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


def grammar_dir() -> Path:
    return _data_dir("grammar")


def modules_dir() -> Path:
    return _data_dir("modules")
