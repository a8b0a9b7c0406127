"""Fallback exports: a 1.x name (textops's is_method) answers only when no loaded module exports
the name, through the provider's implementation, without loading or warning about the provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_compile_support import INVITE, RCV, message

from pysips.script.compile import CheckReport, LoadedScript, LoadOptions, check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text

DATA_MODULES = Path(__file__).resolve().parent / "data" / "modules"


def _options() -> LoadOptions:
    return LoadOptions(mpath=str(DATA_MODULES))


def _load(text: str) -> LoadedScript:
    return load_script(parse_text(text, "t.cfg"), _options())


def _check(text: str) -> CheckReport:
    return check_script(parse_text(text, "t.cfg"), _options())


def _run(loaded: LoadedScript, data: bytes = INVITE) -> tuple[int, MsgContext]:
    route = loaded.main_route
    assert route is not None
    ctx = MsgContext(ProcessState(), message(data), RCV)
    return loaded.run(route, ctx), ctx


def _calls(ctx: MsgContext) -> list[tuple[Any, ...]]:
    result: list[tuple[Any, ...]] = ctx.extra.get("calls", [])
    return result


def test_alias_runs_the_provider_function_without_loading_it() -> None:
    loaded = _load('loadmodule "oldmod.so"\nroute { t_old("x"); shared_fn(); own_fallback(); }\n')
    assert list(loaded.modules) == ["oldmod"]
    assert loaded.warnings == []
    _, ctx = _run(loaded)
    assert _calls(ctx) == [("provmod.t_new", "x"), ("provmod.shared_fn",), ("oldmod.own_fallback",)]


def test_alias_keeps_the_provider_checks_and_parameter_defaults() -> None:
    report = _check('loadmodule "oldmod.so"\nfailure_route[f] { t_old("x"); }\nroute { t_old(); }\n')
    errors = [p.format() for p in report.problems if not p.warning]
    assert any("t.cfg:3:9:" in e and "takes 1 argument" in e for e in errors), errors
    assert any("t.cfg:2:20:" in e and "t_old() cannot be used in failure_route" in e for e in errors), errors
    _, ctx = _run(_load('loadmodule "oldmod.so"\nroute { t_param("v"); }\n'))
    assert _calls(ctx) == [("provmod.t_param", "v-default")]


def test_a_loaded_provider_wins_silently_and_its_parameters_apply() -> None:
    loaded = _load(
        'loadmodule "oldmod.so"\nloadmodule "provmod.so"\nmodparam("provmod", "suffix", "-set")\n'
        'route { shared_fn(); t_param("v"); t_old("y"); }\n'
    )
    assert loaded.warnings == []
    _, ctx = _run(loaded)
    assert _calls(ctx) == [("provmod.shared_fn",), ("provmod.t_param", "v-set"), ("provmod.t_new", "y")]


def test_two_modules_with_the_same_fallback_do_not_warn() -> None:
    loaded = _load('loadmodule "oldmod.so"\nloadmodule "oldmod2.so"\nroute { shared_fn(); }\n')
    assert loaded.warnings == []


def test_a_provider_with_state_or_missing_stays_unknown() -> None:
    report = _check('loadmodule "oldmod.so"\nroute { stateful(); nowhere_fn(); }\n')
    errors = [p.format() for p in report.problems if not p.warning]
    assert sorted(report.unknown_functions) == ["nowhere_fn", "stateful"], errors
    loaded = _load('loadmodule "oldmod.so"\nloadmodule "statemod.so"\nroute { stateful(); }\n')
    assert loaded.warnings == []


def test_textops_answers_the_1x_sipmsgops_functions() -> None:
    loaded = _load(
        'loadmodule "textops.so"\nloadmodule "uri.so"\n'
        'route { if (is_method("INVITE") && !has_totag() && !is_present_hf("Route")) '
        'append_hf("X-Old: 1\\r\\n"); else exit; }\n'
    )
    assert set(loaded.modules) == {"textops", "uri"}
    code, ctx = _run(loaded)
    assert code == 1 and not ctx.exit_requested
    code, ctx = _run(loaded, INVITE.replace(b"To: <sip:bob@remote.org>", b"To: <sip:bob@remote.org>;tag=b"))
    assert ctx.exit_requested


def test_textops_with_sipmsgops_loaded_does_not_warn() -> None:
    loaded = _load('loadmodule "textops.so"\nloadmodule "sipmsgops.so"\nroute { is_method("INVITE"); }\n')
    assert loaded.warnings == []
