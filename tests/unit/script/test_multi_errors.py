"""A script with several errors gets them all (issue 11): real scripts hide their real error behind
the first unsupported construct. Syntax errors: a missing ';' is reported and parsing goes on; any
other error is reported and parsing resumes at the next top-level item. Load errors (unknown
modules, parameters, functions, variables, wrong arity) are all reported together."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pysips.cli import main
from pysips.script.compile import LoadOptions, load_script
from pysips.script.errors import ScriptLoadError
from pysips.script.parse import MAX_SYNTAX_ERRORS, ScriptSyntaxError, parse_text

SYNTAX = """\
loadmodule "tm.so"
route {
    xlog("a")
    xlog("b");
    if ($var(a) == 1 {
        exit;
    }
}

route[two] {
    $var(x) = 1 +;
    exit;
}

failure_route[f] {
    t_relay() t_relay();
    exit
}
"""


def syntax_errors(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_text(text, "s.cfg")
    return [(p.pos.line, p.pos.col, p.message) for p in caught.value.problems]


def test_every_independent_syntax_error_is_reported() -> None:
    found = syntax_errors(SYNTAX)
    assert [(line, col) for line, col, _ in found] == [(3, 14), (5, 22), (11, 18), (16, 15), (17, 9)]
    messages = [m for _, _, m in found]
    assert messages[0].startswith("missing ';' at the end of this line")
    assert messages[1] == "unexpected '{'; expected an operator or ')'"
    assert messages[2].startswith("unexpected ';'; expected a value")
    assert messages[3] == "unexpected name 't_relay'; missing ';' before it?"
    assert messages[4] == "missing ';' at the end of this statement"


def test_a_block_left_open_does_not_hide_the_next_blocks_errors() -> None:
    text = (
        "route {\n    if (1) {\n        exit;\n}\n\n"
        'route[b] {\n    xlog("x" "y" ,);\n    exit();;\n    ) \n}\n'
    )
    found = syntax_errors(text)
    assert [line for line, _, _ in found] == [6, 9]
    assert "a '}' is missing before this line" in found[0][2]
    assert found[1][2] == "unbalanced parentheses: this ')' has no matching '('"


def test_the_first_error_is_the_same_as_before() -> None:
    """Recovery only adds later errors; the first one is what a single-error parser reported."""
    text = 'route {\n    $var(a) = "x";\n    if ($var(a) == "x")) { exit; }\n    foo(;\n}\n'
    found = syntax_errors(text)
    assert found[0][:2] == (3, 24) and "unbalanced parentheses" in found[0][2]


def test_errors_are_capped() -> None:
    text = "".join(f"route[r{i}] {{\n    a() b();\n    )\n}}\n" for i in range(40))
    assert len(syntax_errors(text)) == MAX_SYNTAX_ERRORS


LOAD = """\
socket=udp:127.0.0.1:5070
no_such_param=1
loadmodule "no_such_module.so"
loadmodule "tm.so"
loadmodule "sl.so"
modparam("tm", "no_such_tm_param", 1)
modparam("sl", "enable_stats", "x")
route {
    no_such_function();
    t_relay(1, 2, 3);
    sl_send_reply("abc", "x");
    $var(a) = $no_such_var;
    route(missing);
    xlog("L_FOO", "x");
}
"""


def test_every_load_error_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ScriptLoadError) as caught:
        load_script(parse_text(LOAD, "l.cfg"), LoadOptions())
    errors = [(p.pos.line, p.message) for p in caught.value.problems if not p.warning]
    assert [line for line, _ in errors] == [2, 3, 6, 7, 9, 10, 11, 12, 13, 14], errors
    path = tmp_path / "l.cfg"
    path.write_text(LOAD)
    result = CliRunner().invoke(main, ["-c", "-f", str(path)])
    assert result.exit_code == 1
    printed = [line for line in result.output.splitlines() if line.startswith(f"{path}:")]
    assert [int(line.split(":")[1]) for line in printed] == [2, 3, 6, 7, 9, 10, 11, 12, 13, 14]
    assert all(line.split(":")[2].isdigit() for line in printed)  # file:line:col: message
    assert f"pysips: 10 error(s) in {path}" in result.output


def test_cli_prints_every_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "s.cfg"
    path.write_text(SYNTAX)
    result = CliRunner().invoke(main, ["-c", "--syntax-only", "-f", str(path)])
    assert result.exit_code == 1
    assert f"pysips: 5 syntax error(s) in {path}" in result.output
    assert [line.split(":")[1] for line in result.output.splitlines() if line.startswith(str(path))] == [
        "3", "5", "11", "16", "17"
    ]


def test_lines_are_counted_as_lark_counts_them() -> None:
    """A form feed is not a line break: later errors keep their lines and show their own text."""
    with pytest.raises(ScriptSyntaxError) as caught:
        parse_text("route {\n  a() b()\x0c\n  )\n}\nroute[x] {\n  )\n}\n", "f.cfg")
    found = [(p.pos.line, p.source_line.strip()) for p in caught.value.problems]
    assert found == [(2, "a() b()"), (3, ")"), (6, ")")]
