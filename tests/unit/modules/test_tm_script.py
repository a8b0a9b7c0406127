"""tm driven by a compiled opensips.cfg: the loader checks its functions, routes and variables, and
the per-transaction routes run with the transaction's flags and AVPs."""

from __future__ import annotations

import pytest
from test_tm_fake import ALICE, BOB, CALLER, Rig, Sent, cancel_of, invite

from pysips.script.compile import LoadedScript, load_script
from pysips.script.context import MsgContext
from pysips.script.errors import ScriptLoadError
from pysips.script.parse import parse_text

SCRIPT = r"""
loadmodule "tm.so"
modparam("tm", "fr_timeout", 5)
modparam("tm", "fr_inv_timeout", 30)
modparam("tm", "restart_fr_on_each_reply", 0)
modparam("tm", "onreply_avp_mode", 1)

route {
    if ($rm == "CANCEL") {
        if (t_check_trans())
            t_relay();
        exit;
    }
    t_check_trans();
    setflag(SRC_WS);
    $avp(caller) = "alice";
    if ($rU == "fork") {
        $ru = "sip:a@10.0.0.3";
        append_branch("sip:b@10.0.0.4");
    }
    t_on_branch("nat");
    t_on_reply("nat");
    t_on_failure("missed");
    if (!t_relay()) {
        t_reply(500, "Internal Error");
    }
    exit;
}

branch_route[nat] {
    if ($ru =~ "^sip:b@") {
        setbflag(DST_WS);
        $ru = "sip:b2@10.0.0.4";
    }
}

onreply_route[nat] {
    if (isflagset(SRC_WS) && isbflagset(DST_WS) && t_check_status("18[0-9]"))
        $avp(seen) = $T_reply_code;
}

failure_route[missed] {
    if (t_was_cancelled()) {
        exit;
    }
    if (t_check_status("486")) {
        $ru = "sip:voicemail@10.0.0.4";
        t_relay();
        exit;
    }
    t_reply(480, "code=$T_reply_code seen=$avp(seen) caller=$avp(caller) idx=$T_branch_idx");
}
"""


def loaded(text: str = SCRIPT) -> tuple[Rig, LoadedScript]:
    script = load_script(parse_text(text))
    holder: list[LoadedScript] = [script]

    def main(ctx: MsgContext) -> int:
        return holder[0].run(holder[0].main_route, ctx)  # type: ignore[arg-type]

    rig = Rig(main)
    script.init_modules(rig.process)
    return rig, script


def to(sent: list[Sent], peer: tuple[str, int]) -> list[Sent]:
    return [s for s in sent if (s.dst.ip, s.dst.port) == peer]


def test_the_script_loads_with_tm() -> None:
    loaded()


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ('route { t_on_failure("nope"); }', "unknown failure_route 'nope'"),
        ('route { t_relay("no-such-flag"); }', "unknown t_relay flag"),
        ('route { t_reply(999, "x"); }', "reply code"),
        ('onreply_route { t_relay(); }', "t_relay"),
        ('route { t_cancel_branch(); }', "not implemented"),
        ('route { $var(x) = $T_nope; }', "T_nope"),
    ],
)
def test_load_errors(snippet: str, message: str) -> None:
    with pytest.raises(ScriptLoadError) as info:
        load_script(parse_text('loadmodule "tm.so"\n' + snippet))
    assert message in str(info.value)


def test_parallel_fork_with_branch_route_then_failure_route_reply() -> None:
    rig, _ = loaded()
    rig.receive(invite(ruri="sip:fork@10.0.0.9"), CALLER)
    sent = rig.take()
    (a,) = to(sent, ALICE)
    (b,) = to(sent, BOB)
    assert a.msg.ruri == "sip:a@10.0.0.3"
    assert b.msg.ruri == "sip:b2@10.0.0.4"  # changed in branch_route, for that branch only
    rig.receive(rig.answer(b, 180, "Ringing", to_tag="b"), BOB)  # DST_WS branch: $avp(seen)
    rig.receive(rig.answer(a, 183, "Progress", to_tag="a"), ALICE)  # no DST_WS: untouched
    rig.take()
    rig.receive(rig.answer(a, 404, "Not Found", to_tag="a"), ALICE)
    rig.receive(rig.answer(b, 480, "Unavailable", to_tag="b"), BOB)
    (final,) = to(rig.take(), CALLER)
    assert final.first_line == "SIP/2.0 480 code=404 seen=180 caller=alice idx=0"


def test_busy_goes_to_voicemail_and_cancel_ends_in_487() -> None:
    rig, _ = loaded()
    data = invite()
    rig.receive(data, CALLER)
    (first,) = to(rig.take(), ALICE)
    rig.receive(rig.answer(first, 486, "Busy Here"), ALICE)
    (vm,) = to(rig.take(), BOB)
    assert vm.msg.ruri == "sip:voicemail@10.0.0.4"
    rig.receive(rig.answer(vm, 180, "Ringing", to_tag="vm"), BOB)
    rig.take()
    rig.receive(cancel_of(data), CALLER)
    sent = rig.take()
    assert [s.first_line for s in to(sent, CALLER)] == ["SIP/2.0 200 canceling"]
    (cancel,) = to(sent, BOB)
    rig.receive(rig.answer(cancel, 200, "OK", to_tag="vm"), BOB)
    rig.receive(rig.answer(vm, 487, "Request Terminated", to_tag="vm"), BOB)
    (final,) = to(rig.take(), CALLER)
    assert final.first_line == "SIP/2.0 487 Request Terminated"


def test_record_route_of_the_rr_module_is_in_every_branch() -> None:
    rig, _ = loaded(
        'loadmodule "tm.so"\nloadmodule "rr.so"\n'
        'route { record_route(); append_branch("sip:b@10.0.0.4"); t_relay(); exit; }'
    )
    rig.receive(invite(), CALLER)
    sent = rig.take()
    for peer in (ALICE, BOB):
        (out,) = to(sent, peer)
        rr = out.msg.header("Record-Route") or ""
        assert "10.0.0.1" in rr and ";lr" in rr


@pytest.mark.parametrize("call", [
    'append_branch("sip:b@10.0.0.4")',  # 3.1-3.5 (and 2.x)
    'append_branch_old("sip:b@10.0.0.4")',  # 3.6
    'append_msg_branch("sip:b@10.0.0.4")',  # 3.6
])
def test_every_spelling_of_append_branch_forks(call: str) -> None:
    rig, _ = loaded(f'loadmodule "tm.so"\nroute {{ {call}; t_relay(); exit; }}')
    rig.receive(invite(), CALLER)
    sent = rig.take()
    (to_alice,) = to(sent, ALICE)
    (to_bob,) = to(sent, BOB)
    assert to_bob.first_line.startswith("INVITE sip:b@10.0.0.4 ")
    assert to_alice.first_line.startswith("INVITE sip:bob@10.0.0.3 ")


def test_append_branch_old_without_uri_copies_the_current_ruri() -> None:
    rig, _ = loaded(
        'loadmodule "tm.so"\nroute { append_branch_old(); $ru = "sip:b@10.0.0.4"; t_relay(); exit; }'
    )
    rig.receive(invite(), CALLER)
    sent = rig.take()
    assert len(to(sent, ALICE)) == 1 and len(to(sent, BOB)) == 1
