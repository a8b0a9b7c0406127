from __future__ import annotations

from pathlib import Path

import pytest
from sipssert_corpus import CORPUS

from pysips.sipssert.discovery import discover, locate
from pysips.sipssert.templates import TemplateError, render_test, render_text, render_yaml


def test_corpus_levels_are_found() -> None:
    loc = locate(CORPUS / "registration" / "01.no-db")
    assert loc.name == "registration/01.no-db"
    assert loc.set_directory == (CORPUS / "registration").resolve()
    assert loc.root_directory == CORPUS.resolve()


def test_set_config_sees_the_defines() -> None:
    rendered = render_test(locate(CORPUS / "registration" / "01.no-db"))
    defaults = rendered.set_config["defaults"]
    assert defaults["uac-sipp"]["proxy"] == "192.168.52.1:5060"
    assert defaults["uac-sipp"]["keys"] == {"domain": "192.168.52.1"}
    assert defaults["opensips"]["socket"] == "udp:192.168.52.1:5060"
    # the image expression falls back when opensips_image/opensips_version are not defined
    assert defaults["opensips"]["image"] == "opensips/opensips:sipssert"
    assert rendered.set_config["bridge_networks"][1]["subnet"] == "10.52.0.0/24"


def test_scenario_expressions_are_evaluated() -> None:
    rendered = render_test(locate(CORPUS / "registration" / "07.limit"))
    ports = [t.get("port") for t in rendered.scenario["tasks"] if t["type"] == "uac-sipp"]
    assert ports == [5041, 5042, 5043]
    auth = render_test(locate(CORPUS / "auth" / "01.password-db-www")).scenario
    register = next(t for t in auth["tasks"] if t["name"] == "Register")
    assert register["password"] == "T3st|n6"


def test_extra_defines_override_nothing_but_fill_in(tmp_path: Path) -> None:
    rendered = render_test(locate(CORPUS / "startup" / "01.default-cfg"), {"opensips_version": "3.6"})
    assert rendered.set_config["defaults"]["opensips"]["image"] == "opensips/opensips:sipssert-3.6"


def test_levels_merge_test_over_set(tmp_path: Path) -> None:
    root = tmp_path / "tests"
    test = root / "set" / "t1"
    test.mkdir(parents=True)
    (root / "defines.yml").write_text("a: 1\nb: root\n")
    (root / "set" / "defines.yml").write_text("b: set-{{ a }}\n")
    (root / "set" / "config.yml").write_text("value: '{{ b }}'\n")
    (test / "defines.yml").write_text("b: test\n")
    (test / "scenario.yml").write_text("tasks: []\nwho: '{{ b }}/{{ a }}'\n")
    rendered = render_test(locate(test))
    assert rendered.set_config == {"value": "set-1"}
    assert rendered.scenario["who"] == "test/1"
    assert [t.name for t in discover([root])] == ["set/t1"]


def test_getenv_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H16_PROBE", "yes")
    assert render_text("{{ 'H16_PROBE' | getenv }}", {}) == "yes"


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.yml"
    bad.write_text("tasks: [\n")
    with pytest.raises(TemplateError, match=r"scenario\.yml"):
        render_yaml(bad, {})
    bad.write_text("{% if %}")
    with pytest.raises(TemplateError, match="template error"):
        render_yaml(bad, {})
