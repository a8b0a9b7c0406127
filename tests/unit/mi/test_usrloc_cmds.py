"""usrloc MI commands on the real usrloc runtime (memory mode): OpenSIPS's keys and errors."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pysips.mi import mi_of
from pysips.script.compile import register_module_mi
from pysips.script.context import ProcessState
from pysips.script.loader import ModuleFinder

_FOUND = ModuleFinder().find("usrloc")
assert _FOUND is not None
_MI = __import__("importlib").import_module("pysips_modules.usrloc.mi")
parse_q, q_text = _MI.parse_q, _MI.q_text


def _setup(use_domain: int = 1) -> tuple[Any, Any]:
    found = ModuleFinder().find("usrloc")
    assert found is not None
    import importlib

    config = importlib.import_module("pysips_modules.usrloc.config")
    usrloc = importlib.import_module("pysips_modules.usrloc")
    ul = usrloc.Usrloc(config.config_from({"use_domain": use_domain}))
    ul.domain("location")
    process = ProcessState()
    process.modules["usrloc"] = ul
    register_module_mi(process, "usrloc", found.exports, ul)  # as the loader does after init
    _MI.register_table_stats(process, ul)
    return mi_of(process), ul


def rpc(mi: Any, method: str, params: Any = None) -> Any:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        body["params"] = params
    return json.loads(mi.handle_text(json.dumps(body)))


ADD = ["location", "alice@example.com", "sip:alice@10.0.0.1:5070", "3600", "0.5", "0", "0", "5"]


def test_add_then_dump_has_opensips_keys() -> None:
    mi, _ = _setup()
    assert rpc(mi, "ul_add", ADD)["result"] == "OK"
    dump = rpc(mi, "ul_dump")["result"]
    (dom,) = dump["Domains"]
    assert dom["name"] == "location" and isinstance(dom["hash_size"], int)
    (aor,) = dom["AORs"]
    assert aor["AOR"] == "alice@example.com"
    (c,) = aor["Contacts"]
    assert list(c) == ["Contact", "ContactID", "Expires", "Q", "Callid", "Cseq", "User-agent", "State",
                       "Flags", "Cflags", "Methods"]
    assert c["Contact"] == "sip:alice@10.0.0.1:5070"
    assert 3598 <= c["Expires"] <= 3600
    assert c["Q"] == "0.5" and c["Methods"] == 5 and c["Cseq"] == 1
    assert c["Callid"] == "dfjrewr12386fd6-343@opensips.mi" and c["User-agent"] == "OpenSIPS MI Server"
    assert c["State"] == "CS_NEW"
    brief = rpc(mi, "ul_dump", {"brief": 1})["result"]
    assert brief["Domains"][0]["AORs"] == [{"AOR": "alice@example.com"}]


def test_add_again_updates_permanent_and_show_contact() -> None:
    mi, _ = _setup()
    rpc(mi, "ul_add", ADD)
    again = [*ADD[:3], "0", "1", "0", "0", "0"]
    assert rpc(mi, "ul_add", again)["result"] == "OK"
    shown = rpc(mi, "ul_show_contact", ["location", "alice@example.com"])["result"]
    (c,) = shown["Contacts"]
    assert c["Expires"] == "permanent" and c["Q"] == "1"
    assert rpc(mi, "get_statistics", [["usrloc:"]])["result"]["usrloc:location-contacts"] == 1


def test_expired_binding_is_shown_as_expired() -> None:
    mi, ul = _setup()
    rpc(mi, "ul_add", ADD)
    ul.domains["location"].get("alice@example.com").contacts[0].expires = int(time.time()) - 5
    assert rpc(mi, "ul_dump")["result"]["Domains"][0]["AORs"][0]["Contacts"][0]["Expires"] == "expired"


def test_removals_and_errors() -> None:
    mi, ul = _setup()
    rpc(mi, "ul_add", ADD)
    rpc(mi, "ul_add", [*ADD[:2], "sip:alice@10.0.0.2", *ADD[3:]])
    assert rpc(mi, "ul_rm_contact", ["location", "alice@example.com", "sip:nobody@x"])["error"] == {
        "code": 404, "message": "Contact not found"}
    assert rpc(mi, "ul_rm_contact", ["location", "alice@example.com", "sip:alice@10.0.0.2"])["result"] == "OK"
    assert len(ul.domains["location"].get("alice@example.com").contacts) == 1
    assert rpc(mi, "ul_rm", ["location", "alice@example.com"])["result"] == "OK"
    assert ul.domains["location"].get("alice@example.com") is None
    assert rpc(mi, "ul_show_contact", ["location", "alice@example.com"])["error"] == {
        "code": 404, "message": "AOR not found"}
    assert rpc(mi, "ul_show_contact", ["nosuch", "alice@example.com"])["error"] == {
        "code": 404, "message": "Table not found"}
    assert rpc(mi, "ul_rm", ["location", "alice"])["error"] == {
        "code": 400, "message": "Domain missing in AOR"}
    assert rpc(mi, "ul_add", [*ADD[:4], "2.5", *ADD[5:]])["error"] == {
        "code": 400, "message": "Bad parameter value"}
    err = rpc(mi, "ul_add", [*ADD[:3], "soon", *ADD[4:]])["error"]
    assert err["data"] == "Bad type for parameter 'expires'"


def test_without_use_domain_the_domain_is_dropped() -> None:
    mi, ul = _setup(use_domain=0)
    assert rpc(mi, "ul_add", ADD)["result"] == "OK"
    assert ul.domains["location"].get("alice") is not None


@pytest.mark.parametrize(("q", "text"), [(-1.0, ""), (1.0, "1"), (0.0, "0"), (0.5, "0.5"), (0.25, "0.25"),
                                         (0.125, "0.125"), (0.1, "0.1")])
def test_q_text(q: float, text: str) -> None:
    assert q_text(q) == text


def test_parse_q() -> None:
    assert parse_q("0.5") == 0.5 and parse_q("1") == 1.0
    assert parse_q("1.5") is None and parse_q("x") is None and parse_q("0.1234") is None


def test_dump_shows_contact_ids_and_configured_hash_size() -> None:
    import importlib

    assert ModuleFinder().find("usrloc") is not None
    config = importlib.import_module("pysips_modules.usrloc.config")
    usrloc = importlib.import_module("pysips_modules.usrloc")
    ul = usrloc.Usrloc(config.config_from({"hash_size": 12, "use_domain": 1}))
    ul.domain("location")
    process = ProcessState()
    process.modules["usrloc"] = ul
    register_module_mi(process, "usrloc", usrloc.exports, ul)
    mi = mi_of(process)
    assert rpc(mi, "ul_add", ADD)["result"] == "OK"
    (dom,) = rpc(mi, "ul_dump")["result"]["Domains"]
    assert dom["hash_size"] == 4096
    (c,) = dom["AORs"][0]["Contacts"]
    stored = ul.domain("location").get("alice@example.com").contacts[0].contact_id
    assert stored != 0 and c["ContactID"] == str(stored)
