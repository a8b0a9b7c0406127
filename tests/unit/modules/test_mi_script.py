"""mi_script's mi(): a command of this process's MI run from the script, with positional words,
with named parameters from two AVPs, its result (JSON, or OK) and its errors in the variable."""

from __future__ import annotations

from typing import Any

from modules.mi_script import w_mi
from pysips.mi import MICall, MIError, command
from pysips.mi.runtime import register_commands
from pysips.script.context import MsgContext, ProcessState
from pysips.script.pv_base import PVAccessor


class Var(PVAccessor):
    def __init__(self, *values: Any) -> None:
        super().__init__("var", True)
        self.values: list[Any] = list(values)

    def get(self, ctx: MsgContext) -> Any:
        return self.values[0] if self.values else None

    def get_all(self, ctx: MsgContext) -> list[Any]:
        return list(self.values)

    def set(self, ctx: MsgContext, value: Any) -> None:
        self.values = [value]


def echo(call: MICall) -> Any:
    if call.get_str("a") == "bad":
        raise MIError(404, "Nothing here")
    return {"a": call.get_str("a"), "b": call.get_str("b")} if call.has("b") else "OK"


def make() -> MsgContext:
    process = ProcessState()
    register_commands(process, [command("echo", "test", {("a",): echo, ("a", "b"): echo})])
    return MsgContext(process, None, None)


def test_positional_words_and_json_result() -> None:
    ctx = make()
    ret = Var()
    assert w_mi(ctx, "echo 1 2", ret) == 1
    assert ret.get(ctx) == '{"a":"1","b":"2"}'
    assert w_mi(ctx, "echo 1", ret) == 1 and ret.get(ctx) == "OK"


def test_named_parameters_from_two_avps() -> None:
    ctx = make()
    ret = Var()
    # AVPs read newest first: names and values stay paired
    assert w_mi(ctx, "echo", ret, Var("b", "a"), Var("y", "x")) == 1
    assert ret.get(ctx) == '{"a":"x","b":"y"}'
    assert w_mi(ctx, "echo", ret, Var("a", "b"), Var("x")) == -2


def test_errors_are_negative_with_the_message() -> None:
    ctx = make()
    ret = Var()
    assert w_mi(ctx, "echo", ret, Var("a"), Var("bad")) == -1 and ret.get(ctx) == "Nothing here"
    assert w_mi(ctx, "no_such_command", ret) == -1
    assert w_mi(ctx, "   ") == -2
