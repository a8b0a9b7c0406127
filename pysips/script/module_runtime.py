"""A module's runtime in this process: what its init returned, kept in ProcessState.modules under
the module's name. Script functions reach their own module's state through it."""

from __future__ import annotations

from typing import TypeVar

from pysips.script.context import ProcessState

Runtime = TypeVar("Runtime")


def module_runtime(process: ProcessState, name: str, kind: type[Runtime]) -> Runtime:
    """The `name` module's runtime, which must be a `kind`; RuntimeError when the module was not
    initialised in this process (a function called before init, or from a process without it)."""
    found = process.modules.get(name)
    if not isinstance(found, kind):
        raise RuntimeError(f"the {name} module is not initialised in this process")
    return found
