"""JSON-RPC 2.0 handling with OpenSIPS's recipe matching and error codes, on a bare MI runtime."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pysips.mi import MICall, MIError, command, mi_of, register_commands
from pysips.mi.registry import DuplicateCommand
from pysips.script.context import ProcessState


def _mi() -> Any:
    process = ProcessState()
    mi = mi_of(process)

    def echo_one(call: MICall) -> Any:
        return {"a": call.get_str("a")}

    def echo_two(call: MICall) -> Any:
        return {"a": call.get_str("a"), "n": call.get_int("n")}

    def fails(call: MICall) -> Any:
        raise MIError(404, "AOR not found")

    def crashes(call: MICall) -> Any:
        raise ValueError("bug")

    register_commands(process, (
        command("echo", "", {(): lambda call: "OK", ("a",): echo_one, ("a", "n"): echo_two}, "test"),
        command("twins", "", {("x",): lambda call: call.get_str("x"), ("y",): lambda call: call.get_str("y")},
                "test"),
        command("fails", "", {(): fails}, "test"),
        command("crashes", "", {(): crashes}, "test"),
    ))
    return mi


def rpc(mi: Any, text: str | bytes) -> Any:
    out = mi.handle_text(text)
    return None if out is None else json.loads(out)


def req(method: str, params: Any = None, id_: Any = 1) -> str:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id_}
    if params is not None:
        body["params"] = params
    return json.dumps(body)


def test_result_and_id_echoed() -> None:
    mi = _mi()
    assert rpc(mi, req("echo", id_="abc")) == {"jsonrpc": "2.0", "result": "OK", "id": "abc"}
    assert rpc(mi, req("echo", {"a": "x"}, 7))["result"] == {"a": "x"}


def test_named_and_positional_params_pick_the_recipe() -> None:
    mi = _mi()
    assert rpc(mi, req("echo", {"n": "5", "a": "x"}))["result"] == {"a": "x", "n": 5}
    assert rpc(mi, req("echo", ["x", 5]))["result"] == {"a": "x", "n": 5}
    assert rpc(mi, req("echo", []))["result"] == "OK"
    assert rpc(mi, req("echo", {}))["result"] == "OK"


@pytest.mark.parametrize(("params", "data"), [
    ({"b": "x"}, "Named parameters do not match"),
    ({"a": 1, "b": 2, "c": 3}, "Too few or too many parameters"),
    (["x", "y", "z"], "Too few or too many parameters"),
])
def test_bad_params(params: Any, data: str) -> None:
    err = rpc(_mi(), req("echo", params))["error"]
    assert err == {"code": -32602, "message": "Invalid params", "data": data}


def test_positional_ambiguity_and_missing_recipe() -> None:
    mi = _mi()
    err = rpc(mi, req("twins", ["v"]))["error"]
    assert err["data"] == "Ambiguous call, use named parameters instead"
    assert rpc(mi, req("twins", {"y": "v"}))["result"] == "v"
    # a handler asking for a name its recipe lacks is a server error, not a crash
    assert rpc(mi, req("echo", ["x"]))["result"] == {"a": "x"}
    err = rpc(mi, req("twins"))["error"]
    assert err["code"] == -32602


def test_bad_int_param_type() -> None:
    err = rpc(_mi(), req("echo", {"a": "x", "n": "five"}))["error"]
    assert err == {"code": -32602, "message": "Invalid params", "data": "Bad type for parameter 'n'"}


def test_protocol_errors() -> None:
    mi = _mi()
    assert rpc(mi, "{nope")["error"] == {"code": -32700, "message": "Parse error"}
    assert rpc(mi, b"\xff\xfe")["error"]["code"] == -32700
    assert rpc(mi, json.dumps({"method": "echo", "id": 1}))["error"]["code"] == -32600
    assert rpc(mi, json.dumps({"jsonrpc": "2.0", "id": 1}))["error"]["code"] == -32600
    assert rpc(mi, json.dumps({"jsonrpc": "2.0", "method": "echo", "params": 3, "id": 1}))["error"][
        "code"] == -32600
    assert rpc(mi, json.dumps([1, 2]))["error"] == {"code": -32600, "message": "Invalid Request"}
    assert rpc(mi, req("nosuch"))["error"] == {"code": -32601, "message": "Method not found"}


def test_command_errors_and_crashes() -> None:
    mi = _mi()
    assert rpc(mi, req("fails"))["error"] == {"code": 404, "message": "AOR not found"}
    assert rpc(mi, req("crashes"))["error"]["code"] == -32000


def test_notifications_get_no_reply_except_protocol_errors() -> None:
    mi = _mi()
    assert rpc(mi, json.dumps({"jsonrpc": "2.0", "method": "echo"})) is None
    assert rpc(mi, json.dumps({"jsonrpc": "2.0", "method": "fails"})) is None
    assert rpc(mi, json.dumps({"jsonrpc": "2.0", "method": "nosuch"})) is None
    assert rpc(mi, json.dumps({"jsonrpc": "1.0", "method": "echo"}))["error"]["code"] == -32600


def test_which_lists_commands_and_recipes() -> None:
    mi = _mi()
    names = rpc(mi, req("which"))["result"]
    assert names[:5] == ["uptime", "version", "pwd", "arg", "which"]
    assert "echo" in names and "get_statistics" in names
    assert rpc(mi, req("which", {"command": "echo"}))["result"] == [[], ["a"], ["a", "n"]]
    assert rpc(mi, req("which", ["nosuch"]))["error"] == {"code": 404, "message": "unknown MI command"}
    assert rpc(mi, req("help", ["echo"]))["result"]["Exported by"] == "test"


def test_duplicate_command_is_refused() -> None:
    process = ProcessState()
    with pytest.raises(DuplicateCommand):
        register_commands(process, (command("uptime", "", {(): lambda c: "OK"}),))


def test_core_commands_shapes() -> None:
    mi = _mi()
    up = rpc(mi, req("uptime"))["result"]
    assert set(up) == {"Now", "Up since", "Up time"} and up["Up time"].endswith(" [sec]")
    assert rpc(mi, req("version"))["result"]["Server"].startswith("pysips (")
    procs = rpc(mi, req("ps"))["result"]["Processes"]
    assert procs[0]["Type"] == "attendant" and procs[0]["ID"] == 0
    assert rpc(mi, req("reload_routes"))["error"] == {"code": 500, "message": "reload failed"}


def test_log_level_sets_the_pysips_logger() -> None:
    import logging

    mi = _mi()
    logger = logging.getLogger("pysips")
    old = logger.level
    try:
        assert rpc(mi, req("log_level", {"level": 4}))["result"] == {"New global log level": 4}
        assert logger.level == logging.DEBUG
        assert rpc(mi, req("log_level"))["result"]["Processes"][0]["Log level"] == 4
        assert rpc(mi, req("log_level", {"level": -1}))["result"] == {"New global log level": -1}
        assert logger.level == logging.ERROR
        err = rpc(mi, req("log_level", {"level": 1, "pid": 1}))["error"]
        assert err["data"] == "Bad PID"
    finally:
        logger.setLevel(old)
