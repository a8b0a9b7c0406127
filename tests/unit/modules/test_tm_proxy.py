"""tm as a stateful proxy over a fake engine: relaying, forking, CANCEL, timers, routes."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from test_tm_fake import (
    ALICE,
    BOB,
    CALLER,
    Rig,
    Sent,
    ack_for,
    cancel_of,
    fn,
    invite,
    route,
)

from pysips.script.ast import RouteKind
from pysips.script.context import ACT_DROP, ACT_EXIT, MsgContext
from pysips.script.exports import RouteRef
from pysips.sip.message import SipMessage

Script = Callable[[MsgContext], int]


def proxy_script(
    on_branch: RouteRef | None = None,
    on_reply: RouteRef | None = None,
    on_failure: RouteRef | None = None,
    before: Script | None = None,
) -> Script:
    """The shape of the seed's script: CANCEL via t_check_trans + t_relay, then t_relay."""

    def main(ctx: MsgContext) -> int:
        msg = ctx.msg
        assert isinstance(msg, SipMessage)
        if msg.method == "CANCEL":
            if fn("t_check_trans")(ctx) > 0:
                fn("t_relay")(ctx)
            return 0
        if msg.to.tag is None and fn("t_check_trans")(ctx) == 0:
            return 0
        if before is not None:
            before(ctx)
        if on_branch is not None:
            fn("t_on_branch")(ctx, on_branch)
        if on_reply is not None:
            fn("t_on_reply")(ctx, on_reply)
        if on_failure is not None:
            fn("t_on_failure")(ctx, on_failure)
        if fn("t_relay")(ctx) < 0:
            fn("t_reply")(ctx, 500, "Internal Error")
        return 0

    return main


def to(sent: list[Sent], peer: tuple[str, int]) -> list[Sent]:
    return [s for s in sent if (s.dst.ip, s.dst.port) == peer]


def lines(sent: list[Sent]) -> list[str]:
    return [s.first_line for s in sent]


def start_call(rig: Rig, data: bytes | None = None) -> tuple[bytes, list[Sent]]:
    data = data or invite()
    rig.receive(data, CALLER)
    return data, rig.take()


# ---------------------------------------------------------------------------------------------
# A plain call
# ---------------------------------------------------------------------------------------------


def test_invite_gets_100_and_is_forwarded_with_our_via() -> None:
    rig = Rig(proxy_script())
    _, sent = start_call(rig)
    assert lines(to(sent, CALLER)) == ["SIP/2.0 100 Giving it a try"]
    (out,) = to(sent, ALICE)
    fwd = out.msg
    assert fwd.method == "INVITE" and fwd.ruri == "sip:bob@10.0.0.3"
    assert fwd.vias[0].host == "10.0.0.1" and fwd.vias[0].port == 5060
    assert fwd.vias[0].branch is not None and fwd.vias[0].branch.startswith("z9hG4bK")
    assert fwd.vias[0].branch.endswith(".0")
    caller_via = fwd.vias[1]
    assert caller_via.branch == "z9hG4bKcaller1"
    assert caller_via.params.get("rport") == "5060"
    assert caller_via.params.get("received") == "10.0.0.2"
    assert fwd.body == b"v=0\r\n"


def test_180_and_200_relayed_upstream_without_our_via_then_ack_and_bye() -> None:
    rig = Rig(proxy_script())
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 180, "Ringing"), ALICE)
    (ringing,) = rig.take()
    assert (ringing.dst.ip, ringing.dst.port) == CALLER
    assert ringing.first_line == "SIP/2.0 180 Ringing"
    assert [v.branch for v in ringing.msg.vias] == ["z9hG4bKcaller1"]
    rig.receive(rig.answer(out, 200, "OK"), ALICE)
    (ok,) = rig.take()
    assert ok.first_line == "SIP/2.0 200 OK" and (ok.dst.ip, ok.dst.port) == CALLER
    # The ACK for the 2xx is a new transaction: it goes through the script, statelessly out.
    ack = invite(method="ACK", branch="z9hG4bKack1", to_tag="callee")
    ctx = rig.receive(ack, CALLER)
    assert ctx is not None
    (fwd_ack,) = rig.take()
    assert fwd_ack.first_line.startswith("ACK sip:bob@10.0.0.3")
    assert (fwd_ack.dst.ip, fwd_ack.dst.port) == ALICE
    assert fwd_ack.msg.vias[0].branch != out.msg.vias[0].branch
    bye = invite(method="BYE", branch="z9hG4bKbye1", to_tag="callee", cseq=2)
    rig.receive(bye, CALLER)
    (fwd_bye,) = rig.take()  # no 100 Trying for non-INVITE
    assert fwd_bye.first_line.startswith("BYE ")
    rig.receive(rig.answer(fwd_bye, 200, "OK"), ALICE)
    (bye_ok,) = rig.take()
    assert bye_ok.first_line == "SIP/2.0 200 OK" and "BYE" in bye_ok.msg.header("CSeq")  # type: ignore[operator]


def test_everything_is_freed_after_the_call() -> None:
    rig = Rig(proxy_script())
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 200, "OK"), ALICE)
    rig.take()
    assert rig.tm.cells
    rig.advance(60)
    assert not rig.tm.cells
    assert len(rig.tm.table) == 0


def test_a_finished_call_leaves_no_cyclic_garbage() -> None:
    # Finished transactions must be freed by reference counting: cycles (Cell <-> Branch) made the
    # cyclic collector run constantly under load.
    rig = Rig(proxy_script(before=add_bob))
    _, sent = start_call(rig)
    rig.receive(rig.answer(to(sent, ALICE)[0], 180, "Ringing", to_tag="a"), ALICE)
    rig.receive(rig.answer(to(sent, BOB)[0], 200, "OK", to_tag="b"), BOB)
    rig.take()
    for _ in range(10):
        rig.advance(60)
    assert not rig.tm.cells
    gc.collect()
    gc.disable()
    try:
        gc.set_debug(gc.DEBUG_SAVEALL)
        del sent
        for n in range(3):
            call_id = f"call-gc-{n}"
            _, sent = start_call(rig, invite(call_id=call_id, branch=f"z9hG4bKgc{n}"))
            rig.receive(rig.answer(to(sent, ALICE)[0], 486, "Busy Here", to_tag="a"), ALICE)
            rig.receive(rig.answer(to(sent, BOB)[0], 200, "OK", to_tag="b"), BOB)
            rig.take()
            for _ in range(10):
                rig.advance(60)
        del sent
        rig._ran.clear()  # the rig keeps every script context (and so its transaction) alive
        gc.collect()
        kinds = {type(o).__name__ for o in gc.garbage}
        assert not kinds & {"Cell", "Branch", "SipMessage", "MsgContext"}, kinds
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_200_retransmissions_are_relayed() -> None:
    rig = Rig(proxy_script())
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    ok = rig.answer(out, 200, "OK")
    rig.receive(ok, ALICE)
    rig.receive(ok, ALICE)
    assert lines(rig.take()) == ["SIP/2.0 200 OK", "SIP/2.0 200 OK"]


def test_answered_invite_is_dropped_after_wt_timer_and_late_200s_still_go_up() -> None:
    # OpenSIPS keeps a transaction wt_timer seconds after its final reply (put_on_wait), not the
    # 32 s of RFC 6026's Accepted state; later 2xx retransmissions go up statelessly by Via.
    rig = Rig(proxy_script(), {"wt_timer": 5})
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    ok = rig.answer(out, 200, "OK")
    rig.receive(ok, ALICE)
    rig.take()
    rig.advance(4.9)
    assert rig.tm.cells and len(rig.tm.table) == 2
    rig.receive(ok, ALICE)
    assert lines(to(rig.take(), CALLER)) == ["SIP/2.0 200 OK"]
    rig.advance(0.2)
    assert not rig.tm.cells and len(rig.tm.table) == 0 and len(rig.tm.timers) == 0
    rig.receive(ok, ALICE)
    (late,) = rig.take()
    assert late.first_line == "SIP/2.0 200 OK" and (late.dst.ip, late.dst.port) == CALLER
    assert [v.branch for v in late.msg.vias] == ["z9hG4bKcaller1"]



def test_the_parts_of_an_answered_invite_leave_their_end_to_the_wait() -> None:
    # Timers L and M (32 s) come after wt_timer, which forgets both parts: they queue nothing.
    rig = Rig(proxy_script(), {"wt_timer": 5})
    _, sent = start_call(rig)
    rig.receive(rig.answer(to(sent, ALICE)[0], 200, "OK"), ALICE)
    assert rig.tm.cells and len(rig.tm.table) == 2 and len(rig.tm.timers) == 0
    rig.advance(5.1)
    assert not rig.tm.cells and len(rig.tm.table) == 0


def test_a_2xx_on_another_branch_after_the_wait_still_ends_its_transaction() -> None:
    rig = Rig(proxy_script(before=add_bob), {"wt_timer": 5})
    _, sent = start_call(rig)
    to_alice, to_bob = to(sent, ALICE)[0], to(sent, BOB)[0]
    rig.receive(rig.answer(to_alice, 180, "Ringing", to_tag="a"), ALICE)
    rig.receive(rig.answer(to_bob, 200, "OK", to_tag="b"), BOB)
    rig.advance(5.1)  # the wait ends: Alice's branch, cancelled, is still pending
    assert rig.tm.cells
    rig.receive(rig.answer(to_alice, 200, "OK", to_tag="a"), ALICE)  # the CANCEL came too late
    rig.advance(40)  # timer M ends Alice's INVITE; the CANCEL's fr_timeout, then its timer K
    rig.advance(40)
    assert not rig.tm.cells and len(rig.tm.table) == 0 and len(rig.tm.timers) == 0

def test_invite_retransmission_absorbed_and_last_reply_resent() -> None:
    calls: list[int] = []

    def script(ctx: MsgContext) -> int:
        calls.append(1)
        return proxy_script()(ctx)

    rig = Rig(script)
    data, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    assert rig.receive(data, CALLER) is None  # the request hook took it
    assert lines(rig.take()) == ["SIP/2.0 100 Giving it a try"]
    rig.receive(rig.answer(out, 180, "Ringing"), ALICE)
    rig.take()
    rig.receive(data, CALLER)
    assert lines(rig.take()) == ["SIP/2.0 180 Ringing"]
    assert calls == [1]


def test_t_check_trans_absorbs_a_retransmission_when_the_hook_is_absent() -> None:
    rig = Rig(proxy_script())
    data, _ = start_call(rig)
    rig.engine.hooks.request.clear()
    ctx = rig.receive(data, CALLER)
    assert ctx is not None
    assert lines(rig.take()) == ["SIP/2.0 100 Giving it a try"]  # resent; nothing forwarded again


# ---------------------------------------------------------------------------------------------
# Negative replies, ACK
# ---------------------------------------------------------------------------------------------


def test_486_relayed_acked_downstream_and_caller_ack_absorbed() -> None:
    rig = Rig(proxy_script())
    data, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 486, "Busy Here"), ALICE)
    sent = rig.take()
    (ack,) = to(sent, ALICE)
    assert ack.first_line.startswith("ACK sip:bob@10.0.0.3")
    assert ack.msg.vias[0].branch == out.msg.vias[0].branch
    assert ack.msg.to.tag == "callee"
    (busy,) = to(sent, CALLER)
    assert busy.first_line == "SIP/2.0 486 Busy Here"
    assert rig.receive(ack_for(data, busy.msg), CALLER) is None
    assert rig.take() == []
    # A retransmitted 486 from downstream is ACKed again, not relayed.
    rig.receive(rig.answer(out, 486, "Busy Here"), ALICE)
    assert lines(rig.take()) == [ack.first_line]


def test_503_is_relayed_as_500_as_opensips_does() -> None:
    # RFC 3261 16.7 step 6; OpenSIPS changes only the code (msg_translator), the reason stays
    # (the differential rig showed it: tests/differential, fork_only_503_becomes_500)
    rig = Rig(proxy_script())
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 503, "Service Unavailable"), ALICE)
    (final,) = to(rig.take(), CALLER)
    assert final.first_line == "SIP/2.0 500 Service Unavailable"


def test_disable_503_translation_relays_503() -> None:
    rig = Rig(proxy_script())
    rig.engine.translate_503 = False
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 503, "Service Unavailable"), ALICE)
    (final,) = to(rig.take(), CALLER)
    assert final.first_line == "SIP/2.0 503 Service Unavailable"


def test_unresolvable_destination_gets_a_local_478() -> None:
    results: list[int] = []

    def script(ctx: MsgContext) -> int:
        ctx.new_ruri = "sip:bob@nowhere.invalid"
        results.append(fn("t_relay")(ctx))
        return 0

    rig = Rig(script)
    _, sent = start_call(rig)
    assert results == [1]
    assert lines(sent) == ["SIP/2.0 100 Giving it a try", "SIP/2.0 478 Unresolvable destination (478/TM)"]


def test_no_auto_477_flag_leaves_the_reply_to_the_script() -> None:
    results: list[int] = []
    relay_flags = fn("t_relay")

    def script(ctx: MsgContext) -> int:
        ctx.new_ruri = "sip:bob@nowhere.invalid"
        results.append(relay_flags(ctx, 0x02))
        return 0

    rig = Rig(script)
    _, sent = start_call(rig)
    assert results == [-4]
    assert lines(sent) == ["SIP/2.0 100 Giving it a try"]


# ---------------------------------------------------------------------------------------------
# Timers
# ---------------------------------------------------------------------------------------------


def test_fr_inv_timeout_cancels_the_ringing_branch_and_answers_408() -> None:
    rig = Rig(proxy_script(), {"fr_inv_timeout": 3, "fr_timeout": 2})
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 180, "Ringing"), ALICE)
    rig.take()
    rig.advance(2.9)
    assert rig.take() == []
    rig.advance(0.2)
    sent = rig.take()
    (cancel,) = to(sent, ALICE)
    assert cancel.first_line.startswith("CANCEL sip:bob@10.0.0.3")
    assert cancel.msg.vias[0].branch == out.msg.vias[0].branch
    assert 'cause=480' in (cancel.msg.header("Reason") or "")
    assert lines(to(sent, CALLER)) == ["SIP/2.0 408 Request Timeout"]
    # The callee's 487 comes late: ACKed, not relayed.
    rig.receive(rig.answer(out, 487, "Request Terminated"), ALICE)
    assert [s.first_line.split()[0] for s in rig.take()] == ["ACK"]


def test_an_earlier_deadline_moves_the_armed_timer() -> None:
    """The tick timer waits for the earliest deadline: a transaction whose deadline comes before
    the one the timer is armed for (here a ringing call's fr_inv_timeout, 120 s away) fires on
    time. The timer is moved only for such deadlines, not after every event."""
    rig = Rig(proxy_script(), {"fr_inv_timeout": 120})
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 180, "Ringing"), ALICE)
    rig.advance(1.0)  # the tick for the first call's timer A passes; then only fr_inv is left
    rig.take()
    _, sent = start_call(rig, invite(call_id="call-2", branch="z9hG4bKcaller2"))
    (second,) = to(sent, ALICE)
    rig.advance(0.6)  # timer A of the new branch: T1 = 0.5 s
    assert [s.data for s in to(rig.take(), ALICE)] == [second.data]


def test_fr_timeout_without_any_reply_gives_408_and_no_cancel() -> None:
    rig = Rig(proxy_script(), {"fr_timeout": 2})
    start_call(rig)
    rig.advance(1.9)
    retransmitted = rig.take()
    assert retransmitted and all(s.first_line.startswith("INVITE") for s in retransmitted)  # timer A
    rig.advance(0.2)
    assert lines(rig.take()) == ["SIP/2.0 408 Request Timeout"]


def test_restart_fr_on_each_reply_off_keeps_the_first_deadline() -> None:
    rig = Rig(proxy_script(), {"fr_inv_timeout": 3, "restart_fr_on_each_reply": 0})
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 180, "Ringing"), ALICE)
    rig.advance(2)
    rig.receive(rig.answer(out, 180, "Ringing"), ALICE)
    rig.take()
    rig.advance(1.1)
    assert "SIP/2.0 408 Request Timeout" in lines(rig.take())


# ---------------------------------------------------------------------------------------------
# Forking and CANCEL
# ---------------------------------------------------------------------------------------------


def add_bob(ctx: MsgContext) -> None:
    ctx.branches.append({"uri": "sip:bob@10.0.0.4", "dst_uri": None, "q": None, "path": None,
                         "bflags": 0, "force_socket": None})


def test_parallel_fork_second_answers_first_gets_cancel() -> None:
    rig = Rig(proxy_script(before=add_bob))
    _, sent = start_call(rig)
    (to_alice,) = to(sent, ALICE)
    (to_bob,) = to(sent, BOB)
    assert to_alice.msg.vias[0].branch != to_bob.msg.vias[0].branch
    assert to_bob.msg.ruri == "sip:bob@10.0.0.4"
    rig.receive(rig.answer(to_alice, 180, "Ringing", to_tag="a"), ALICE)
    rig.receive(rig.answer(to_bob, 180, "Ringing", to_tag="b"), BOB)
    assert len(to(rig.take(), CALLER)) == 2
    rig.receive(rig.answer(to_bob, 200, "OK", to_tag="b"), BOB)
    sent = rig.take()
    assert lines(to(sent, CALLER)) == ["SIP/2.0 200 OK"]
    (cancel,) = to(sent, ALICE)
    assert cancel.first_line.startswith("CANCEL ")
    assert "Call completed elsewhere" in (cancel.msg.header("Reason") or "")
    rig.receive(rig.answer(cancel, 200, "OK", to_tag="a"), ALICE)  # absorbed
    rig.receive(rig.answer(to_alice, 487, "Request Terminated", to_tag="a"), ALICE)
    sent = rig.take()
    assert lines(sent) == [f"ACK {to_alice.msg.ruri} SIP/2.0"]


def test_cancel_with_two_branches_cancels_both_and_487_goes_upstream() -> None:
    seen: list[int] = []

    def failure(ctx: MsgContext) -> int:
        seen.append(fn("t_was_cancelled")(ctx))
        return 1

    rig = Rig(proxy_script(before=add_bob, on_failure=route(RouteKind.FAILURE, failure)))
    data, sent = start_call(rig)
    (to_alice,) = to(sent, ALICE)
    (to_bob,) = to(sent, BOB)
    rig.receive(rig.answer(to_alice, 180, "Ringing", to_tag="a"), ALICE)
    rig.receive(rig.answer(to_bob, 183, "Progress", to_tag="b"), BOB)
    rig.take()
    rig.receive(cancel_of(data), CALLER)
    sent = rig.take()
    assert lines(to(sent, CALLER)) == ["SIP/2.0 200 canceling"]
    assert to(sent, CALLER)[0].msg.cseq.method == "CANCEL"
    (c1,) = to(sent, ALICE)
    (c2,) = to(sent, BOB)
    assert c1.first_line.startswith("CANCEL") and c2.first_line.startswith("CANCEL")
    assert c1.msg.vias[0].branch == to_alice.msg.vias[0].branch
    assert c2.msg.vias[0].branch == to_bob.msg.vias[0].branch
    rig.receive(rig.answer(to_alice, 487, "Request Terminated", to_tag="a"), ALICE)
    assert to(rig.take(), CALLER) == []  # bob still pending
    rig.receive(rig.answer(to_bob, 487, "Request Terminated", to_tag="b"), BOB)
    assert lines(to(rig.take(), CALLER)) == ["SIP/2.0 487 Request Terminated"]
    assert seen == [1]
    # A retransmitted CANCEL gets the same 200 again.
    rig.receive(cancel_of(data), CALLER)
    assert lines(rig.take()) == ["SIP/2.0 200 canceling"]


def test_cancel_before_any_provisional_waits_then_cancels_on_first_reply() -> None:
    rig = Rig(proxy_script())
    data, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(cancel_of(data), CALLER)
    sent = rig.take()
    assert lines(sent) == ["SIP/2.0 200 canceling"]  # no CANCEL before a provisional (RFC 3261 9.1)
    rig.receive(rig.answer(out, 100, "Trying", to_tag=None), ALICE)
    (cancel,) = rig.take()
    assert cancel.first_line.startswith("CANCEL ")


def test_branch_timing_out_after_cancel_reports_408_as_opensips() -> None:
    # The callee rings, the caller cancels, the callee never answers the CANCEL nor the INVITE:
    # fr_inv_timeout fakes a 408 on the branch (OpenSIPS timer.c), and that goes upstream.
    rig = Rig(proxy_script(), {"fr_inv_timeout": 3, "fr_timeout": 2})
    data, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 180, "Ringing"), ALICE)
    rig.receive(cancel_of(data), CALLER)
    rig.take()
    rig.advance(3.1)
    assert lines(to(rig.take(), CALLER)) == ["SIP/2.0 408 Request Timeout"]


def test_cancel_for_an_unknown_invite_is_not_answered_by_t_check_trans() -> None:
    rig = Rig(proxy_script())
    rig.receive(cancel_of(invite(branch="z9hG4bKother")), CALLER)
    assert rig.take() == []


def test_6xx_cancels_other_branches_and_blocks_serial_forking() -> None:
    relayed: list[int] = []

    def failure(ctx: MsgContext) -> int:
        ctx.new_ruri = "sip:carol@10.0.0.4"
        relayed.append(fn("t_relay")(ctx))
        return 1

    rig = Rig(proxy_script(before=add_bob, on_failure=route(RouteKind.FAILURE, failure)))
    _, sent = start_call(rig)
    (to_alice,) = to(sent, ALICE)
    (to_bob,) = to(sent, BOB)
    rig.receive(rig.answer(to_bob, 180, "Ringing", to_tag="b"), BOB)
    rig.take()
    rig.receive(rig.answer(to_alice, 603, "Decline", to_tag="a"), ALICE)
    sent = rig.take()
    assert [s.first_line.split()[0] for s in to(sent, BOB)] == ["CANCEL"]
    assert lines(to(sent, CALLER)) == ["SIP/2.0 603 Decline"]
    assert relayed == [-3]


def test_serial_forking_from_failure_route() -> None:
    def failure(ctx: MsgContext) -> int:
        assert ctx.reply is not None and ctx.reply.status == 404
        ctx.new_ruri = "sip:voicemail@10.0.0.4"
        return fn("t_relay")(ctx)

    rig = Rig(proxy_script(on_failure=route(RouteKind.FAILURE, failure)))
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 404, "Not Found"), ALICE)
    sent = rig.take()
    assert to(sent, CALLER) == []
    (second,) = to(sent, BOB)
    assert second.msg.ruri == "sip:voicemail@10.0.0.4"
    assert second.msg.vias[0].branch is not None and second.msg.vias[0].branch.endswith(".1")
    rig.receive(rig.answer(second, 200, "OK", to_tag="vm"), BOB)
    (ok,) = to(rig.take(), CALLER)
    assert ok.first_line == "SIP/2.0 200 OK" and ok.msg.to.tag == "vm"


def test_failure_route_runs_once_unless_rearmed() -> None:
    runs: list[int] = []

    def failure(ctx: MsgContext) -> int:
        runs.append(1)
        ctx.new_ruri = "sip:again@10.0.0.4"
        return fn("t_relay")(ctx)

    rig = Rig(proxy_script(on_failure=route(RouteKind.FAILURE, failure)))
    _, sent = start_call(rig)
    rig.receive(rig.answer(to(sent, ALICE)[0], 480, "Unavailable"), ALICE)
    (second,) = to(rig.take(), BOB)
    rig.receive(rig.answer(second, 486, "Busy Here"), BOB)
    assert lines(to(rig.take(), CALLER)) == ["SIP/2.0 486 Busy Here"]
    assert runs == [1]


def test_best_reply_is_chosen_when_all_branches_fail() -> None:
    rig = Rig(proxy_script(before=add_bob))
    _, sent = start_call(rig)
    rig.receive(rig.answer(to(sent, BOB)[0], 500, "Oops", to_tag="b"), BOB)
    rig.receive(rig.answer(to(sent, ALICE)[0], 407, "Proxy Auth", to_tag="a"), ALICE)
    assert lines(to(rig.take(), CALLER)) == ["SIP/2.0 407 Proxy Auth"]


# ---------------------------------------------------------------------------------------------
# Routes: branch, onreply, failure; flags, AVPs
# ---------------------------------------------------------------------------------------------


def test_branch_route_sees_each_branch_and_can_drop_one() -> None:
    seen: list[str | None] = []

    def branch_route(ctx: MsgContext) -> int:
        seen.append(ctx.new_ruri)
        if ctx.new_ruri == "sip:bob@10.0.0.4":
            ctx.action_flags |= ACT_DROP | ACT_EXIT
            return 0
        assert ctx.msg is not None
        ctx.msg.append_header("X-Branch: yes")
        return 1

    rig = Rig(proxy_script(before=add_bob, on_branch=route(RouteKind.BRANCH, branch_route)))
    _, sent = start_call(rig)
    assert seen == ["sip:bob@10.0.0.3", "sip:bob@10.0.0.4"]
    assert to(sent, BOB) == []
    (out,) = to(sent, ALICE)
    assert out.msg.header("X-Branch") == "yes"


def test_branch_changes_stay_in_their_branch() -> None:
    def branch_route(ctx: MsgContext) -> int:
        assert ctx.msg is not None
        if ctx.new_ruri == "sip:bob@10.0.0.3":
            ctx.msg.set_body(b"v=0\r\no=alice\r\n", "application/sdp")
        return 1

    rig = Rig(proxy_script(before=add_bob, on_branch=route(RouteKind.BRANCH, branch_route)))
    _, sent = start_call(rig)
    assert to(sent, ALICE)[0].msg.body == b"v=0\r\no=alice\r\n"
    assert to(sent, BOB)[0].msg.body == b"v=0\r\n"


def test_drop_in_onreply_route_discards_a_provisional() -> None:
    def onreply(ctx: MsgContext) -> int:
        assert ctx.msg is not None
        if ctx.msg.status == 180:
            ctx.action_flags |= ACT_DROP | ACT_EXIT
            return 0
        return 1

    rig = Rig(proxy_script(on_reply=route(RouteKind.ONREPLY, onreply)))
    _, sent = start_call(rig)
    (out,) = to(sent, ALICE)
    rig.receive(rig.answer(out, 180, "Ringing"), ALICE)
    assert rig.take() == []
    rig.receive(rig.answer(out, 200, "OK"), ALICE)
    assert lines(rig.take()) == ["SIP/2.0 200 OK"]


def test_unnamed_onreply_route_runs_before_the_transaction_one() -> None:
    order: list[str] = []
    rig = Rig(proxy_script(on_reply=route(RouteKind.ONREPLY, lambda ctx: order.append("tx") or 1)),
              onreply_route=lambda ctx: order.append("global") or 1)
    _, sent = start_call(rig)
    rig.receive(rig.answer(to(sent, ALICE)[0], 180, "Ringing"), ALICE)
    assert order == ["global", "tx"]


def test_flags_bflags_and_avps_restored_in_reply_and_failure_routes() -> None:
    got: dict[str, Any] = {}

    def before(ctx: MsgContext) -> None:
        ctx.flags |= 1 << 3
        ctx.avps["who"] = ["alice"]

    def branch_route(ctx: MsgContext) -> int:
        ctx.bflags |= 1 << 2
        return 1

    def onreply(ctx: MsgContext) -> int:
        got["reply_flags"] = ctx.flags
        got["reply_bflags"] = ctx.bflags
        got["reply_avps"] = dict(ctx.avps)
        ctx.flags |= 1 << 5
        return 1

    def failure(ctx: MsgContext) -> int:
        got["failure_flags"] = ctx.flags
        got["failure_avps"] = dict(ctx.avps)
        got["failure_ruri"] = ctx.new_ruri
        return 1

    rig = Rig(
        proxy_script(
            before=before,
            on_branch=route(RouteKind.BRANCH, branch_route),
            on_reply=route(RouteKind.ONREPLY, onreply),
            on_failure=route(RouteKind.FAILURE, failure),
        ),
        {"onreply_avp_mode": 1},
    )
    _, sent = start_call(rig)
    rig.receive(rig.answer(to(sent, ALICE)[0], 486, "Busy Here"), ALICE)
    assert got["reply_flags"] == 1 << 3
    assert got["reply_bflags"] == 1 << 2
    assert got["reply_avps"] == {"who": ["alice"]}
    assert got["failure_flags"] == (1 << 3) | (1 << 5)
    assert got["failure_avps"] == {"who": ["alice"]}
    assert got["failure_ruri"] == "sip:bob@10.0.0.3"


def test_onreply_avp_mode_0_hides_transaction_avps() -> None:
    got: list[dict[str, Any]] = []

    def before(ctx: MsgContext) -> None:
        ctx.avps["who"] = ["alice"]

    on_reply = route(RouteKind.ONREPLY, lambda c: got.append(c.avps) or 1)
    rig = Rig(proxy_script(before=before, on_reply=on_reply))
    _, sent = start_call(rig)
    rig.receive(rig.answer(to(sent, ALICE)[0], 180, "Ringing"), ALICE)
    assert got == [{}]


def test_t_on_reply_in_branch_route_is_per_branch() -> None:
    hits: list[str] = []

    def branch_route(ctx: MsgContext) -> int:
        if ctx.new_ruri == "sip:bob@10.0.0.4":
            fn("t_on_reply")(ctx, route(RouteKind.ONREPLY, lambda c: hits.append("bob") or 1))
        return 1

    rig = Rig(proxy_script(before=add_bob, on_branch=route(RouteKind.BRANCH, branch_route)))
    _, sent = start_call(rig)
    rig.receive(rig.answer(to(sent, ALICE)[0], 180, "Ringing", to_tag="a"), ALICE)
    rig.receive(rig.answer(to(sent, BOB)[0], 180, "Ringing", to_tag="b"), BOB)
    assert hits == ["bob"]


# ---------------------------------------------------------------------------------------------
# Local replies
# ---------------------------------------------------------------------------------------------


def test_t_reply_is_stateful_with_a_to_tag_and_its_ack_is_absorbed() -> None:
    def script(ctx: MsgContext) -> int:
        if fn("t_newtran")(ctx) == 0:
            return 0
        return fn("t_reply")(ctx, 404, "Not Found")

    rig = Rig(script)
    data = invite()
    rig.receive(data, CALLER)
    sent = rig.take()
    assert lines(sent) == ["SIP/2.0 100 Giving it a try", "SIP/2.0 404 Not Found"]
    reply = sent[1].msg
    assert reply.to.tag
    rig.receive(data, CALLER)  # INVITE retransmission: the 404 again
    assert lines(rig.take()) == ["SIP/2.0 404 Not Found"]
    rig.advance(0.6)  # timer G
    assert lines(rig.take()) == ["SIP/2.0 404 Not Found"]
    assert rig.receive(ack_for(data, reply), CALLER) is None
    rig.advance(2.0)
    assert lines(rig.take()) == []  # the ACK stopped timer G


def test_auto_100trying_off() -> None:
    rig = Rig(proxy_script(), {"auto_100trying": 0})
    _, sent = start_call(rig)
    assert to(sent, CALLER) == []


def test_reply_api_for_other_modules() -> None:
    rig = Rig(lambda ctx: 1)
    ctx = rig.receive(invite(method="MESSAGE"), CALLER)
    assert ctx is not None
    assert not rig.tm.has_transaction(ctx)
    assert rig.tm.reply(ctx, 202, "Accepted", b"hi", ("X-A: 1",)) == 1
    assert rig.tm.has_transaction(ctx)
    (sent,) = rig.take()
    assert sent.first_line == "SIP/2.0 202 Accepted"
    assert sent.msg.header("X-A") == "1" and sent.msg.body == b"hi"


def test_non_invite_relay_and_wait_timer_cleanup() -> None:
    rig = Rig(proxy_script(), {"wt_timer": 2})
    rig.receive(invite(method="MESSAGE"), CALLER)
    (out,) = rig.take()
    rig.receive(rig.answer(out, 200, "OK"), ALICE)
    assert lines(rig.take()) == ["SIP/2.0 200 OK"]
    rig.advance(10)
    assert not rig.tm.cells and len(rig.tm.table) == 0


def test_once_cancelled_a_487_wins_over_a_better_ranked_final() -> None:
    """RFC 3261 16.7 ranks a 404 above a 487; OpenSIPS (and we) send the 487 once the caller
    cancelled: the caller asked to stop, "Request Terminated" is what it must hear."""
    rig = Rig(proxy_script(before=add_bob))
    data, sent = start_call(rig)
    (to_alice,) = to(sent, ALICE)
    (to_bob,) = to(sent, BOB)
    rig.receive(rig.answer(to_alice, 180, "Ringing", to_tag="a"), ALICE)
    rig.receive(rig.answer(to_bob, 180, "Ringing", to_tag="b"), BOB)
    rig.take()
    rig.receive(cancel_of(data), CALLER)
    rig.take()
    # alice's phone had already given up with a 404 when the CANCEL reached it; bob's obeys it
    rig.receive(rig.answer(to_alice, 404, "Not Found", to_tag="a"), ALICE)
    rig.receive(rig.answer(to_bob, 487, "Request Terminated", to_tag="b"), BOB)
    assert lines(to(rig.take(), CALLER)) == ["SIP/2.0 487 Request Terminated"]


def test_without_a_cancel_a_404_is_preferred_to_a_487() -> None:
    rig = Rig(proxy_script(before=add_bob))
    _, sent = start_call(rig)
    (to_alice,) = to(sent, ALICE)
    (to_bob,) = to(sent, BOB)
    rig.receive(rig.answer(to_alice, 404, "Not Found", to_tag="a"), ALICE)
    rig.receive(rig.answer(to_bob, 487, "Request Terminated", to_tag="b"), BOB)
    assert lines(to(rig.take(), CALLER)) == ["SIP/2.0 404 Not Found"]
