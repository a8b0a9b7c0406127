"""cfgutils variables through a loaded script: $shv with shvset, varset, $RANDOM, $ctime, $env."""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "script"))
from test_compile_support import HEADER, INVITE, calls, load, run

from pysips.script.context import ProcessState

MODS = 'loadmodule "cfgutils.so"\nmodparam("cfgutils", "shvset", "gw=s:10.0.0.9")\n' \
    'modparam("cfgutils", "shvset", "limit=i:25")\nmodparam("cfgutils", "varset", "start=i:7")\n'


def go(body: str, process: ProcessState | None = None) -> list[object]:
    loaded = load("route {\n" + body + "\n}\n", header=HEADER + MODS)
    process = process or ProcessState()
    if "cfgutils" not in process.modules:
        loaded.init_modules(process)
    _, ctx = run(loaded, INVITE, process=process)
    return [c[1] for c in calls(ctx)]


def test_shv_initial_values_writes_and_sharing() -> None:
    process = ProcessState()
    assert go('t_rec("$shv(gw)|$shv(limit)|$shv(none)|$var(start)");'
              '$shv(limit) = $shv(limit) + 1; $shv(none) = NULL;', process) == ["10.0.0.9|25|<null>|7"]
    # the table belongs to the process's cfgutils, not to one message
    assert go('t_rec("$shv(limit)|$shv(none)");', process) == ["26|0"]


def test_random_ctime_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSIPS_TEST_ENV", "hello")
    got = go(
        't_rec("$RANDOM"); t_rec("$RANDOM");'
        't_rec("$ctime(year)|$ctime(mon)|$env(PYSIPS_TEST_ENV)|$env(NOPE_X)");'
        'if ($RANDOM >= 0) t_rec("int");'
    )
    a, b = int(str(got[0])), int(str(got[1]))
    assert 0 <= a <= 2**31 - 1 and 0 <= b <= 2**31 - 1 and a != b
    now = datetime.datetime.now()
    assert got[2] == f"{now.year}|{now.month}|hello|<null>"
    assert got[3] == "int"
    assert os.environ["PYSIPS_TEST_ENV"] == "hello"


def test_bad_shvset_is_a_load_error() -> None:
    with pytest.raises(Exception, match="name=s:text"):
        bad = 'loadmodule "cfgutils.so"\nmodparam("cfgutils", "shvset", "x=q:1")\n'
        load("route { exit; }\n", header=HEADER + bad)
    with pytest.raises(Exception, match="unknown PV time name decade"):
        load('route { t_rec("$ctime(decade)"); }\n', header=HEADER + 'loadmodule "cfgutils.so"\n')
