"""2.x letter flags of save()/lookup(): read as before, and `pysips -c` names their 3.x form
(OpenSIPS 3.6 stops at start-up on a letter: "Unknown flag")."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from pysips.script.compile import LoadOptions, check_script
from pysips.script.loader import ModuleFinder
from pysips.script.parse import parse_text


def _flags() -> Any:
    found = ModuleFinder().find("registrar")
    assert found is not None and found.exports.init is not None
    return importlib.import_module(f"{found.exports.init.__module__}.flags")


@pytest.mark.parametrize(("letters", "named"), [
    ("m", "memory-only"),
    ("c1p2m", "memory-only, path-strict, max-contacts=1"),
    ("rfe30E3600", "no-reply, force-registration, min-expires=30, max-expires=3600"),
    ("p0M1", "path-off, matching-mode=1"),
])
def test_save_letters_and_their_names_mean_the_same(letters: str, named: str) -> None:
    flags = _flags()
    assert flags.save_letters_used(letters) and not flags.save_letters_used(named)
    assert flags.save_flags_3x(flags.parse_save_flags(letters)) == named
    assert flags.parse_save_flags(named) == flags.parse_save_flags(letters)


@pytest.mark.parametrize(("letters", "named"), [
    ("m", "method-filtering"),
    ("mbr", "method-filtering, no-branches, branch"),
    ("Bu/^Linphone/", "to-branches-only, ua-filtering=/^Linphone/"),
    ("y100", "max-ping-latency=100"),
])
def test_lookup_letters_and_their_names_mean_the_same(letters: str, named: str) -> None:
    flags = _flags()
    assert flags.lookup_letters_used(letters) and not flags.lookup_letters_used(named)
    assert flags.lookup_flags_3x(flags.parse_lookup_flags(letters)) == named
    assert flags.parse_lookup_flags(named) == flags.parse_lookup_flags(letters)


SCRIPT = """\
loadmodule "signaling.so"
loadmodule "sipmsgops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
route {
    if (is_method("REGISTER")) { save("location", "%s"); exit; }
    lookup("location", "%s");
}
"""


def test_check_warns_at_each_letter_flag_with_its_3x_form() -> None:
    report = check_script(parse_text(SCRIPT % ("c2", "m"), "t.cfg"), LoadOptions())
    notes = [p.format() for p in report.problems if p.warning]
    assert any("t.cfg:6:" in n and "'c2'" in n and "'max-contacts=2'" in n for n in notes), notes
    assert any("t.cfg:7:" in n and "'m'" in n and "'method-filtering'" in n for n in notes), notes


def test_check_is_quiet_about_3x_names() -> None:
    report = check_script(parse_text(SCRIPT % ("max-contacts=2", "method-filtering"), "t.cfg"), LoadOptions())
    assert report.ok, [p.format() for p in report.problems]
    assert not [p for p in report.problems if "letters" in p.message]
