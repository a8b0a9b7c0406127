"""signaling: send_reply() with tm, sl, both or neither loaded (both are optional in OpenSIPS)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

from core_support import request, script_net

from pysips.script.compile import load_script
from pysips.script.parse import parse_text

ROUTE = """
route {
    if ($rm == "INVITE") t_newtran();
    send_reply(403, "Relay forbidden");
    exit;
}
"""

CORPUS_CFG = (Path(__file__).resolve().parents[4] / "shared" / "corpus" / "cfgs"
              / "OpenSIPS__opensips__modules_registrar_test_opensips.cfg")


def _script(*modules: str) -> str:
    loads = "".join(f'loadmodule "{m}.so"\n' for m in (*modules, "signaling", "proto_udp"))
    route = ROUTE if "tm" in modules else ROUTE.replace('if ($rm == "INVITE") t_newtran();', "")
    return "listen=udp:127.0.0.1:5060\n" + loads + route


def test_signaling_loads_without_sl() -> None:
    for mods in (("tm",), ()):
        loaded = load_script(parse_text(_script(*mods), "t.cfg"))
        assert "signaling" in loaded.modules


def test_send_reply_with_tm_only_is_stateless_without_a_transaction() -> None:
    net, _ = script_net(_script("tm"))
    out = net.deliver(request("MESSAGE"))
    assert [s.first_line for s in out] == ["SIP/2.0 403 Relay forbidden"]
    assert out[0].msg.to.tag


def test_send_reply_with_tm_only_is_stateful_with_a_transaction() -> None:
    net, _ = script_net(_script("tm"))
    out = net.deliver(request("INVITE"))
    assert [s.first_line for s in out] == ["SIP/2.0 100 Giving it a try", "SIP/2.0 403 Relay forbidden"]
    # the reply belongs to the transaction: a retransmitted INVITE gets it again, same To tag
    again = net.deliver(request("INVITE"))
    assert [s.first_line for s in again] == ["SIP/2.0 403 Relay forbidden"]
    assert again[0].msg.to.tag == out[1].msg.to.tag


def test_send_reply_with_neither_goes_through_the_engine() -> None:
    net, _ = script_net(_script())
    out = net.deliver(request("OPTIONS"))
    assert [s.first_line for s in out] == ["SIP/2.0 403 Relay forbidden"]


def test_corpus_registrar_script_no_longer_asks_for_sl() -> None:
    if not CORPUS_CFG.exists():
        return
    from pysips.script.compile import check_script

    report = check_script(parse_text(CORPUS_CFG.read_text(), str(CORPUS_CFG)))
    assert not any("depends on module sl," in p.message for p in report.problems)
