"""Which corpus scripts OpenSIPS 3.6 itself parses, asked of the reference build (`opensips -c`).

OpenSIPS checks a script in one pass: the grammar, module loading and fixups all report through
the same `parse error in FILE:LINE:COL: message` lines. A script counts as parsed by OpenSIPS when
bison reported no `syntax error` of its own: errors of modules the reference build does not have
(a module that fails to load, its parameters, functions and variables, and what bison reports at
their line) and the name and value checks of the grammar's actions are not grammar errors.

    python3 -m tests.corpus.opensips_verdicts            # print the verdicts
    python3 -m tests.corpus.opensips_verdicts --write    # regenerate tests/corpus/opensips-parses.tsv

The script is checked as written, with `mpath` pointed at the reference modules (first line, so
line numbers stay those of the source) and module paths reduced to their file names.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[2] / "shared" / "corpus"
TABLE = HERE / "opensips-parses.tsv"
PREFIX = Path(os.environ.get("PYSIPS_OPENSIPS_PREFIX", "/var/cache/pysips/opensips-3.6.8"))
OPENSIPS = PREFIX / "sbin" / "opensips"
MODULES = PREFIX / "lib64" / "opensips" / "modules"

_ERROR = re.compile(r"yyerror: parse error in (?P<file>.*?):(?P<line>\d+):(?P<col>[\d-]+): ?(?P<msg>.*)$")
# errors that name a module the reference build lacks (or something only such a module provides)
_MODULE = re.compile(
    r"^(failed to load module |Parameter <[^>]*> not found in module "
    r"|unknown command <[^>]*>, missing loadmodule)"
)


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    parses: bool
    first_grammar_error: str  # "LINE:COL message", empty when OpenSIPS parses the script
    exit_code: int

    def row(self) -> str:
        return f"{self.name}\t{'yes' if self.parses else 'no'}\t{self.first_grammar_error}"


def render(source: Path) -> str:
    """The script as OpenSIPS is given it: mpath first, module paths reduced to file names."""
    text = source.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"^[ \t]*mpath[ \t]*=.*$", "", text, flags=re.M)
    text = re.sub(r'(loadmodule\s+")[^"]*/([^"/]+")', r"\1\2", text)
    return f'mpath="{MODULES}/" ' + text


def classify(output: str) -> tuple[bool, str]:
    """Parsed unless bison itself reported a `syntax error`, away from the line of a module error
    (a function or variable of a module the build lacks makes bison recover there). Errors from
    the grammar's actions alone (unknown commands and variables, a bad assignment target, an
    unknown async command) are checks of names and values, not of the grammar."""
    errors = [m for m in map(_ERROR.search, output.splitlines()) if m is not None]
    module_lines = {m["line"] for m in errors if _MODULE.match(m["msg"])}
    modules_missing = any(m["msg"].startswith("failed to load module") for m in errors)
    unknown_lines = {m["line"] for m in errors if m["msg"].strip() == "unknown script variable"}
    for m in errors:
        if m["msg"].strip() != "syntax error" or m["line"] in module_lines:
            continue
        if modules_missing and m["line"] in unknown_lines:
            continue  # a variable of a module that did not load
        return False, f"{m['line']}:{m['col']} syntax error"
    return True, ""


def verdict(source: Path, timeout: float = 30.0) -> Verdict:
    with tempfile.TemporaryDirectory(prefix="os-parse-") as tmp:
        cfg = Path(tmp) / source.name
        cfg.write_text(render(source), encoding="utf-8")
        proc = subprocess.run(
            [str(OPENSIPS), "-c", "-f", cfg.name], cwd=tmp, capture_output=True, text=True,
            errors="replace", timeout=timeout,
        )
    output = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return Verdict(source.name, True, "", 0)
    parses, first = classify(output)
    return Verdict(source.name, parses, first, proc.returncode)


def corpus_scripts() -> list[Path]:
    return sorted((CORPUS / "cfgs").glob("*.cfg"))


def read_table(path: Path = TABLE) -> dict[str, tuple[bool, str]]:
    rows: dict[str, tuple[bool, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#") or line.startswith("file\t"):
            continue
        name, parses, first = [*line.split("\t"), "", ""][:3]
        rows[name] = (parses == "yes", first)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {TABLE.name}")
    args = parser.parse_args(argv)
    verdicts = [verdict(p) for p in corpus_scripts()]
    lines = [
        "# Which scripts of ../shared/corpus/cfgs OpenSIPS 3.6.8 parses (opensips -c, module errors",
        "# aside); regenerate with: python3 -m tests.corpus.opensips_verdicts --write",
        "file\topensips_parses\tfirst_grammar_error",
        *(v.row() for v in verdicts),
    ]
    if args.write:
        TABLE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        print("\n".join(lines))
    print(f"{sum(v.parses for v in verdicts)} of {len(verdicts)} parsed by OpenSIPS", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
