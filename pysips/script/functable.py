"""The script's function table: core functions, the loaded modules' own, then fallback aliases.

A fallback (`FunctionExport.fallback`) only fills a name no loaded module exports itself, so a
1.x script calling `is_method()` after loading only textops gets sipmsgops's implementation, while
a script loading sipmsgops gets the same one with no warning about textops hiding it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pysips.script.compile_state import FunctionEntry
from pysips.script.errors import Problems
from pysips.script.exports import FunctionExport
from pysips.script.loader import ModuleFinder, ModuleLoadError

if TYPE_CHECKING:
    from pysips.script.compile import LoadedModule


def build_function_table(
    core: Iterable[FunctionExport],
    modules: dict[str, LoadedModule],
    finder: ModuleFinder,
    problems: Problems,
) -> dict[str, FunctionEntry]:
    functions: dict[str, FunctionEntry] = {}
    for fexp in core:
        functions[fexp.name] = FunctionEntry(fexp, "core", {})
    fallbacks: list[tuple[LoadedModule, FunctionExport]] = []
    for name, mod in modules.items():
        for fexp in mod.exports.functions:
            if fexp.fallback:
                fallbacks.append((mod, fexp))
                continue
            if fexp.name in functions:
                problems.warn(
                    mod.pos,
                    f"function {fexp.name}() of module {name!r} hides one of {functions[fexp.name].module!r}",
                )
                continue
            functions[fexp.name] = FunctionEntry(fexp, name, mod.params)
    for mod, fexp in fallbacks:
        if fexp.name not in functions:
            entry = _fallback_entry(mod, fexp, modules, finder)
            if entry is not None:
                functions[fexp.name] = entry
    return functions


def _fallback_entry(
    mod: LoadedModule, fexp: FunctionExport, modules: dict[str, LoadedModule], finder: ModuleFinder
) -> FunctionEntry | None:
    """None when the provider cannot stand in unloaded: the name then stays unknown."""
    if fexp.alias_of is None:
        return FunctionEntry(fexp, mod.name, mod.params)
    provider, target_name = fexp.alias_of
    loaded = modules.get(provider)
    params: dict[str, Any]
    if loaded is not None:
        exports, params = loaded.exports, loaded.params
    else:
        try:
            found = finder.find(provider)
        except ModuleLoadError:
            return None
        if found is None:
            return None
        exports = found.exports
        # Not loaded means not initialised: only a provider with no runtime state of its own, and
        # whose dependencies the script loads, can lend its functions.
        if exports.init is not None or any(dep not in modules for dep in exports.deps):
            return None
        params = {p.name: ([] if p.multi else p.default) for p in exports.params}
    target = exports.functions_by_name.get(target_name)
    if target is None or target.fallback:
        return None
    return FunctionEntry(dataclasses.replace(target, name=fexp.name), provider, params)
