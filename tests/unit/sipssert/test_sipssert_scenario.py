from __future__ import annotations

from pathlib import Path

import pytest
from sipssert_corpus import CORPUS

from pysips.sipssert.discovery import discover, locate
from pysips.sipssert.requires import Kind
from pysips.sipssert.scenario import ScenarioError, load_scenario, merge_under

ALL_TESTS = discover([CORPUS])
KNOWN_KINDS = {"opensips", "uac-sipp", "uas-sipp", "opensips-mi", "opensips-cli", "generic"}


def test_the_corpus_holds_the_fifteen_first_tests() -> None:
    # the corpus grows (dialog, accounting... since 2026-12-07); the first fifteen stay
    names = {t.name for t in ALL_TESTS}
    sets = [CORPUS / s for s in ("auth", "record-route", "registration", "startup")]
    first = {t.name for t in discover(sets)}
    assert len(first) == 15 and first <= names
    assert ALL_TESTS[0].name == "accounting/01.db-transaction"


@pytest.mark.parametrize("location", ALL_TESTS, ids=[t.name for t in ALL_TESTS])
def test_every_corpus_scenario_parses(location) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario(location)
    assert scenario.tasks, "no tasks"
    assert {t.kind for t in scenario.tasks} <= KNOWN_KINDS
    opensips = [t for t in scenario.tasks if t.kind == "opensips"]
    assert len(opensips) == 1 and opensips[0].daemon and opensips[0].mount_point == "/etc/opensips"
    names = {t.name for t in scenario.tasks}
    for task in scenario.tasks:
        assert all(r.task in names for r in task.requires if r.task is not None)
    assert scenario.timeout is not None and scenario.timeout > 0
    assert scenario.subnets == ("192.168.52.0/24", "10.52.0.0/24")


def test_defaults_fill_in_under_the_task() -> None:
    scenario = load_scenario(locate(CORPUS / "record-route" / "03.record-route-double"))
    uac = next(t for t in scenario.tasks if t.name == "SIPP UAC")
    # the task's own keys win, the set's defaults fill the rest (recursively)
    assert uac.config["keys"] == {"double_domain": "10.52.0.1", "domain": "192.168.52.1"}
    assert uac.config["proxy"] == "192.168.52.1:5060"
    assert uac.config["remote"] == "10.52.0.3:5080"
    uas = next(t for t in scenario.tasks if t.name == "SIPP UAS")
    assert uas.config["ip"] == "10.52.0.3" and uas.config["network"] == "osbr1"
    opensips = next(t for t in scenario.tasks if t.kind == "opensips")
    assert opensips.config["sockets"] == ["udp:10.52.0.1:5060"]
    assert opensips.config["network"] == "osbr0"


def test_requires_and_volumes_of_a_db_test() -> None:
    scenario = load_scenario(locate(CORPUS / "registration" / "02.db"))
    tasks = {t.name: t for t in scenario.tasks}
    assert tasks["OpenSIPS"].requires[0].kind is Kind.AFTER
    assert tasks["OpenSIPS"].requires[0].task == "Init SQLite DB"
    assert tasks["OpenSIPS"].requires[0].wait == 1.0
    assert tasks["Unregister"].requires[0].kind is Kind.AFTER  # the bare-string form
    assert [v.bind for v in tasks["OpenSIPS"].volumes] == ["/var/lib/opensips/db_sqlite"]
    assert scenario.volumes["db_sqlite"].mode == "rw"


def test_merge_under_keeps_the_top() -> None:
    assert merge_under({"a": 1, "k": {"x": 1, "y": 2}}, {"k": {"x": 9}}) == {"a": 1, "k": {"x": 9, "y": 2}}


def _write(tmp_path: Path, scenario: str) -> Path:
    test = tmp_path / "set" / "t"
    test.mkdir(parents=True)
    (test / "scenario.yml").write_text(scenario)
    return test


def test_unknown_required_task_is_an_error(tmp_path: Path) -> None:
    test = _write(tmp_path, "tasks:\n  - name: A\n    type: generic\n    require: Nobody\n")
    with pytest.raises(ScenarioError, match="Nobody"):
        load_scenario(locate(test))


def test_undeclared_volume_is_an_error(tmp_path: Path) -> None:
    test = _write(tmp_path, "tasks:\n  - name: A\n    type: generic\n    volumes: [data]\n")
    with pytest.raises(ScenarioError, match="data"):
        load_scenario(locate(test))


def test_labels_and_delay_start(tmp_path: Path) -> None:
    text = (
        "tasks:\n  - name: A\n    type: generic\n    label: first\n"
        "  - name: B\n    type: generic\n    delay_start: 2\n    require: first\n"
    )
    scenario = load_scenario(locate(_write(tmp_path, text)))
    b = scenario.tasks[1]
    assert [r.kind for r in b.requires] == [Kind.AFTER, Kind.DELAY]
    assert scenario.tasks[0].matches("first")
