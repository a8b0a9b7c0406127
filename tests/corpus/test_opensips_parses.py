"""Every corpus script OpenSIPS 3.6 parses passes `pysips -c --syntax-only` (issue 11).

Which scripts OpenSIPS parses is recorded in opensips-parses.tsv (tests/corpus/opensips_verdicts.py
asks the reference build); the recorded table is checked against the reference build again, which
takes about a second, so a script added to the corpus is covered the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pysips.cli import main
from tests.corpus.opensips_verdicts import OPENSIPS, corpus_scripts, read_table, verdict

TABLE = read_table()
PARSED = sorted(name for name, (parses, _) in TABLE.items() if parses)


def test_the_table_covers_the_corpus() -> None:
    assert sorted(TABLE) == [p.name for p in corpus_scripts()]
    assert len(PARSED) >= 38


@pytest.mark.parametrize("name", PARSED)
def test_opensips_parsable_script_passes_syntax_only(name: str) -> None:
    path = corpus_scripts()[0].parent / name
    result = CliRunner().invoke(main, ["-c", "--syntax-only", "-f", str(path)])
    assert result.exit_code == 0, result.output
    assert "syntax ok" in result.output


@pytest.fixture(scope="module")
def live() -> dict[str, tuple[bool, str]]:
    if not OPENSIPS.is_file():
        pytest.fail(f"the reference OpenSIPS is not built at {OPENSIPS} (run scripts/setup)")
    found = (verdict(p) for p in corpus_scripts())
    return {v.name: (v.parses, v.first_grammar_error) for v in found}


def test_recorded_verdicts_are_opensips_own(live: dict[str, tuple[bool, str]]) -> None:
    assert live == TABLE


def test_every_script_opensips_parses_now_passes_syntax_only(live: dict[str, tuple[bool, str]]) -> None:
    runner = CliRunner()
    failing = []
    folder = corpus_scripts()[0].parent
    for name, (parses, _) in sorted(live.items()):
        if parses:
            result = runner.invoke(main, ["-c", "--syntax-only", "-f", str(folder / name)])
            if result.exit_code != 0:
                failing.append(f"{name}: {result.output.strip()}")
    assert failing == []


def _check(tmp_path: Path, text: str) -> tuple[bool, str]:
    path = tmp_path / "probe.cfg"
    path.write_text(text)
    found = verdict(path)
    return found.parses, found.first_grammar_error


def test_module_errors_are_not_grammar_errors(tmp_path: Path, live: dict[str, tuple[bool, str]]) -> None:
    """The classifier, on OpenSIPS's own output: a module the build lacks, its parameter, function
    and the statement bison could not build are module errors; a stray token is a grammar error."""
    missing_module = (
        'loadmodule "no_such_module.so"\nmodparam("no_such_module", "p", 1)\n'
        "route {\n\tno_such_function();\n\texit;\n}\n"
    )
    assert _check(tmp_path, missing_module) == (True, "")
    assert _check(tmp_path, "route {\n\texit;\n\t}}\n") == (False, "3:3-4 syntax error")
    assert _check(tmp_path, "route {\n\tbreak;\n}\n")[0] is False  # 3.x: only in a loop or switch
