"""Real OpenSIPS scripts nobody here wrote: all of cfgs/ must parse, both of cfgs-invalid/ must fail
at the line of their real defect."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest

from pysips.script import ast as A
from pysips.script.parse import ScriptSyntaxError, parse_file

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
VALID = sorted((CORPUS / "cfgs").glob("*.cfg"))
INVALID_DIR = CORPUS / "cfgs-invalid"
SEED = Path(__file__).resolve().parents[1] / "data" / "seed-residential.cfg"



def test_corpus_has_the_47_scripts() -> None:
    assert len(VALID) == 47


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name[:60])
def test_valid_script_parses(path: Path) -> None:
    script = parse_file(path)
    assert script.routes, "every corpus script has at least one route"
    assert script.files == (str(path),)
    # Every loadmodule line of the source shows up as a LoadModule item.
    text = path.read_text(encoding="utf-8", errors="replace")
    written = re.findall(r'^\s*loadmodule\s+"', text, re.M)
    assert len([i for i in script.items if isinstance(i, A.LoadModule)]) == len(written)


def _invalid_rows() -> list[tuple[str, int]]:
    rows: list[tuple[str, int]] = []
    with (INVALID_DIR / "INDEX.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            found = re.search(r"line ~?(\d+)", row["notes"])
            assert found, row["notes"]
            rows.append((row["file"], int(found.group(1))))
    return rows


@pytest.mark.parametrize(("name", "line"), _invalid_rows())
def test_invalid_script_is_rejected_at_its_defect(name: str, line: int) -> None:
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_file(INVALID_DIR / name)
    first = caught.value.problems[0]
    assert first.pos.line == line
    assert first.pos.file.endswith(name)
    assert first.source_line.strip()
    assert f":{line}:" in first.format().splitlines()[0]


def test_unterminated_string_is_named_as_such() -> None:
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_file(INVALID_DIR / "javdet__sbc__opensips.cfg")
    assert "string" in caught.value.problems[0].message


def test_extra_parenthesis_is_named_as_such() -> None:
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_file(INVALID_DIR / "OpenSIPS__opensips__modules_osp_etc_sample-osp-opensips.cfg")
    assert "parenthes" in caught.value.problems[0].message


def test_seed_script_parses() -> None:
    script = parse_file(SEED)
    names = [(r.kind, r.name) for r in script.routes]
    assert names == [
        (A.RouteKind.REQUEST, None),
        (A.RouteKind.REQUEST, "relay"),
        (A.RouteKind.BRANCH, "handle_nat"),
        (A.RouteKind.ONREPLY, "handle_nat"),
    ]
    listens = [i.value for i in script.items if isinstance(i, A.GlobalParam) and i.name == "listen"]
    assert [(s.proto, s.host, s.port) for s in listens if isinstance(s, A.SocketSpec)] == [
        ("ws", "127.0.0.1", 8080), ("wss", "127.0.0.1", 443), ("tls", "127.0.0.1", 5061),
        ("udp", "127.0.0.1", 5060),
    ]
    fifo_mode = next(i for i in script.items if isinstance(i, A.ModParam) and i.name == "fifo_mode")
    assert fifo_mode.value == 0o666  # 0666 is octal, as in OpenSIPS


def test_largest_script_parses_quickly() -> None:
    largest = max(VALID, key=lambda p: p.stat().st_size)
    parse_file(largest)  # build the parser first
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        parse_file(largest)
        runs.append(time.perf_counter() - start)
    assert sorted(runs)[1] < 1.0
