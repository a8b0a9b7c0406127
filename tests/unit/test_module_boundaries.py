"""Modules talk through declared services only: checked on the source with `ast`.

Walks every Python file of modules/ and pysips/ and fails on
- an import of another module's code: `from usrloc.contact import ...`, `modules.tm...`,
  `pysips_modules.rr...` (relative imports inside a module are its own business; pysips/ imports
  no module at all);
- a lookup of another module's runtime by name: `process.modules.get("tm")`,
  `process.modules["usrloc"]` (a module may read its own slot; pysips/ reads none by name);
- `hasattr(...)` anywhere, except on the `socket` module (whether the platform has an option).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "modules"
PYSIPS = ROOT / "pysips"
BUNDLED = {p.name for p in MODULES.iterdir() if (p / "__init__.py").is_file()}
# hasattr(<name>, ...) allowed when <name> is one of these: platform capability checks
HASATTR_ALLOWED_OBJECTS = {"socket", "pysocket"}


def _files() -> Iterator[tuple[Path, str | None]]:
    """(file, the bundled module it belongs to, or None for pysips/)."""
    for path in sorted(MODULES.rglob("*.py")):
        yield path, path.relative_to(MODULES).parts[0]
    for path in sorted(PYSIPS.rglob("*.py")):
        yield path, None


def _imported_module(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def _foreign_import(name: str, owner: str | None) -> bool:
    parts = name.split(".")
    if parts[0] in ("modules", "pysips_modules") or parts[0].startswith("pysips_modules_"):
        target = parts[1] if len(parts) > 1 else ""
        return owner is None or target != owner
    # a bundled module named like a standard library one (json) is not what `import json` means
    return parts[0] in BUNDLED and parts[0] != owner and parts[0] not in sys.stdlib_module_names


def _modules_key(node: ast.AST) -> str | None:
    """The constant name in `<x>.modules.get("name")`, `<x>.modules["name"]` or
    `module_runtime(<process>, "name", <type>)` (pysips.script.module_runtime)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "module_runtime":
        name = node.args[1] if len(node.args) > 1 else None
        return name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        holder, args = node.func.value, node.args
    elif isinstance(node, ast.Subscript):
        holder, args = node.value, [node.slice]
    else:
        return None
    if not (isinstance(holder, ast.Attribute) and holder.attr == "modules"):
        return None
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return args[0].value
    return None


def violations(path: Path, owner: str | None) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []
    where = path.relative_to(ROOT)
    for node in ast.walk(tree):
        for name in _imported_module(node):
            if _foreign_import(name, owner):
                found.append(f"{where}:{node.lineno}: imports {name}")
        key = _modules_key(node)
        if key is not None and key != owner:
            found.append(f"{where}:{node.lineno}: looks up module {key!r} by name")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr":
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Name) and first.id in HASATTR_ALLOWED_OBJECTS):
                found.append(f"{where}:{node.lineno}: hasattr probe")
    return sorted(found, key=lambda text: int(text.split(":")[1]))


def test_no_module_reaches_into_another_or_probes() -> None:
    problems = [v for path, owner in _files() for v in violations(path, owner)]
    assert problems == []


def test_the_checker_sees_each_kind_of_violation(tmp_path: Path) -> None:
    """The rules above must catch what they are about (so an empty result means something)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from usrloc.contact import UContact\n"
        "import pysips_modules.tm.runtime\n"
        "from .own import thing\n"
        "def f(ctx, socket):\n"
        "    tm = ctx.process.modules.get('tm')\n"
        "    me = ctx.process.modules.get('registrar')\n"
        "    other = ctx.process.modules['usrloc']\n"
        "    if hasattr(tm, 'reply'): pass\n"
        "    if hasattr(socket, 'SO_REUSEPORT'): pass\n"
        "    mine = module_runtime(ctx.process, 'registrar', Registrar)\n"
        "    theirs = module_runtime(ctx.process, 'dialog', Dialogs)\n"
    )
    global ROOT
    saved = ROOT
    ROOT = tmp_path
    try:
        found = violations(sample, "registrar")
    finally:
        ROOT = saved
    assert found == [
        "sample.py:1: imports usrloc.contact",
        "sample.py:2: imports pysips_modules.tm.runtime",
        "sample.py:5: looks up module 'tm' by name",
        "sample.py:7: looks up module 'usrloc' by name",
        "sample.py:8: hasattr probe",
        "sample.py:11: looks up module 'dialog' by name",
    ]
