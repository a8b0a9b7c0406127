"""The module system: find and import the module named by `loadmodule`.

`loadmodule "tm.so"` (or "tm", or "/usr/lib/opensips/modules/tm.so") names module `tm`. It is
searched, in order, in the script's `mpath` (when that folder holds a pysips module of that name),
the bundled modules folder, then the `pysips.modules` entry-point group. A bundled or mpath module
is a package folder with an `__init__.py` defining `exports`; it is imported by file path under a
private package name (`pysips_modules.tm`), never as a top-level `modules` package.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysips.paths import modules_dir
from pysips.script.exports import ModuleExports

ENTRY_POINT_GROUP = "pysips.modules"
_BUNDLED_PACKAGE = "pysips_modules"


class ModuleLoadError(Exception):
    """The module exists but cannot be imported or does not define `exports`."""


@dataclass(frozen=True, slots=True)
class FoundModule:
    name: str
    exports: ModuleExports
    origin: str  # a folder path, or "entry point <value>"


def module_name(path: str) -> str:
    """`"/usr/lib/opensips/modules/tm.so"` -> `"tm"`."""
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return base[:-3] if base.endswith(".so") else base


def _private_package(folder: Path) -> str:
    """The package name modules of `folder` are imported under."""
    if folder.resolve() == modules_dir().resolve():
        return _BUNDLED_PACKAGE
    digest = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
    return f"{_BUNDLED_PACKAGE}_{digest}"


def _ensure_package(name: str, folder: Path) -> None:
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(folder)]
        sys.modules[name] = pkg


def _exports_of(obj: Any, origin: str) -> ModuleExports:
    exports = obj if isinstance(obj, ModuleExports) else getattr(obj, "exports", None)
    if not isinstance(exports, ModuleExports):
        raise ModuleLoadError(f"{origin} does not define `exports = ModuleExports(...)`")
    return exports


def _import_folder(name: str, folder: Path) -> ModuleExports:
    package = _private_package(folder)
    full = f"{package}.{name}"
    loaded = sys.modules.get(full)
    if loaded is None:
        _ensure_package(package, folder)
        init = folder / name / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            full, init, submodule_search_locations=[str(folder / name)]
        )
        if spec is None or spec.loader is None:
            raise ModuleLoadError(f"cannot import {init}")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[full] = loaded
        try:
            spec.loader.exec_module(loaded)
        except Exception as exc:
            del sys.modules[full]
            raise ModuleLoadError(f"importing {init} failed: {type(exc).__name__}: {exc}") from exc
    return _exports_of(loaded, str(folder / name))


def _is_module_folder(folder: Path, name: str) -> bool:
    return (folder / name / "__init__.py").is_file()


class ModuleFinder:
    def __init__(self, mpath: str | None = None, base_dir: Path | None = None) -> None:
        self.search: list[Path] = []
        if mpath:
            p = Path(mpath)
            if not p.is_absolute() and base_dir is not None:
                p = base_dir / p
            self.search.append(p)
        self.search.append(modules_dir())
        self.broken: dict[str, str] = {}  # filled by available(): modules that failed to import
        self._eps: dict[str, importlib.metadata.EntryPoint] | None = None

    def _entry_points(self) -> dict[str, importlib.metadata.EntryPoint]:
        # Scanning installed distributions is slow: once per finder (one script load).
        if self._eps is None:
            self._eps = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
        return self._eps

    def find(self, written: str) -> FoundModule | None:
        """None when no module of that name exists; ModuleLoadError when it exists but is broken."""
        name = module_name(written)
        if not name.isidentifier():
            return None
        candidates = list(self.search)
        written_dir = Path(written).parent
        if "/" in written and written_dir not in candidates:
            candidates.insert(0, written_dir)
        for folder in candidates:
            if _is_module_folder(folder, name):
                exports = _import_folder(name, folder)
                return FoundModule(name, exports, str(folder / name))
        ep = self._entry_points().get(name)
        if ep is not None:
            try:
                obj = ep.load()
            except Exception as exc:
                raise ModuleLoadError(f"entry point {ep.value} failed: {type(exc).__name__}: {exc}") from exc
            return FoundModule(name, _exports_of(obj, f"entry point {ep.value}"), f"entry point {ep.value}")
        return None

    def exists(self, name: str) -> bool:
        """A module of that name can be found, without importing it."""
        return any(_is_module_folder(folder, name) for folder in self.search) or name in self._entry_points()

    def available(self) -> list[FoundModule]:
        """Every module reachable from the search path and entry points (for `pysips modules`)."""
        seen: dict[str, FoundModule] = {}
        for folder in self.search:
            if not folder.is_dir():
                continue
            for child in sorted(folder.iterdir()):
                if child.name not in seen and _is_module_folder(folder, child.name):
                    try:
                        exports = _import_folder(child.name, folder)
                    except ModuleLoadError as exc:
                        self.broken[child.name] = str(exc)
                        continue
                    seen[child.name] = FoundModule(child.name, exports, str(child))
        for ep in self._entry_points().values():
            if ep.name not in seen:
                seen[ep.name] = FoundModule(
                    ep.name, _exports_of(ep.load(), ep.value), f"entry point {ep.value}"
                )
        return [seen[k] for k in sorted(seen)]
