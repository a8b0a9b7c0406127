"""tm's function fixups, t_check_trans cases, the pseudo-variables and the module parameters."""

from __future__ import annotations

import re

import pytest
from test_tm_fake import ALICE, CALLER, Rig, Sent, fn, invite, route, tm_exports

from pysips.script.ast import NOWHERE, RouteKind
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext
from pysips.script.flags import FlagRegistry
from pysips.script.pv import PVRegistry
from pysips.sip.message import SipMessage

FCTX = FixupContext(FlagRegistry(), {}, NOWHERE)


def relay_flags_fixup(value: object) -> int:
    spec = tm_exports().functions_by_name["t_relay"].args[0]
    assert spec.fixup is not None
    result: int = spec.fixup(value, FCTX)
    return result


def test_t_relay_flags_accept_3x_names_and_2x_numbers() -> None:
    assert relay_flags_fixup("no-auto-477, no-dns-failover") == 0x02 | 0x04
    assert relay_flags_fixup("0x08") == 0x08
    assert relay_flags_fixup("") == 0
    with pytest.raises(FixupError):
        relay_flags_fixup("bogus")


def test_t_relay_outbound_proxy_becomes_du() -> None:
    spec = tm_exports().functions_by_name["t_relay"].args[1]
    assert spec.fixup is not None
    assert spec.fixup("tcp:10.0.0.4:5070", FCTX) == "sip:10.0.0.4:5070;transport=tcp"
    assert spec.fixup("10.0.0.4", FCTX) == "sip:10.0.0.4"
    with pytest.raises(FixupError):
        spec.fixup("udp:", FCTX)


def test_2x_t_relay_proxy_form_is_accepted_with_a_warning() -> None:
    fctx = FixupContext(FlagRegistry(), {}, NOWHERE)
    flags_spec, proxy_spec = tm_exports().functions_by_name["t_relay"].args
    assert flags_spec.fixup is not None and proxy_spec.fixup is not None
    assert flags_spec.fixup("udp:10.0.0.9:5099", fctx) == "sip:10.0.0.9:5099"
    assert len(fctx.warnings) == 1 and 't_relay(, "udp:10.0.0.9:5099")' in fctx.warnings[0]
    # the 2.x second argument is the flags: a number, not a proxy
    assert proxy_spec.fixup("2", fctx) == 2 and proxy_spec.fixup("0x04", fctx) == 4
    # neither argument must be a constant (OpenSIPS fixes variables up per call)
    assert not flags_spec.static and not proxy_spec.static


def test_2x_t_relay_proxy_form_relays_to_the_proxy() -> None:
    t_relay = fn("t_relay")
    results: list[int] = []

    def script(ctx: MsgContext) -> int:
        results.append(t_relay(ctx, "sip:10.0.0.4:5099", 0x02))
        return 0

    rig = Rig(script)
    rig.receive(invite(), CALLER)
    relayed = [s for s in rig.take() if s.data.startswith(b"INVITE ")]
    assert results == [1]
    assert [(s.dst.ip, s.dst.port) for s in relayed] == [("10.0.0.4", 5099)]


def test_params_have_opensips_defaults_and_accept_old_names() -> None:
    exports = tm_exports()
    defaults = {p.name: p.default for p in exports.params}
    assert defaults["fr_timeout"] == 30 and defaults["fr_inv_timeout"] == 120
    assert defaults["restart_fr_on_each_reply"] == 1 and defaults["onreply_avp_mode"] == 0
    for name in ("fr_timer", "fr_inv_timer", "wt_timer", "T1_timer", "T2_timer", "auto_100trying",
                 "disable_6xx_block"):
        assert exports.param(name) is not None
    rig = Rig(lambda ctx: 1, {"fr_timer": 7, "T1_timer": 250})
    assert rig.tm.config.fr_timeout == 7.0 and rig.tm.config.timers.t1 == 0.25


def relay_everything(ctx: MsgContext) -> int:
    if fn("t_check_trans")(ctx) == 0:
        return 0
    fn("t_relay")(ctx)
    return 0


def test_t_check_trans_on_acks() -> None:
    checks: list[int] = []

    def script(ctx: MsgContext) -> int:
        assert isinstance(ctx.msg, SipMessage)
        if ctx.msg.method == "ACK":
            checks.append(fn("t_check_trans")(ctx))
            return 0
        return relay_everything(ctx)

    rig = Rig(script)
    rig.receive(invite(), CALLER)
    out = next(s for s in rig.take() if (s.dst.ip, s.dst.port) == ALICE)
    rig.receive(rig.answer(out, 200, "OK"), ALICE)
    rig.take()
    # an ACK for the 2xx with the INVITE's branch (RFC 2543 habit) finds an accepted transaction
    rig.receive(invite(method="ACK", to_tag="callee"), CALLER)
    # an ACK that matches nothing
    rig.receive(invite(method="ACK", branch="z9hG4bKnothing", to_tag="x", call_id="other"), CALLER)
    assert checks == [-2, -1]


def test_t_check_trans_hop_by_hop_ack_without_the_hook() -> None:
    checks: list[int] = []

    def script(ctx: MsgContext) -> int:
        assert isinstance(ctx.msg, SipMessage)
        if ctx.msg.method == "ACK":
            checks.append(fn("t_check_trans")(ctx))
            checks.append(fn("t_relay")(ctx))
            return 0
        return fn("t_reply")(ctx, 486, "Busy Here")

    rig = Rig(script)
    rig.receive(invite(), CALLER)
    busy = rig.take()[-1].msg
    rig.engine.hooks.request.clear()
    rig.receive(invite(method="ACK", to_tag=busy.to.tag), CALLER)
    assert checks == [1, 1]
    assert rig.take() == []  # absorbed, not forwarded


def pv(name: str, sub: str | None = None) -> object:
    registry = PVRegistry()
    for export in tm_exports().pvars:
        registry.register(export.name, export.factory)
    return registry.create(name, sub, NOWHERE)


def test_pvars_in_branch_onreply_and_failure_routes() -> None:
    seen: dict[str, object] = {}
    reply_code = pv("T_reply_code")
    branch_idx = pv("T_branch_idx")
    t_ruri = pv("T_ruri")
    bavp = pv("bavp", "x")

    def branch_route(ctx: MsgContext) -> int:
        seen["branch_idx"] = branch_idx.get(ctx)  # type: ignore[attr-defined]
        bavp.set(ctx, "set-in-branch")  # type: ignore[attr-defined]
        return 1

    def onreply(ctx: MsgContext) -> int:
        seen["reply_code"] = reply_code.get(ctx)  # type: ignore[attr-defined]
        seen["reply_bavp"] = bavp.get(ctx)  # type: ignore[attr-defined]
        return 1

    def failure(ctx: MsgContext) -> int:
        seen["failure_code"] = reply_code.get(ctx)  # type: ignore[attr-defined]
        seen["failure_ruri"] = t_ruri.get(ctx)  # type: ignore[attr-defined]
        seen["failure_status"] = fn("t_check_status")(ctx, re.compile("^4"))
        seen["local"] = fn("t_local_replied")(ctx, "last")
        return 1



    def script(ctx: MsgContext) -> int:
        if fn("t_check_trans")(ctx) == 0:
            return 0
        fn("t_on_branch")(ctx, route(RouteKind.BRANCH, branch_route))
        fn("t_on_reply")(ctx, route(RouteKind.ONREPLY, onreply))
        fn("t_on_failure")(ctx, route(RouteKind.FAILURE, failure))
        return fn("t_relay")(ctx)

    rig = Rig(script)
    rig.receive(invite(), CALLER)
    out: Sent = rig.take()[-1]
    rig.receive(rig.answer(out, 404, "Not Found"), ALICE)
    assert seen == {
        "branch_idx": 0,
        "reply_code": 404,
        "reply_bavp": "set-in-branch",
        "failure_code": 404,
        "failure_ruri": "sip:bob@10.0.0.3",
        "failure_status": 1,
        "local": -1,
    }


def test_t_fr_timeout_set_before_relay_applies_to_the_transaction() -> None:
    fr = pv("T_fr_timeout")

    def script(ctx: MsgContext) -> int:
        fr.set(ctx, 1)  # type: ignore[attr-defined]
        assert fr.get(ctx) == 1  # type: ignore[attr-defined]
        return fn("t_relay")(ctx)

    rig = Rig(script)
    rig.receive(invite(), CALLER)
    rig.take()
    rig.advance(1.1)
    assert "SIP/2.0 408 Request Timeout" in [s.first_line for s in rig.take()]


def test_t_reply_code_in_request_route_is_the_last_reply_sent() -> None:
    codes: list[object] = []
    code_pv = pv("T_reply_code")

    def script(ctx: MsgContext) -> int:
        codes.append(code_pv.get(ctx))  # type: ignore[attr-defined]
        fn("t_newtran")(ctx)
        codes.append(code_pv.get(ctx))  # type: ignore[attr-defined]
        return 1

    rig = Rig(script)
    rig.receive(invite(), CALLER)
    assert codes == [None, 100]


def test_unknown_pvar_subname_is_a_load_error() -> None:
    from pysips.script.pv_base import PVError

    with pytest.raises(PVError):
        pv("T_reply_code", "x")
    with pytest.raises(PVError):
        pv("bavp", None)


def test_t_was_cancelled_false_without_transaction() -> None:
    ctx = MsgContext(Rig(lambda c: 1).process, route_type=RouteType.FAILURE)
    assert fn("t_was_cancelled")(ctx) == -1
