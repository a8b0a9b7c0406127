"""`pysips -c` over the 47 real OpenSIPS scripts of the shared corpus: the ones that check clean
today keep checking clean, and no script crashes the checker (every problem is a LoadProblem with
the file and line it is about). docs/porting-status.md is the full picture
(scripts/porting_status.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pysips.core.functions import ENGINE_FUNCTIONS
from pysips.script.compile import CheckReport, LoadOptions, check_script
from pysips.script.errors import LoadProblem
from pysips.script.parse import parse_file

CFGS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "cfgs"
SCRIPTS = sorted(CFGS.glob("*.cfg"))

CHECK_CLEAN = [
    "OpenSIPS__opensips@2.4__etc_opensips.cfg",
    "OpenSIPS__opensips__etc_opensips.cfg",
    "OpenSIPS__sipssert-opensips-tests__auth_05.ha1-db-www_opensips.cfg",
    "OpenSIPS__sipssert-opensips-tests__record-route_02.record-route-protocols_opensips.cfg",
    "OpenSIPS__sipssert-opensips-tests__registration_09.lookup_opensips.cfg",
]



def _check(path: Path) -> CheckReport:
    # What `pysips -c -f FILE` does (pysips/cli.py), without a subprocess per script.
    options = LoadOptions(base_dir=path.resolve().parent, core_functions=ENGINE_FUNCTIONS)
    return check_script(parse_file(path), options)


@pytest.mark.parametrize("name", CHECK_CLEAN)
def test_script_checks_clean(name: str) -> None:
    report = _check(CFGS / name)
    assert report.ok, [p.format() for p in report.problems if not p.warning]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name[:70])
def test_checker_reports_problems_with_positions(path: Path) -> None:
    report = _check(path)
    for problem in report.problems:
        assert isinstance(problem, LoadProblem)
        assert problem.pos.line > 0 and problem.pos.col > 0, problem.format()
        assert Path(problem.pos.file).name == path.name, problem.format()
        assert problem.message.strip()
    for name, where in report.unknown_functions.items():
        assert where and all(p.line > 0 for p in where), name
