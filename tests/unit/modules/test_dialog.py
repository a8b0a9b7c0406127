"""dialog over fakes of tm, rr and the engine clock: the state machine (1 unconfirmed .. 5
deleted), did matching, CSeq shifting after our own requests, timeouts ending the call with BYE
both ways, pings, $DLG_* variables, values and profiles. The sipp tests
(tests/integration/test_dialog_calls.py) run the same with the real tm and rr."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pysips.core.api import Hooks
from pysips.core.services import DIALOGS, RECORD_ROUTE, TRANSACTIONS, LooseRouteMatch, UacReply, UacRequest
from pysips.script.ast import NOWHERE
from pysips.script.context import MsgContext, ProcessState
from pysips.script.errors import FixupError
from pysips.script.exports import FixupContext, ModuleExports, ModuleInitContext
from pysips.script.flags import FlagRegistry
from pysips.script.loader import ModuleFinder
from pysips.script.pv_base import PVAccessor
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

RCV = ReceiveInfo("udp", "127.0.0.1", 5060, "127.0.0.1", 40000)


def exports() -> ModuleExports:
    found = ModuleFinder().find("dialog")
    assert found is not None
    return found.exports


class Timer:
    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when, self.fn, self.cancelled = when, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeCore:
    def __init__(self) -> None:
        self.clock = 100.0
        self.timers: list[Timer] = []
        self.hooks = Hooks()

    def request_done(self, ctx: MsgContext) -> None:
        """What the engine does when a request's main route has ended."""
        for hook in self.hooks.request_done:
            hook(ctx)

    def now(self) -> float:
        return self.clock

    def wall_time(self) -> float:
        return 1_700_000_000.0 + self.clock

    def call_at(self, when: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(when, fn)
        self.timers.append(timer)
        return timer

    def run_route(self, ctx: MsgContext, route: Callable[[MsgContext], int]) -> int:
        return route(ctx)

    def advance(self, seconds: float) -> None:
        self.clock += seconds
        for timer in sorted(self.timers, key=lambda t: t.when):
            if not timer.cancelled and timer.when <= self.clock and timer in self.timers:
                self.timers.remove(timer)
                timer.fn()


class FakeTm:
    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callable[..., None]]] = {}
        self.sent: list[tuple[UacRequest, Callable[[UacReply], None] | None]] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda fn: self.callbacks.setdefault(name[3:], []).append(fn)
        raise AttributeError(name)

    def fire(self, name: str, *args: Any) -> None:
        for fn in self.callbacks.get(name, []):
            fn(*args)

    def send_request(self, request: UacRequest, callback: Callable[[UacReply], None] | None = None) -> int:
        self.sent.append((request, callback))
        return 1


class FakeRr:
    def __init__(self) -> None:
        self.params: list[str] = []
        self.loose: list[Callable[..., None]] = []

    def add_rr_param(self, ctx: MsgContext, param: str) -> int:
        self.params.append(param)
        return 1

    def on_loose_route(self, fn: Callable[..., None]) -> None:
        self.loose.append(fn)


class Tx:
    def __init__(self, tid: str, method: str = "INVITE") -> None:
        self.id, self.method, self.is_invite, self.cancelled = tid, method, method == "INVITE", False


class Var(PVAccessor):
    def __init__(self) -> None:
        super().__init__("var", True)
        self.value: Any = None

    def get(self, ctx: MsgContext) -> Any:
        return self.value

    def set(self, ctx: MsgContext, value: Any) -> None:
        self.value = value


PARAMS = {p.name: p.default for p in exports().params}


@pytest.fixture
def env() -> Any:
    process = ProcessState()
    process.core = FakeCore()
    tm, rr = FakeTm(), FakeRr()
    process.services.provide(TRANSACTIONS, tm, "tm")  # type: ignore[arg-type]
    process.services.provide(RECORD_ROUTE, rr, "rr")  # type: ignore[arg-type]
    params = dict(PARAMS, profiles_with_value="caller", profiles_no_value="calls",
                  options_ping_interval=5, reinvite_ping_interval=0, default_timeout=60)
    ictx = ModuleInitContext("dialog", process, FlagRegistry(), None)
    init = exports().init
    assert init is not None
    runtime = init(ictx, params)
    process.modules["dialog"] = runtime
    assert process.services.get(DIALOGS) is runtime

    class Env:
        pass

    e = Env()
    e.process, e.tm, e.rr, e.dialogs, e.core = process, tm, rr, runtime, process.core  # type: ignore[attr-defined]
    return e


INVITE = (
    "INVITE sip:bob@127.0.0.1:5080 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5040;branch=z9hG4bK1\r\n"
    "Record-Route: <sip:up.example.com;lr>\r\n"
    "From: <sip:alice@example.com>;tag=alice1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: call-1\r\nCSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@127.0.0.1:5040>\r\nContent-Length: 0\r\n\r\n"
)


def reply(code: int, did: str, tag: str = "bob1") -> SipMessage:
    return parse_message(
        (f"SIP/2.0 {code} Whatever\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5040;branch=z9hG4bK1\r\n"
         "Record-Route: <sip:down.example.com;lr>\r\n"
         f"Record-Route: <sip:127.0.0.1:5060;lr;did={did}>\r\n"
         "Record-Route: <sip:up.example.com;lr>\r\n"
         f"From: <sip:alice@example.com>;tag=alice1\r\nTo: <sip:bob@example.com>;tag={tag}\r\n"
         "Call-ID: call-1\r\nCSeq: 1 INVITE\r\n"
         "Contact: <sip:bob@127.0.0.1:5080>\r\nContent-Length: 0\r\n\r\n").encode())


def request(method: str, cseq: int, from_caller: bool = True, call_id: str = "call-1") -> SipMessage:
    ftag, ttag = ("alice1", "bob1") if from_caller else ("bob1", "alice1")
    return parse_message(
        (f"{method} sip:x@127.0.0.1 SIP/2.0\r\n"
         f"Via: SIP/2.0/UDP 127.0.0.1:5040;branch=z9hG4bK{cseq}{method}\r\n"
         f"From: <sip:a@example.com>;tag={ftag}\r\nTo: <sip:b@example.com>;tag={ttag}\r\n"
         f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n").encode())


def fn(name: str) -> Callable[..., int]:
    return exports().functions_by_name[name].handler


def pv(name: str, sub: str | None = None) -> PVAccessor:
    factory = next(p.factory for p in exports().pvars if p.name == name)
    accessor: PVAccessor = factory(name, sub, NOWHERE)
    return accessor


def flags_of(text: str) -> int:
    fixup = exports().functions_by_name["create_dialog"].args[0].fixup
    assert fixup is not None
    return int(fixup(text, FixupContext(FlagRegistry(), {})))


def new_call(e: Any, flags: str = "") -> tuple[MsgContext, Any]:
    ctx = MsgContext(e.process, parse_message(INVITE.encode()), RCV)
    parsed = flags_of(flags)
    assert fn("create_dialog")(ctx, parsed) == 1
    dlg = e.dialogs.current(ctx)
    e.tm.fire("created", ctx, Tx("t1"))
    return ctx, dlg


def answer(e: Any, dlg: Any) -> None:
    e.tm.fire("reply_in", Tx("t1"), None, reply(180, dlg.did))
    e.tm.fire("reply_out", Tx("t1"), 180, "", reply(180, dlg.did))
    e.tm.fire("reply_in", Tx("t1"), None, reply(200, dlg.did))
    e.tm.fire("reply_out", Tx("t1"), 200, "", reply(200, dlg.did))
    e.tm.fire("completed", Tx("t1"), 200)


def seq(e: Any, method: str, cseq: int, dlg: Any, from_caller: bool = True) -> MsgContext:
    ctx = MsgContext(e.process, request(method, cseq, from_caller), RCV)
    for cb in e.rr.loose:
        cb(ctx, LooseRouteMatch("sip:127.0.0.1:5060", {"lr": "", "did": dlg.did}))
    return ctx


def test_did_is_reverse_hex_and_goes_into_the_record_route(env: Any) -> None:
    from modules.dialog.model import parse_did, reverse_hex

    assert reverse_hex(0x1A3) == "3a1"
    assert parse_did("3a1.f") == (0x1A3, 0xF)
    _, dlg = new_call(env)
    assert env.rr.params == [f";did={dlg.did}"]
    assert dlg.db_id == (dlg.h_entry << 32) + dlg.h_id


def test_states_from_invite_to_bye(env: Any) -> None:
    ctx, dlg = new_call(env)
    assert dlg.state == 1 and pv("DLG_status").get(ctx) == 1
    env.tm.fire("reply_in", Tx("t1"), None, reply(180, dlg.did))
    env.tm.fire("reply_out", Tx("t1"), 180, "", reply(180, dlg.did))
    assert dlg.state == 2 and env.dialogs.early == 1
    env.tm.fire("reply_in", Tx("t1"), None, reply(200, dlg.did))
    env.tm.fire("reply_out", Tx("t1"), 200, "", reply(200, dlg.did))
    assert dlg.state == 3 and env.dialogs.active == 1 and env.dialogs.early == 0
    # the route sets on each side of our Record-Route, and the callee's Contact and tag
    assert dlg.caller.route_set == ["<sip:up.example.com;lr>"]
    assert dlg.callee.route_set == ["<sip:down.example.com;lr>"]
    assert dlg.callee.contact == "sip:bob@127.0.0.1:5080" and dlg.callee.tag == "bob1"
    ack = seq(env, "ACK", 1, dlg)
    assert dlg.state == 4 and pv("DLG_dir").get(ack) == "downstream"
    bye = seq(env, "BYE", 2, dlg, from_caller=False)
    assert dlg.state == 5 and pv("DLG_status").get(bye) == 5
    assert pv("DLG_end_reason").get(bye) == "Upstream BYE"
    assert env.dialogs.active == 0 and env.dialogs.processed == 1
    assert env.tm.sent == []  # a BYE from a party is relayed, not answered by BYEs of ours
    # listed as deleted while the BYE's transaction lives (as OpenSIPS), forgotten with it
    env.tm.fire("created", bye, Tx("t-bye", "BYE"))
    assert list(env.dialogs.table.values()) == [dlg]
    env.tm.fire("deleted", Tx("t-bye", "BYE"))
    assert not env.dialogs.table


def test_negative_final_fails_the_dialog(env: Any) -> None:
    _, dlg = new_call(env)
    env.tm.fire("reply_in", Tx("t1"), None, reply(183, dlg.did))
    env.tm.fire("reply_out", Tx("t1"), 183, "", reply(183, dlg.did))
    env.tm.fire("completed", Tx("t1"), 486)
    assert dlg.state == 5 and env.dialogs.failed == 1 and env.dialogs.early == 0 and not env.dialogs.table


def test_match_dialog_by_callid_and_tags(env: Any) -> None:
    _, dlg = new_call(env)
    answer(env, dlg)
    ctx = MsgContext(env.process, request("INFO", 2), RCV)
    assert fn("match_dialog")(ctx) == 1 and env.dialogs.current(ctx) is dlg
    stranger = MsgContext(env.process, request("INFO", 2, call_id="other"), RCV)
    assert fn("match_dialog")(stranger) == -1


def test_lifetime_timeout_sends_bye_both_ways(env: Any) -> None:
    ctx = MsgContext(env.process, parse_message(INVITE.encode()), RCV)
    pv("DLG_timeout").set(ctx, 5)  # before create_dialog: the lifetime of this dialog
    parsed = flags_of("bye-on-timeout")
    fn("create_dialog")(ctx, parsed)
    dlg = env.dialogs.current(ctx)
    env.tm.fire("created", ctx, Tx("t1"))
    answer(env, dlg)
    seq(env, "ACK", 1, dlg)
    env.core.advance(4)
    assert dlg.state == 4
    env.core.advance(2)
    assert dlg.state == 5 and dlg.end_reason == "Lifetime Timeout"
    assert env.dialogs.expired == 1 and env.dialogs.processed == 1
    byes = [r for r, _ in env.tm.sent if r.method == "BYE"]
    assert len(byes) == 2
    to_caller, to_callee = byes
    assert to_caller.ruri == "sip:alice@127.0.0.1:5040"
    assert to_caller.route_set == ("<sip:up.example.com;lr>",)
    assert (to_caller.from_tag, to_caller.to_tag, to_caller.cseq) == ("bob1", "alice1", 1)
    assert to_callee.ruri == "sip:bob@127.0.0.1:5080"
    assert to_callee.route_set == ("<sip:down.example.com;lr>",)
    assert (to_callee.from_tag, to_callee.to_tag, to_callee.cseq) == ("alice1", "bob1", 2)


def test_timeout_without_the_flag_only_forgets(env: Any) -> None:
    _, dlg = new_call(env)
    answer(env, dlg)
    env.core.advance(61)
    assert dlg.state == 5 and env.dialogs.expired == 1 and env.tm.sent == []


def test_ping_then_requests_shifted_past_our_cseq_and_dead_party_ends_call(env: Any) -> None:
    _, dlg = new_call(env, "options-ping-caller,options-ping-callee")
    answer(env, dlg)
    seq(env, "ACK", 1, dlg)
    env.dialogs.start_pinging()
    env.core.advance(5)
    pings = [(r, cb) for r, cb in env.tm.sent if r.method == "OPTIONS"]
    assert [(r.ruri, r.cseq) for r, _ in pings] == [
        ("sip:alice@127.0.0.1:5040", 1), ("sip:bob@127.0.0.1:5080", 2)]
    for _, cb in pings:
        assert cb is not None
        cb(UacReply(200, "OK", None, "call-1"))
    # the caller's next request is relayed with CSeq 3: the callee saw our OPTIONS as 2
    info = seq(env, "INFO", 2, dlg)
    assert b"CSeq: 3 INFO" in info.msg.serialize()
    # next round: the callee does not answer; the call is ended with BYE both ways
    env.core.advance(5)
    callee_ping = [cb for r, cb in env.tm.sent if r.method == "OPTIONS" and r.ruri.startswith("sip:bob")][-1]
    assert callee_ping is not None
    callee_ping(UacReply(408, "Request Timeout", None, "call-1", local=True))
    assert dlg.state == 5 and dlg.end_reason == "Callee Ping Timeout"
    assert len([r for r, _ in env.tm.sent if r.method == "BYE"]) == 2


def test_values_flags_and_variables(env: Any) -> None:
    ctx, dlg = new_call(env)
    pv("dlg_val", "x").set(ctx, "hello")
    assert dlg.vals == {"x": "hello"}
    out = Var()
    assert fn("fetch_dlg_value")(ctx, "x", out) == 1 and out.value == "hello"
    value = Var()
    value.value = 7
    assert fn("store_dlg_value")(ctx, "n", value) == 1 and dlg.vals["n"] == 7
    assert fn("fetch_dlg_value")(ctx, "missing", out) == -1
    pv("DLG_flags").set(ctx, 5)
    assert fn("is_dlg_flag_set")(ctx, 2) == 1 and fn("is_dlg_flag_set")(ctx, 1) == -1
    # 3.x named dialog flags: numbered at load in their own namespace
    flags = FlagRegistry()
    named = exports().functions_by_name["set_dlg_flag"].args[0].fixup
    assert named is not None
    assert named("billed", FixupContext(flags, {})) == 0 and named("vip", FixupContext(flags, {})) == 1
    assert fn("test_and_set_dlg_flag")(ctx, 1, 0) == 1 and fn("is_dlg_flag_set")(ctx, 1) == 1
    assert fn("test_and_set_dlg_flag")(ctx, 1, 0) == -1
    assert pv("DLG_did").get(ctx) == dlg.did and pv("DLG_count").get(ctx) == 0
    answer(env, dlg)
    assert pv("DLG_count").get(ctx) == 1 and pv("DLG_lifetime").get(ctx) == 0
    env.core.advance(3)
    assert pv("DLG_lifetime").get(ctx) == 3 and pv("DLG_timeout").get(ctx) == 57
    no_dialog = MsgContext(env.process, request("INFO", 1, call_id="x"), RCV)
    assert pv("DLG_status").get(no_dialog) is None and pv("dlg_val", "x").get(no_dialog) is None


def test_profiles_count_and_empty_when_calls_end(env: Any) -> None:
    ctx, dlg = new_call(env)
    assert fn("set_dlg_profile")(ctx, "calls") == 1
    assert fn("set_dlg_profile")(ctx, "caller", "alice") == 1
    assert fn("set_dlg_profile")(ctx, "nosuch") == -1
    size = Var()
    fn("get_profile_size")(ctx, "calls", None, size)
    assert size.value == 1
    fn("get_profile_size")(ctx, "caller", "alice", size)
    assert size.value == 1
    fn("get_profile_size")(ctx, "caller", "bob", size)
    assert size.value == 0
    assert fn("is_in_profile")(ctx, "caller", "alice") == 1
    assert fn("is_in_profile")(ctx, "caller", "bob") == -1
    assert fn("unset_dlg_profile")(ctx, "caller", "alice") == 1
    assert fn("is_in_profile")(ctx, "caller") == -1
    answer(env, dlg)
    seq(env, "BYE", 2, dlg)
    fn("get_profile_size")(ctx, "calls", None, size)
    assert size.value == 0


def test_create_dialog_flags() -> None:
    from modules.dialog.model import (
        FLAG_BYEONTIMEOUT,
        FLAG_PING_CALLEE,
        FLAG_PING_CALLER,
        FLAG_REINVITE_PING_CALLER,
        parse_create_flags,
    )

    assert parse_create_flags("PpB") == FLAG_PING_CALLER | FLAG_PING_CALLEE | FLAG_BYEONTIMEOUT
    assert parse_create_flags("options-ping-caller, bye-on-timeout") == FLAG_PING_CALLER | FLAG_BYEONTIMEOUT
    assert parse_create_flags("PR") == FLAG_REINVITE_PING_CALLER  # re-INVITE pinging wins
    fixup = exports().functions_by_name["create_dialog"].args[0].fixup
    assert fixup is not None
    with pytest.raises(FixupError):
        fixup("bye-on-timeot", FixupContext(FlagRegistry(), {}))


def test_validate_dialog(env: Any) -> None:
    _, dlg = new_call(env)
    answer(env, dlg)
    ok = seq(env, "INFO", 2, dlg)
    assert fn("validate_dialog")(ok) == 1
    old = seq(env, "INFO", 1, dlg)
    assert fn("validate_dialog")(old) == -1
    none = MsgContext(env.process, request("INFO", 1, call_id="x"), RCV)
    assert fn("validate_dialog")(none) == -4


def test_dlg_send_sequential_to_each_leg(env: Any) -> None:
    ctx, dlg = new_call(env)
    leg = exports().functions_by_name["dlg_send_sequential"].args[1].fixup
    assert leg is not None
    with pytest.raises(FixupError):
        leg("both", FixupContext(FlagRegistry(), {}))
    send = fn("dlg_send_sequential")
    assert send(ctx, "INFO", leg("callee", FixupContext(FlagRegistry(), {}))) == -1  # not confirmed yet
    answer(env, dlg)
    assert send(ctx, "UPDATE", leg("callee", FixupContext(FlagRegistry(), {})), "v=0", "application/sdp",
                "X-A: 1") == 1
    request, callback = env.tm.sent[-1]
    assert (request.method, request.ruri, request.cseq) == ("UPDATE", "sip:bob@127.0.0.1:5080", 2)
    assert request.body == b"v=0" and request.content_type == "application/sdp"
    assert request.headers == ("X-A: 1",)
    assert send(ctx, "INVITE", leg("caller", FixupContext(FlagRegistry(), {}))) == 1
    invite, callback = env.tm.sent[-1]
    assert invite.ruri == "sip:alice@127.0.0.1:5040" and invite.from_tag == "bob1"
    assert callback is not None
    callback(UacReply(200, "OK", reply(200, dlg.did), "call-1"))
    ack = env.tm.sent[-1][0]
    assert ack.method == "ACK" and ack.cseq == 1  # the INVITE's CSeq


def test_match_modes(env: Any) -> None:
    _, dlg = new_call(env)
    answer(env, dlg)
    mode = exports().functions_by_name["match_dialog"].args[0].fixup
    assert mode is not None
    did_only = mode("did_only", FixupContext(FlagRegistry(), {}))
    with pytest.raises(FixupError):
        mode("sometimes", FixupContext(FlagRegistry(), {}))
    plain = MsgContext(env.process, request("INFO", 2), RCV)  # no Route: Call-ID and tags only
    assert fn("match_dialog")(plain, did_only) == -1
    assert fn("match_dialog")(plain, mode("did_fallback", FixupContext(FlagRegistry(), {}))) == 1
    routed = parse_message(request("INFO", 3).raw.replace(
        b"Call-ID", f"Route: <sip:127.0.0.1:5060;lr;did={dlg.did}>\r\nCall-ID".encode()))
    assert fn("match_dialog")(MsgContext(env.process, routed, RCV), did_only) == 1
    wrong = parse_message(request("INFO", 4).raw.replace(
        b"Call-ID", b"Route: <sip:127.0.0.1:5060;lr;did=fff.fff>\r\nCall-ID"))
    assert fn("match_dialog")(MsgContext(env.process, wrong, RCV), did_only) == -1


def test_reinvite_ping_acks_its_2xx_and_a_481_ends_the_call(env: Any) -> None:
    ctx = MsgContext(env.process, parse_message(INVITE.encode()), RCV)
    fn("create_dialog")(ctx, flags_of("reinvite-ping-caller"))
    dlg = env.dialogs.current(ctx)
    env.tm.fire("created", ctx, Tx("t1"))
    answer(env, dlg)
    env.dialogs._ping_round(True)
    invite, callback = env.tm.sent[-1]
    assert invite.method == "INVITE" and invite.ruri == "sip:alice@127.0.0.1:5040"
    assert callback is not None
    callback(UacReply(200, "OK", reply(200, dlg.did), "call-1"))
    assert env.tm.sent[-1][0].method == "ACK"
    env.dialogs._ping_round(True)
    callback = env.tm.sent[-1][1]
    assert callback is not None
    callback(UacReply(481, "Call Does Not Exist", None, "call-1"))
    assert dlg.state == 5 and dlg.end_reason == "Caller ReINVITE Ping Timeout"


def test_dialog_routes_on_answer_hangup_and_timeout(env: Any) -> None:
    from pysips.script.ast import RouteKind
    from pysips.script.exports import RouteRef

    seen: list[tuple[str, Any, Any]] = []

    def route(name: str, action: Callable[[MsgContext], None] | None = None) -> RouteRef:
        def run(ctx: MsgContext) -> int:
            seen.append((name, pv("DLG_status").get(ctx), ctx.msg.method))
            if action is not None:
                action(ctx)
            return 1
        return RouteRef(RouteKind.REQUEST, name, run)

    ctx, dlg = new_call(env)
    extend = route("on_timeout", lambda c: pv("DLG_timeout").set(c, 10) if len(seen) == 2 else None)
    assert fn("dlg_on_timeout")(ctx, extend) == 1
    assert fn("dlg_on_answer")(ctx, route("on_answer")) == 1
    assert fn("dlg_on_hangup")(ctx, route("on_hangup")) == 1
    answer(env, dlg)
    assert seen == [("on_answer", 3, "DUMMY")]
    assert fn("dlg_on_timeout")(ctx, None) == -1  # too late once answered
    env.core.advance(61)
    assert seen[-1] == ("on_timeout", 3, "DUMMY") and dlg.state == 3  # the route gave 10 s more
    env.core.advance(11)
    assert seen[-1][0] == "on_timeout" and dlg.state == 5 and env.dialogs.expired == 1
    ctx2, dlg2 = new_call(env)
    fn("dlg_on_hangup")(ctx2, route("on_hangup"))
    answer(env, dlg2)
    seq(env, "BYE", 2, dlg2)
    assert seen[-1] == ("on_hangup", 5, "DUMMY")


def test_load_and_unload_dialog_ctx(env: Any) -> None:
    _, dlg = new_call(env)
    answer(env, dlg)
    timer_ctx = MsgContext(env.process, None, None)
    assert pv("DLG_status").get(timer_ctx) is None
    assert fn("load_dialog_ctx")(timer_ctx, "call-1") == 1
    assert pv("DLG_did").get(timer_ctx) == dlg.did and pv("DLG_status").get(timer_ctx) == 3
    assert fn("load_dialog_ctx")(timer_ctx, "call-1") == -1  # nested
    assert fn("unload_dialog_ctx")(timer_ctx) == 1 and pv("DLG_status").get(timer_ctx) is None
    assert fn("load_dialog_ctx")(timer_ctx, dlg.did, "did") == 1
    assert fn("unload_dialog_ctx")(timer_ctx) == 1
    assert fn("load_dialog_ctx")(timer_ctx, "no-such-call") == -1
    assert fn("unload_dialog_ctx")(timer_ctx) == -1


def test_get_dialog_info_and_vals(env: Any) -> None:
    ctx, dlg = new_call(env)
    answer(env, dlg)
    pv("dlg_val", "account").set(ctx, "acme")
    pv("dlg_val", "caller").set(ctx, "alice")
    out, key, count = Var(), Var(), Var()
    key.value = "acme"
    assert fn("get_dialog_info")(ctx, "caller", out, "account", key, count) == 1
    assert out.value == "alice" and count.value == 1
    key.value = "other"
    assert fn("get_dialog_info")(ctx, "caller", out, "account", key, count) == -1
    names, values = Var(), Var()
    assert fn("get_dialog_vals")(ctx, names, values, "call-1") == 1
    assert (names.value, values.value) == ("caller", "alice")  # the last one set into each
    assert fn("get_dialog_vals")(ctx, names, values, "nosuch") == -1


def test_dialog_without_transaction_is_dropped(env: Any) -> None:
    """OpenSIPS drops a dialog whose INVITE got no transaction when the request's processing
    ends (tm's pending callbacks released): failed, out of its profiles, at once."""
    ctx = MsgContext(env.process, parse_message(INVITE.encode()), RCV)
    fn("create_dialog")(ctx, 0)  # the script then answers statelessly: no transaction
    fn("set_dlg_profile")(ctx, "calls")
    dlg = env.dialogs.current(ctx)
    assert dlg.state == 1 and env.dialogs.table and env.dialogs.profile_size("calls", None) == 1
    env.core.request_done(ctx)
    assert dlg.state == 5 and not env.dialogs.table
    assert env.dialogs.profile_size("calls", None) == 0 and env.dialogs.failed == 1
    kept_ctx, kept = new_call(env)  # with its transaction it stays
    env.core.request_done(kept_ctx)
    env.core.advance(3)
    assert kept.state == 1 and kept.did in env.dialogs.table and env.dialogs.failed == 1


def test_dialog_json_and_get_dialogs_by(env: Any) -> None:
    import json

    ctx, dlg = new_call(env)
    fn("set_dlg_profile")(ctx, "caller", "alice")
    fn("set_dlg_profile")(ctx, "calls")
    pv("dlg_val", "n").set(ctx, 7)
    pv("dlg_val", "say").set(ctx, 'a "quote"')
    answer(env, dlg)
    plain = json.loads(str(pv("DLG_json").get(ctx)))
    assert plain["ID"] == str(dlg.db_id) and plain["state"] == "3" and plain["callid"] == "call-1"
    assert plain["caller"] == {"tag": "alice1", "contact": "sip:alice@127.0.0.1:5040", "cseq": "0",
                               "route_set": "<sip:up.example.com;lr>", "bind_addr": "udp:127.0.0.1:5060",
                               "sdp": ""}
    assert plain["callees"][0]["tag"] == "bob1" and plain["callees"][0]["cseq"] == "1"
    assert "values" not in plain
    full = json.loads(str(pv("DLG_ctx_json").get(ctx)))
    assert full["values"] == {"say": 'a "quote"', "n": 7}
    assert full["profiles"] == {"calls": [""], "caller": ["alice"]}
    out, count = Var(), Var()
    assert fn("get_dialogs_by_profile")(ctx, "caller", "alice", out, count) == 1 and count.value == 1
    assert json.loads(out.value)["ID"] == str(dlg.db_id)
    assert fn("get_dialogs_by_profile")(ctx, "caller", "bob", out, count) == -1
    wanted = Var()
    wanted.value = 7
    assert fn("get_dialogs_by_val")(ctx, "n", wanted, out, count) == 1


def test_del_delay_keeps_a_deleted_dialog_listed(env: Any) -> None:
    ctx, dlg = new_call(env)
    pv("DLG_del_delay").set(ctx, 3)
    assert pv("DLG_del_delay").get(ctx) == 3
    answer(env, dlg)
    bye = seq(env, "BYE", 2, dlg)
    env.tm.fire("created", bye, Tx("t-bye", "BYE"))
    env.tm.fire("deleted", Tx("t-bye", "BYE"))
    assert dlg.state == 5 and dlg.did in env.dialogs.table  # still found by a late request
    late = parse_message(request("BYE", 2).raw.replace(
        b"Call-ID", f"Route: <sip:127.0.0.1:5060;lr;did={dlg.did}>\r\nCall-ID".encode()))
    late_ctx = MsgContext(env.process, late, RCV)
    assert fn("match_dialog")(late_ctx) == 1 and pv("DLG_status").get(late_ctx) == 5
    env.core.advance(3.5)
    assert not env.dialogs.table


def test_sharing_tag_accepted_and_inc_cseq_a_load_error(env: Any) -> None:
    """set_dlg_sharing_tag(): 1, as OpenSIPS without a replication cluster; dlg_inc_cseq() is not
    built: a load error naming it."""
    from pysips.script.compile import check_script
    from pysips.script.parse import parse_text

    ctx, _ = new_call(env)
    assert fn("set_dlg_sharing_tag")(ctx, "vip") == 1
    text = ('loadmodule "tm.so"\nloadmodule "dialog.so"\n'
            'route { create_dialog(); set_dlg_sharing_tag("vip"); dlg_inc_cseq(); }\n')
    report = check_script(parse_text(text, "dlg.cfg"))
    errors = [(p.pos.line, p.message) for p in report.problems if not p.warning]
    assert len(errors) == 1 and errors[0][0] == 3 and "dlg_inc_cseq" in errors[0][1], errors


def test_state_changes_raise_the_event(env: Any) -> None:
    """E_DLG_STATE_CHANGED with OpenSIPS's parameters, once per change (none at creation)."""
    from pysips.script.events import EventInterface

    events = EventInterface(env.process, lambda: 0.0)
    seen: list[list[Any]] = []
    env.dialogs.events.interface = events
    events.publish("E_DLG_STATE_CHANGED")

    class Catch:
        def parse(self, address: str) -> Any:
            return address

        def deliver(self, event: str, target: Any, params: list[Any]) -> bool:
            seen.append(params)
            return True

    events.add_transport("test", Catch())
    assert events.subscribe("E_DLG_STATE_CHANGED", "test:x", 0) == 1
    _ctx, dlg = new_call(env)
    assert seen == []
    answer(env, dlg)
    assert [(p[5][1], p[6][1]) for p in seen] == [(1, 2), (2, 3)]
    assert [name for name, _ in seen[0]] == ["id", "db_id", "callid", "from_tag", "to_tag", "old_state",
                                            "new_state"]
    assert seen[1][0][1] == dlg.did and seen[1][1][1] == str(dlg.db_id) and seen[1][4][1] == dlg.callee.tag


def test_create_dialog_again_replaces_the_flags(env: Any) -> None:
    """A dialog made already (acc's do_accounting(..., "cdr") makes one with no flags): a later
    create_dialog(flags) keeps it and sets its flags, as OpenSIPS does; with no flags, nothing."""
    ctx, dlg = new_call(env)
    assert dlg.flags == 0
    assert fn("create_dialog")(ctx, flags_of("bye-on-timeout,options-ping-callee")) == 1
    assert env.dialogs.current(ctx) is dlg and dlg.flags == flags_of("Bp")
    assert fn("create_dialog")(ctx, 0) == 1 and dlg.flags == flags_of("Bp")
    assert fn("create_dialog")(ctx, flags_of("P")) == 1 and dlg.flags == flags_of("P")


def test_topology_hiding_hooks_did_in_ruri_user_and_whole_callee_route_set(env: Any) -> None:
    """What topology_hiding relies on: module_flags, the did in the R-URI (parameter or user part,
    no Route), the within callbacks, and the callee's route set taken whole from its reply."""
    from modules.dialog.model import MODULE_FLAG_TOPOH

    _, dlg = new_call(env)
    dlg.module_flags |= MODULE_FLAG_TOPOH
    env.tm.fire("reply_out", Tx("t1"), 183, "", reply(183, dlg.did))
    # early: the callee's Contact and route set are known already (PRACK, UPDATE)
    assert dlg.callee.contact == "sip:bob@127.0.0.1:5080"
    env.tm.fire("reply_out", Tx("t1"), 200, "", reply(200, dlg.did))
    assert dlg.callee.route_set == ["<sip:down.example.com;lr>", f"<sip:127.0.0.1:5060;lr;did={dlg.did}>",
                                    "<sip:up.example.com;lr>"]
    seen: list[tuple[Any, int]] = []
    env.dialogs.on_within(lambda ctx, d, direction: seen.append((d, direction)))
    did_only = 0
    for ruri in (f"sip:127.0.0.1;did={dlg.did}", f"sip:X.did.{dlg.did}@127.0.0.1"):
        msg = parse_message(request("INFO", 5).raw.replace(b"sip:x@127.0.0.1", ruri.encode(), 1))
        ctx = MsgContext(env.process, msg, RCV)
        assert env.dialogs.match(ctx, did_only) == 1, ruri
    assert seen == [(dlg, 1), (dlg, 1)]
    assert env.dialogs.leg_socket(dlg, True) == dlg.caller.bind_addr and env.dialogs.rr_param == "did"
