"""json: ids, printing styles, the path walk and $json in a script (OpenSIPS 3.6 is compared in
tests/differential/test_policy_modules.py)."""

from __future__ import annotations

import pytest

from modules.json.path import PathError, parse_id
from modules.json.values import PLAIN, PRETTY, SPACED, dumps, merge_patch, parse
from pysips.script.compile import check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text


def test_ids() -> None:
    found = parse_id("obj/a key/$var(k)[2][-1][]")
    assert found.name == "obj" and found.iterate is None
    assert [t.key for t in found.tags[:2]] == ["a key", ""] and found.tags[1].variable is not None
    assert [(t.index, t.append) for t in found.tags[2:]] == [(2, False), (-1, False), (0, True)]
    assert parse_id("obj/list.keys").iterate == "keys"
    for bad in ("obj[1", "obj[x]", "obj.other", "obj[1]x"):
        with pytest.raises(PathError):
            parse_id(bad)


def test_styles_and_parsing() -> None:
    value = parse('  {"a": [1, {}], "b": "x/y", "c": 1.50} tail')
    assert dumps(value, SPACED) == '{ "a": [ 1, { } ], "b": "x\\/y", "c": 1.50 }'
    assert dumps(value, PLAIN) == '{"a":[1,{}],"b":"x\\/y","c":1.50}'
    assert dumps(value, PRETTY) == '{\n  "a":[\n    1,\n    {\n    }\n  ],\n  "b":"x\\/y",\n  "c":1.50\n}'
    assert merge_patch({"a": 1, "b": {"c": 2}}, {"a": None, "b": {"d": 3}}) == {"b": {"c": 2, "d": 3}}


SCRIPT = """
loadmodule "json.so"
route {
    $json(o) := "{\\"list\\": [1, 2]}";
    $json(o/list[]) = 3;
    $json(o/list[0]) = NULL;
    $json(o/s) = "v";
    $json(o/x/y) = 1;
    $var(first) = $json(o/list[0]);
    $var(last) = $json(o/list[-1]);
    $var(text) = $json(o);
    $var(total) = 0;
    for ($var(v) in $(json(o/list)[*])) $var(total) = $var(total) + $var(v);
    $json(o) := "not json";
    if ($json(o) == NULL) $var(dropped) = 1;
}
"""


def test_script() -> None:
    loaded = load_script(parse_text(SCRIPT, "j.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    assert loaded.main_route is not None
    loaded.run(loaded.main_route, MsgContext(process))
    found = process.vars
    assert (found["first"], found["last"], found["total"]) == (2, 3, 5)
    assert found["text"] == '{ "list": [ 2, 3 ], "s": "v" }'  # o/x/y could not be set: no o/x
    assert found["dropped"] == 1


def test_json_link_needs_json_variables() -> None:
    report = check_script(parse_text('loadmodule "json.so"\nroute { json_link($json(a), $var(b)); }\n',
                                     "j.cfg"))
    assert not report.ok
