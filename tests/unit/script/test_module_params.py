"""Module parameters that name pseudo-variables see every loaded module's variables, as OpenSIPS
fixes them up in mod_init; module init gets the script's registry too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_compile_support import HEADER

from pysips.script.compile import LoadOptions, check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.errors import ScriptLoadError
from pysips.script.parse import parse_text

DATA_MODULES = Path(__file__).resolve().parent / "data" / "modules"


def _load(text: str) -> Any:
    return load_script(parse_text(text, "t.cfg"), LoadOptions(mpath=str(DATA_MODULES)))


def test_resolve_sees_a_variable_of_a_module_loaded_later() -> None:
    loaded = _load(
        'loadmodule "pvmod.so"\n'
        'loadmodule "tm.so"\n'
        'modparam("pvmod", "spec", "$T_reply_code")\n'
        'modparam("pvmod", "specs", "$pvmod_code")\n'
        'modparam("pvmod", "specs", "$var(x)")\n'
        "route { exit; }\n"
    )
    params = loaded.modules["pvmod"].params
    assert params["spec"].name == "$T_reply_code"
    ctx = MsgContext(ProcessState())
    assert params["specs"][0].get(ctx) == 487
    ctx.process.vars["x"] = "seven"
    assert params["specs"][1].get(ctx) == "seven"


def test_unknown_variable_in_a_parameter_is_a_load_error_at_the_modparam() -> None:
    report = check_script(
        parse_text('loadmodule "pvmod.so"\nmodparam("pvmod", "spec", "$nosuch")\nroute { exit; }\n', "t.cfg"),
        LoadOptions(mpath=str(DATA_MODULES)),
    )
    errors = [p.format() for p in report.problems if not p.warning]
    assert len(errors) == 1 and errors[0].startswith("t.cfg:2:1:") and "modparam pvmod.spec" in errors[0]


def test_init_gets_the_registry_with_module_variables() -> None:
    loaded = _load('loadmodule "pvmod.so"\nloadmodule "tm.so"\nroute { exit; }\n')
    process = ProcessState()
    loaded.init_modules(process)
    registry = process.modules["pvmod"]["ictx"].pv_registry
    assert registry is loaded.pv_registry
    assert registry.known("T_reply_code") and registry.known("pvmod_code")


@pytest.mark.parametrize(
    "modparam",
    [
        'modparam("acc", "log_extra", "code=$T_reply_code;ua=$hdr(User-Agent)")',
        'modparam("auth", "password_spec", "$T_reply_code")',
    ],
)
def test_bundled_modules_take_module_variables_in_parameters(modparam: str) -> None:
    text = HEADER.replace('loadmodule "testmod.so"\n', "") + (
        'loadmodule "tm.so"\nloadmodule "sl.so"\nloadmodule "signaling.so"\n'
        'loadmodule "acc.so"\nloadmodule "auth.so"\n'
        + modparam
        + "\nroute { exit; }\n"
    )
    try:
        load_script(parse_text(text, "t.cfg"))
    except ScriptLoadError as exc:
        pytest.fail(str([p.format() for p in exc.problems]))
