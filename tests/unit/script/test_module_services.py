"""The loader's side of module contracts: `requires` checked at load (OpenSIPS's wording), init in
dependency order, `provides` kept honest, MI commands and statistics registered after init,
destroy hooks listed in reverse order."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysips.script.compile import LoadedScript, LoadOptions, check_script, load_script
from pysips.script.context import ProcessState
from pysips.script.parse import parse_text

KEYS = """
from pysips.script.services import Service

ALPHA: Service[object] = Service("alpha", "provider")
ORDER: list[str] = []  # what the modules' init hooks did, in order
"""

PROVIDER = """
from pysips.mi import command
from pysips.script.exports import ModuleExports, ParamExport, ParamType, StatExport
from svc_test_keys import ALPHA, ORDER


def _init(ictx, params):
    ORDER.append("provider")
    if params["mode"] != "forget":
        ictx.provide(ALPHA, "alpha-impl")
    return {"hits": 3}


exports = ModuleExports(
    "provider", init=_init, provides=(ALPHA,), params=(ParamExport("mode", ParamType.STR, ""),),
    destroy=lambda runtime: None,
    mi_commands=(command("provider_hits", "hits", {(): lambda call: 42}, "provider"),),
    stats=(StatExport("hits", lambda rt: rt["hits"], lambda rt: rt.update(hits=0)),),
)
"""

CONSUMER = """
from pysips.script.exports import ModuleExports
from svc_test_keys import ALPHA, ORDER


def _init(ictx, params):
    ORDER.append("consumer:" + ictx.require(ALPHA))


exports = ModuleExports("consumer", requires=(ALPHA,), init=_init, destroy=lambda runtime: None)
"""

SNEAKY = """
from pysips.script.exports import ModuleExports
from svc_test_keys import ALPHA


def _init(ictx, params):
    ictx.provide(ALPHA, "undeclared")


exports = ModuleExports("sneaky", init=_init)
"""


@pytest.fixture
def mpath(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "mods"
    for name, text in (("provider", PROVIDER), ("consumer", CONSUMER), ("sneaky", SNEAKY)):
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(text)
    (tmp_path / "svc_test_keys.py").write_text(KEYS)  # the key both modules import
    sys.path.insert(0, str(tmp_path))
    yield folder
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n == "svc_test_keys" or n.startswith("pysips_modules_")]:
        del sys.modules[name]


def _script(*lines: str) -> str:
    return textwrap.dedent("\n".join(lines)) + '\nroute { exit; }\n'


def _load(mpath: Path, *lines: str) -> LoadedScript:
    return load_script(parse_text(_script(*lines), "s.cfg"), LoadOptions(mpath=str(mpath)))


def test_a_missing_provider_is_a_load_error_worded_as_opensips(mpath: Path) -> None:
    text = _script('loadmodule "consumer.so"')
    report = check_script(parse_text(text, "s.cfg"), LoadOptions(mpath=str(mpath)))
    assert [p.message for p in report.problems if not p.warning] == [
        "module consumer depends on module provider, but it was not loaded!"]


def test_providers_initialise_first_whatever_the_load_order(mpath: Path) -> None:
    loaded = _load(mpath, 'loadmodule "consumer.so"', 'loadmodule "provider.so"')
    assert loaded.init_order == ["provider", "consumer"]
    process = ProcessState()
    loaded.init_modules(process)
    order = sys.modules["svc_test_keys"].ORDER
    assert order == ["provider", "consumer:alpha-impl"]
    assert [name for name, _, _ in loaded.destroy_hooks(process)] == ["consumer", "provider"]
    # the provider's MI command and statistic, registered after its init
    from pysips.mi import mi_of

    mi = mi_of(process)
    assert mi.lookup("provider_hits") is not None
    stat = mi.stats.find("provider:hits")
    assert stat is not None and stat.get() == 3


def test_a_declared_service_that_init_does_not_register_stops_the_start(mpath: Path) -> None:
    loaded = _load(mpath, 'loadmodule "provider.so"', 'modparam("provider", "mode", "forget")')
    with pytest.raises(RuntimeError, match="provider: provides alpha, but its init did not register it"):
        loaded.init_modules(ProcessState())


def test_registering_an_undeclared_service_stops_the_start(mpath: Path) -> None:
    loaded = _load(mpath, 'loadmodule "sneaky.so"')
    with pytest.raises(RuntimeError, match="sneaky: registered alpha without declaring it"):
        loaded.init_modules(ProcessState())
