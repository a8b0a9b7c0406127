"""rr: record_route (single and double, rendered per outgoing socket), presets, add_rr_param,
loose_route (our double RR, strict routers, pre-loaded routes), check_route_param, is_direction."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from pysips.core.api import Hooks, Socket
from pysips.core.sockets import SocketMyself
from pysips.script.context import MsgContext, ProcessState
from pysips.script.exports import ModuleExports, ModuleInitContext
from pysips.script.flags import FlagRegistry
from pysips.script.loader import ModuleFinder
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

UDP = Socket("udp", "10.0.0.1", 5060)
WS = Socket("ws", "127.0.0.1", 8080)
TLS_ADV = Socket("tls", "192.168.1.1", 5061, advertised_host="sip.example.com", advertised_port=5061)
RCV_UDP = ReceiveInfo("udp", "10.0.0.1", 5060, "10.0.0.2", 5062)
RCV_WS = ReceiveInfo("ws", "127.0.0.1", 8080, "127.0.0.5", 40000, conn_id=7)


def rr() -> ModuleExports:
    found = ModuleFinder().find("rr")
    assert found is not None
    return found.exports


def submodule(name: str) -> Any:
    rr()  # imports the package under the loader's private name
    return importlib.import_module(f"pysips_modules.rr.{name}")


def fn(name: str) -> Callable[..., int]:
    return rr().functions_by_name[name].handler


class FakeCore:
    def __init__(self, sockets: list[Socket]) -> None:
        self.sockets = sockets
        self.hooks = Hooks()
        self.myself = SocketMyself()
        for s in sockets:
            self.myself.add(s.ip, s.port)
            if s.advertised_host:
                self.myself.add(s.advertised_host, s.advertised_port or s.port)

    def receiving_socket(self, rcv: ReceiveInfo) -> Socket | None:
        for s in self.sockets:
            if (s.proto, s.ip, s.port) == (rcv.proto, rcv.local_ip, rcv.local_port):
                return s
        return None


def process(**params: Any) -> ProcessState:
    exports = rr()
    values = {p.name: p.default for p in exports.params}
    values.update(params)
    proc = ProcessState()
    proc.core = FakeCore([UDP, WS, TLS_ADV])
    assert exports.init is not None
    proc.modules["rr"] = exports.init(ModuleInitContext("rr", proc, FlagRegistry(), None), values)
    return proc


def message(text: str) -> SipMessage:
    msg = parse_message(text.replace("\n", "\r\n").encode())
    assert isinstance(msg, SipMessage), msg
    return msg


INVITE = """INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-1
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1
CSeq: 1 INVITE
Content-Length: 0

"""


def ctx_for(text: str, rcv: ReceiveInfo = RCV_UDP, proc: ProcessState | None = None) -> MsgContext:
    return MsgContext(proc or process(), message(text), rcv)


def rr_lines(data: bytes) -> list[str]:
    return [line for line in data.decode().split("\r\n") if line.startswith("Record-Route:")]


# ------------------------------------------------------------------------------------ record_route


def test_record_route_single_udp_omits_port_5060_and_adds_ftag() -> None:
    ctx = ctx_for(INVITE)
    assert fn("record_route")(ctx, None) == 1
    out = ctx.msg.serialize()
    # inserted before the first header, as OpenSIPS does
    assert out.split(b"\r\n")[1] == b"Record-Route: <sip:10.0.0.1;lr;ftag=a1>"


def test_record_route_ws_socket_has_port_and_transport() -> None:
    ctx = ctx_for(INVITE, RCV_WS, process(append_fromtag=0))
    assert fn("record_route")(ctx, ";nat=yes") == 1
    assert rr_lines(ctx.msg.serialize()) == ["Record-Route: <sip:127.0.0.1:8080;transport=ws;lr;nat=yes>"]


def test_second_record_route_is_refused() -> None:
    ctx = ctx_for(INVITE)
    assert fn("record_route")(ctx, None) == 1
    assert fn("record_route")(ctx, None) == -1
    assert fn("record_route_preset")(ctx, "1.2.3.4", None) == -1
    assert len(rr_lines(ctx.msg.serialize())) == 1


def test_double_record_route_when_leaving_through_another_socket() -> None:
    ctx = ctx_for(INVITE, RCV_WS, process(append_fromtag=0))
    fn("record_route")(ctx, None)
    branch = ctx.msg.copy()
    hook = ctx.process.modules["rr"]
    assert hook.finalize_for_socket(branch, UDP) == 1
    assert rr_lines(branch.serialize()) == [
        "Record-Route: <sip:10.0.0.1;r2=on;lr>",  # outbound (faces the callee) first
        "Record-Route: <sip:127.0.0.1:8080;transport=ws;r2=on;lr>",
    ]
    # the original and other branches keep their own rendering
    assert rr_lines(ctx.msg.serialize()) == ["Record-Route: <sip:127.0.0.1:8080;transport=ws;lr>"]
    # idempotent, and re-rendering for the receiving socket gives the single entry back
    hook.finalize_for_socket(branch, UDP)
    assert len(rr_lines(branch.serialize())) == 2
    hook.finalize_for_socket(branch, WS)
    assert rr_lines(branch.serialize()) == ["Record-Route: <sip:127.0.0.1:8080;transport=ws;lr>"]


def test_same_socket_stays_single_and_advertised_address_is_used() -> None:
    rcv = ReceiveInfo("tls", "192.168.1.1", 5061, "10.0.0.9", 40001, 3)
    ctx = ctx_for(INVITE, rcv)
    fn("record_route")(ctx, None)
    ctx.process.modules["rr"].finalize_for_socket(ctx.msg, TLS_ADV)
    want = "Record-Route: <sip:sip.example.com:5061;transport=tls;lr;ftag=a1>"
    assert rr_lines(ctx.msg.serialize()) == [want]


def test_double_rr_disabled_uses_the_outgoing_socket_only() -> None:
    ctx = ctx_for(INVITE, RCV_WS, process(enable_double_rr=0, append_fromtag=0))
    fn("record_route")(ctx, None)
    ctx.process.modules["rr"].finalize_for_socket(ctx.msg, UDP)
    assert rr_lines(ctx.msg.serialize()) == ["Record-Route: <sip:10.0.0.1;lr>"]


def test_add_rr_param_before_and_after_record_route() -> None:
    ctx = ctx_for(INVITE, RCV_WS, process(append_fromtag=0))
    assert fn("add_rr_param")(ctx, ";a=1") == 1
    fn("record_route")(ctx, None)
    ctx.process.modules["rr"].finalize_for_socket(ctx.msg, UDP)
    assert fn("add_rr_param")(ctx, ";b=2") == 1
    # what OpenSIPS 3.6 writes: a parameter added after record_route() comes before earlier ones
    assert rr_lines(ctx.msg.serialize()) == [
        "Record-Route: <sip:10.0.0.1;r2=on;lr;b=2;a=1>",
        "Record-Route: <sip:127.0.0.1:8080;transport=ws;r2=on;lr;b=2;a=1>",
    ]
    # a later re-render keeps the parameters
    ctx.process.modules["rr"].finalize_for_socket(ctx.msg, WS)
    assert rr_lines(ctx.msg.serialize()) == ["Record-Route: <sip:127.0.0.1:8080;transport=ws;lr;b=2;a=1>"]


def test_record_route_preset_one_and_two() -> None:
    ctx = ctx_for(INVITE)
    assert fn("record_route_preset")(ctx, "1.2.3.4:5090", None) == 1
    assert rr_lines(ctx.msg.serialize()) == ["Record-Route: <sip:1.2.3.4:5090;ftag=a1;lr>"]
    ctx2 = ctx_for(INVITE, proc=process(append_fromtag=0))
    assert fn("record_route_preset")(ctx2, "1.1.1.1", "2.2.2.2;transport=tcp") == 1
    ctx2.process.modules["rr"].finalize_for_socket(ctx2.msg, WS)  # presets are never re-rendered
    assert rr_lines(ctx2.msg.serialize()) == [
        "Record-Route: <sip:1.1.1.1;lr>",
        "Record-Route: <sip:2.2.2.2;transport=tcp;lr>",
    ]
    ctx3 = ctx_for(INVITE, proc=process(enable_double_rr=0))
    assert fn("record_route_preset")(ctx3, "1.1.1.1", "2.2.2.2") == -1


def test_add_username() -> None:
    ctx = ctx_for(INVITE, proc=process(add_username=1, append_fromtag=0))
    fn("record_route")(ctx, None)
    assert rr_lines(ctx.msg.serialize()) == ["Record-Route: <sip:bob@10.0.0.1;lr>"]


def test_record_route_on_reply_fails() -> None:
    reply = "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-1\nFrom: <sip:a@b>;tag=1\n" \
        "To: <sip:c@d>;tag=2\nCall-ID: x\nCSeq: 1 INVITE\nContent-Length: 0\n\n"
    assert fn("record_route")(ctx_for(reply), None) == -1


# ------------------------------------------------------------------------------------ loose_route


def in_dialog(
    method: str, ruri: str, routes: list[str], to_tag: str | None = "b1", from_tag: str = "a1"
) -> str:
    lines = [f"{method} {ruri} SIP/2.0", "Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-2"]
    lines += [f"Route: {r}" for r in routes]
    lines += [
        f"From: <sip:bob@example.com>;tag={from_tag}",
        "To: <sip:alice@example.com>" + (f";tag={to_tag}" if to_tag else ""),
        "Call-ID: c1",
        f"CSeq: 2 {method}",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\n".join(lines)


def loose(ctx: MsgContext) -> int:
    return fn("loose_route")(ctx)


def test_in_dialog_bye_pops_our_double_rr_and_sets_du() -> None:
    text = in_dialog(
        "BYE",
        "sip:alice@abc.invalid;transport=ws",
        ["<sip:10.0.0.1;r2=on;lr;ftag=a1>", "<sip:127.0.0.1:8080;transport=ws;r2=on;lr;ftag=a1>",
         "<sip:next.example.com;lr>"],
    )
    ctx = ctx_for(text)
    assert loose(ctx) == 1
    assert ctx.dst_uri == "sip:next.example.com;lr"
    assert ctx.new_ruri is None
    assert ctx.force_socket == WS  # the second entry names the socket to leave through
    out = ctx.msg.serialize().decode()
    assert "Route: <sip:next.example.com;lr>\r\n" in out
    assert "10.0.0.1;r2" not in out and "8080" not in out


def test_double_rr_in_one_header_field_and_nothing_after() -> None:
    text = in_dialog(
        "BYE", "sip:alice@127.0.0.5:40000;transport=ws",
        ["<sip:127.0.0.1:8080;transport=ws;r2=on;lr>, <sip:10.0.0.1;r2=on;lr>"],
    )
    ctx = ctx_for(text, RCV_WS)
    assert loose(ctx) == 1
    assert ctx.dst_uri is None  # the R-URI is the next hop
    assert ctx.force_socket == UDP
    assert "Route:" not in ctx.msg.serialize().decode()


def test_partial_field_removal_keeps_remaining_entries() -> None:
    text = in_dialog("ACK", "sip:alice@10.0.0.2", ["<sip:10.0.0.1;lr>, <sip:p2.example.com;lr>, <sip:p3;lr>"])
    ctx = ctx_for(text)
    assert loose(ctx) == 1
    assert ctx.dst_uri == "sip:p2.example.com;lr"
    assert ctx.force_socket == UDP  # single RR: leave from where it came
    assert "Route: <sip:p2.example.com;lr>, <sip:p3;lr>\r\n" in ctx.msg.serialize().decode()


def test_top_route_not_ours_goes_to_it() -> None:
    text = in_dialog("BYE", "sip:alice@10.0.0.2", ["<sip:other.example.com;lr>"])
    ctx = ctx_for(text)
    assert loose(ctx) == 1
    assert ctx.dst_uri == "sip:other.example.com;lr"
    assert "Route: <sip:other.example.com;lr>" in ctx.msg.serialize().decode()


def test_no_route_is_false() -> None:
    ctx = ctx_for(in_dialog("BYE", "sip:alice@10.0.0.2", []))
    assert loose(ctx) == -1
    assert ctx.dst_uri is None


def test_preloaded_route_to_us_only_is_false_and_removed() -> None:
    ctx = ctx_for(in_dialog("INVITE", "sip:bob@example.com", ["<sip:10.0.0.1;lr>"], to_tag=None))
    assert loose(ctx) == -1
    assert "Route:" not in ctx.msg.serialize().decode()
    assert ctx.force_socket is None


def test_preloaded_route_elsewhere_is_true() -> None:
    ctx = ctx_for(in_dialog("INVITE", "sip:bob@example.com", ["<sip:evil.example.net;lr>"], to_tag=None))
    assert loose(ctx) == 1
    assert ctx.dst_uri == "sip:evil.example.net;lr"


def test_previous_hop_was_strict_router() -> None:
    # R-URI is our Record-Route entry; the remote target travels as the last Route
    text = in_dialog(
        "BYE", "sip:10.0.0.1;lr;ftag=a1;nat=yes", ["<sip:p2.example.com;lr>", "<sip:alice@10.0.0.2:5070>"]
    )
    ctx = ctx_for(text)
    assert loose(ctx) == 1
    assert ctx.dst_uri == "sip:p2.example.com;lr"
    assert ctx.new_ruri == "sip:alice@10.0.0.2:5070"
    out = ctx.msg.serialize().decode()
    assert "Route: <sip:p2.example.com;lr>\r\n" in out and "alice@10.0.0.2:5070>" not in out
    assert fn("check_route_param")(ctx, re.compile("nat=yes", re.I)) == 1


def test_next_hop_is_strict_router() -> None:
    text = in_dialog("BYE", "sip:alice@10.0.0.2", ["<sip:10.0.0.1;lr>", "<sip:strict.example.com>"])
    ctx = ctx_for(text)
    assert loose(ctx) == 1
    assert ctx.new_ruri == "sip:strict.example.com"
    assert ctx.dst_uri is None
    out = ctx.msg.serialize().decode()
    assert "Route: <sip:alice@10.0.0.2>\r\n" in out  # the old R-URI becomes the last Route
    assert "strict.example.com>" not in out


def test_maddr_in_next_route() -> None:
    routes = ["<sip:10.0.0.1;lr>", "<sip:p2.example.com:5070;lr;maddr=10.9.9.9>"]
    text = in_dialog("BYE", "sip:alice@10.0.0.2", routes)
    ctx = ctx_for(text)
    assert loose(ctx) == 1
    assert ctx.dst_uri == "sip:10.9.9.9:5070"


def test_unparsable_route_is_false() -> None:
    ctx = ctx_for(in_dialog("BYE", "sip:alice@10.0.0.2", ["<sip:10.0.0.1;lr"]))
    assert loose(ctx) == -1


def test_without_engine_uses_script_or_receiving_address() -> None:
    proc = ProcessState()  # no core, no init: the receiving address is "myself"
    ctx = MsgContext(proc, message(in_dialog("BYE", "sip:alice@10.0.0.2", ["<sip:10.0.0.1;lr>"])), RCV_UDP)
    assert loose(ctx) == 1
    assert ctx.force_socket is None
    assert "Route:" not in ctx.msg.serialize().decode()


# ------------------------------------------------------------------------------------ route params


@pytest.mark.parametrize(("from_tag", "down", "up"), [("a1", 1, -1), ("zz", -1, 1)])
def test_is_direction_and_rr_params(from_tag: str, down: int, up: int) -> None:
    text = in_dialog("BYE", "sip:x@10.0.0.2", ["<sip:10.0.0.1;lr;ftag=a1;nat=yes>"], from_tag=from_tag)
    ctx = ctx_for(text)
    assert loose(ctx) == 1
    loose_mod = submodule("loose")
    assert fn("is_direction")(ctx, loose_mod.DOWNSTREAM) == down
    assert fn("is_direction")(ctx, loose_mod.UPSTREAM) == up
    assert loose_mod.rr_params(ctx) == "lr;ftag=a1;nat=yes"
    assert fn("check_route_param")(ctx, re.compile("nat=yes", re.I)) == 1
    assert fn("check_route_param")(ctx, re.compile("^;lr", re.I)) == 1
    assert fn("check_route_param")(ctx, re.compile("nat=no", re.I)) == -1


def test_route_params_need_loose_route_first() -> None:
    ctx = ctx_for(INVITE)
    assert fn("check_route_param")(ctx, re.compile(".*")) == -1


def test_entries_with_quoted_commas_are_split_correctly() -> None:
    text = in_dialog("BYE", "sip:alice@10.0.0.2", ['<sip:10.0.0.1;lr>, "Proxy, two" <sip:p2.example.com;lr>'])
    ctx = ctx_for(text)
    assert loose(ctx) == 1
    assert ctx.dst_uri == "sip:p2.example.com;lr"
    assert 'Route: "Proxy, two" <sip:p2.example.com;lr>\r\n' in ctx.msg.serialize().decode()


# ------------------------------------------------------------------------------------ RouteService


IN_DIALOG_BYE = """BYE sip:bob@10.0.0.9:5070 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-9
Route: <sip:10.0.0.1;lr;ftag=a1;did=ab12>
Route: <sip:10.0.0.7;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b1
Call-ID: c1
CSeq: 2 BYE
Content-Length: 0

"""


def test_loose_route_tells_registered_modules_our_route_params() -> None:
    from pysips.core.services import RECORD_ROUTE, LooseRouteMatch

    proc = process()
    service = proc.services.get(RECORD_ROUTE)
    assert service is proc.modules["rr"]  # rr registered its RouteService at init
    seen: list[tuple[str, LooseRouteMatch]] = []
    service.on_loose_route(lambda ctx, match: seen.append((ctx.msg.method, match)))
    ctx = ctx_for(IN_DIALOG_BYE, proc=proc)
    assert fn("loose_route")(ctx) == 1
    assert seen == [("BYE", LooseRouteMatch("sip:10.0.0.1;lr;ftag=a1;did=ab12",
                                            {"lr": "", "ftag": "a1", "did": "ab12"}))]
    # a Route that is not ours: loose_route() routes by it, but nothing of ours matched
    foreign = IN_DIALOG_BYE.replace("Route: <sip:10.0.0.1;lr;ftag=a1;did=ab12>\n", "")
    assert fn("loose_route")(ctx_for(foreign, proc=proc)) == 1
    assert len(seen) == 1


def test_a_module_records_the_route_with_its_parameter_and_reads_it_back() -> None:
    """What dialog does: record_route + add_rr_param(";did=...") on the INVITE, route_params()
    after loose_route() on the BYE."""
    from pysips.core.services import RECORD_ROUTE

    proc = process()
    service = proc.services.get(RECORD_ROUTE)
    assert service is not None
    ctx = ctx_for(INVITE, proc=proc)
    assert service.record_route(ctx) == 1 and service.add_rr_param(ctx, ";did=ab12") == 1
    assert rr_lines(ctx.msg.serialize()) == ["Record-Route: <sip:10.0.0.1;lr;ftag=a1;did=ab12>"]
    bye = ctx_for(IN_DIALOG_BYE, proc=proc)
    assert service.route_params(bye) is None
    assert fn("loose_route")(bye) == 1
    assert service.route_params(bye) == "lr;ftag=a1;did=ab12"
