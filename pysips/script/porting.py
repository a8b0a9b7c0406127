"""What the porting report says about a function pysips does not know: which OpenSIPS module
provides it (from the generated fact table opensips_functions.py) and what to do about it."""

from __future__ import annotations

from collections.abc import Callable, Collection

from pysips.script.opensips_functions import CURRENT, OLDER


def opensips_provider(name: str) -> tuple[str, str | None] | None:
    """(OpenSIPS module, None) for a current function; (module, last release) for an older one."""
    module = CURRENT.get(name)
    if module is not None:
        return module, None
    old = OLDER.get(name)
    return old if old is not None else None


def provider_note(name: str) -> str | None:
    """"OpenSIPS module 'dialog'" (or "... up to OpenSIPS 2.4") for the porting summary."""
    found = opensips_provider(name)
    if found is None:
        return None
    module, last = found
    where = "OpenSIPS core" if module == "core" else f"OpenSIPS module {module!r}"
    return where if last is None else f"{where} (up to OpenSIPS {last})"


def unknown_function_message(
    name: str, loaded: Collection[str], available: Callable[[str], bool]
) -> str:
    """The load error for a call to `name()` that no loaded module exports."""
    text = f"unknown function {name}()"
    found = opensips_provider(name)
    if found is None:
        return text
    module, last = found
    since = "" if last is None else f" (up to OpenSIPS {last})"
    if module == "core":
        return f"{text}: an OpenSIPS core function{since} that pysips does not have yet"
    if module in loaded:
        return f"{text}: provided by OpenSIPS module {module!r}{since}; pysips's does not have it yet"
    if available(module):
        return f'{text}: provided by OpenSIPS module {module!r}{since}; add loadmodule "{module}.so"'
    return f"{text}: provided by OpenSIPS module {module!r}{since}, which pysips does not have yet"
