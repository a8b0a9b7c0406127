"""The behaviour scenarios: Python UAs driving cfg/behaviour.cfg, one R-URI user per scenario.

A scenario gets a `Net` (the server's address, two UAS sockets the script relays to, a fresh UAC
socket, a transcript recording everything they receive) and plays one exchange. It never asserts:
what the UAs received is compared afterwards between pysips and OpenSIPS, and `expect` lists a few
first lines the reference must show, so that a scenario that silently does nothing cannot pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.differential.sipua import (
    LOCALHOST,
    SDP,
    Dialog,
    Endpoint,
    Message,
    Transcript,
    build,
    cancel_for,
    hop_ack,
    reply_to,
)


@dataclass(slots=True)
class Net:
    proxy_port: int
    uas1: Endpoint
    uas2: Endpoint
    uac: Endpoint
    transcript: Transcript
    run_id: str
    scenario: str
    _dialogs: int = 0

    @property
    def proxy(self) -> tuple[str, int]:
        return (LOCALHOST, self.proxy_port)

    @property
    def proxy_hostport(self) -> str:
        return f"{LOCALHOST}:{self.proxy_port}"

    def dialog(self, to_user: str, *, to_host: str | None = None, local: Endpoint | None = None,
               from_user: str = "caller") -> Dialog:
        self._dialogs += 1
        host = to_host or self.proxy_hostport
        return Dialog(call_id=f"{self.scenario}-{self._dialogs}-{self.run_id}",
                      from_uri=f"sip:{from_user}@example.com", to_uri=f"sip:{to_user}@{host}",
                      from_tag=f"ft{self._dialogs}", local=local or self.uac)

    def send(self, text: str, via: Endpoint | None = None) -> Message:
        (via or self.uac).send(text, self.proxy)
        return Message.parse(text.encode())


# an address we do not listen on, still reaching the UAS sockets (they bind every address)
FOREIGN_HOST = "127.0.0.3"

Play = Callable[[Net], None]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    play: Play
    expect: tuple[str, ...] = field(default=())  # "who first-line-prefix" the reference shows


def scenario_registry(registry: list[Scenario]) -> Callable[..., Callable[[Play], Play]]:
    """The `@scenario("who first-line", ...)` decorator of a scenario list: it adds the play,
    under its function's name, with what the reference must show."""

    def scenario(*expect: str) -> Callable[[Play], Play]:
        def register(play: Play) -> Play:
            registry.append(Scenario(play.__name__, play, expect))
            return play
        return register

    return scenario


SCENARIOS: list[Scenario] = []
scenario = scenario_registry(SCENARIOS)


def uas_contact(uas: Endpoint, user: str = "callee") -> str:
    return f"<sip:{user}@{uas.hostport}>"


def answer(uas: Endpoint, req: Message, code: int, reason: str, tag: str = "uas",
           *, body: str = "", extra: list[tuple[str, str]] | None = None) -> None:
    """Reply from a UAS socket to where the request came from (the proxy's Via)."""
    contact = uas_contact(uas) if req.method == "INVITE" and code < 300 else None
    text = reply_to(req, code, reason, to_tag=tag if code > 100 else None, contact=contact,
                    extra=extra, body=body)
    uas.send(text, _via_addr(req))


def _via_addr(req: Message) -> tuple[str, int]:
    top = req.all("Via")[0]
    sent_by = top.split()[1].split(";")[0]
    host, _, port = sent_by.partition(":")
    return (host, int(port or 5060))


def finish_invite_uac(n: Net, invite: Message, final: Message | None) -> None:
    """ACK a non-2xx final reply hop by hop (the proxy absorbs it)."""
    if final is not None and final.status >= 300:
        n.send(hop_ack(invite, final))


# ---------------------------------------------------------------------------------------------
# local replies: status, reason, To-tags, Via received/rport


@scenario("uac SIP/2.0 200 Myself")
def options_to_myself(n: Net) -> None:
    d = n.dialog("x")
    n.send(d.request("OPTIONS", f"sip:{n.proxy_hostport}"))
    n.uac.recv()


@scenario("uac SIP/2.0 200 Myself")
def options_to_myself_without_port(n: Net) -> None:
    # 3.x is_myself: a URI without a port matches any port we listen on
    d = n.dialog("x")
    n.send(d.request("OPTIONS", f"sip:{LOCALHOST}"))
    n.uac.recv()


@scenario("uac SIP/2.0 403 No User")
def register_less_invite_to_domain(n: Net) -> None:
    d = n.dialog("x")
    inv = n.send(d.request("INVITE", f"sip:{n.proxy_hostport}", contact=f"<sip:caller@{n.uac.hostport}>"))
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet()


@scenario("uac SIP/2.0 404 Nobody Here")
def sl_send_reply_then_ack_absorbed(n: Net) -> None:
    d = n.dialog("sl404")
    inv = n.send(d.request("INVITE", f"sip:sl404@{n.proxy_hostport}", body=SDP))
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet()
    n.uas1.quiet(0.05)


@scenario("uac SIP/2.0 486 Busy Here")
def t_reply_then_ack_absorbed(n: Net) -> None:
    d = n.dialog("treply486")
    inv = n.send(d.request("INVITE", f"sip:treply486@{n.proxy_hostport}"))
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet()


@scenario("uac SIP/2.0 302 Moved Temporarily")
def append_to_reply_302(n: Net) -> None:
    d = n.dialog("moved")
    inv = n.send(d.request("INVITE", f"sip:moved@{n.proxy_hostport}"))
    finish_invite_uac(n, inv, n.uac.recv_final())


@scenario("uac SIP/2.0 400 Missing X-Needed", "uac SIP/2.0 200 Had It")
def sl_reply_depends_on_header(n: Net) -> None:
    d = n.dialog("slerror")
    n.send(d.request("MESSAGE", f"sip:slerror@{n.proxy_hostport}"))
    n.uac.recv()
    d.cseq += 1
    n.send(d.request("MESSAGE", f"sip:slerror@{n.proxy_hostport}", extra=[("X-Needed", "1")]))
    n.uac.recv()


@scenario("uac SIP/2.0 200 Myself")
def via_received_and_rport(n: Net) -> None:
    d = n.dialog("x")
    n.send(d.request("OPTIONS", f"sip:{n.proxy_hostport}", via_host="10.0.0.1:5070"))
    n.uac.recv()


@scenario("uac SIP/2.0 200 Myself")
def via_received_without_rport(n: Net) -> None:
    # a host name in Via: received= is added; without rport the reply goes to the Via port
    d = n.dialog("x")
    n.send(d.request("OPTIONS", f"sip:{n.proxy_hostport}", via_host=f"localhost:{n.uac.port}",
                     rport=False))
    n.uac.recv()


@scenario("uac SIP/2.0 404 No Dialog Here")
def in_dialog_without_route(n: Net) -> None:
    d = n.dialog("callee")
    d.to_tag = "gone"
    n.send(d.request("BYE", f"sip:callee@{n.uas1.hostport}"))
    n.uac.recv()


@scenario()
def cancel_without_transaction_dropped(n: Net) -> None:
    d = n.dialog("callee")
    n.send(d.request("CANCEL", f"sip:callee@{n.proxy_hostport}", cseq=7))
    n.uac.quiet()
    n.uas1.quiet(0.05)


# ---------------------------------------------------------------------------------------------
# Max-Forwards


@scenario("uac SIP/2.0 483 Too Many Hops")
def max_forwards_zero_483(n: Net) -> None:
    d = n.dialog("callee")
    inv = n.send(d.request("INVITE", f"sip:callee@{n.proxy_hostport}", max_forwards=0))
    finish_invite_uac(n, inv, n.uac.recv_final())


def _relay_and_refuse(n: Net, text: str, code: int = 486, reason: str = "Busy Here",
                      uas: Endpoint | None = None) -> None:
    """Send an INVITE the script relays; the UAS refuses it; the UAC ACKs the relayed refusal."""
    uas = uas or n.uas1
    inv = n.send(text)
    got = uas.recv_request("INVITE")
    if got is not None:
        answer(uas, got, code, reason)
        uas.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


@scenario("uas1 INVITE sip:callee@", "uac SIP/2.0 486 Busy Here")
def max_forwards_one_relayed_as_zero(n: Net) -> None:
    d = n.dialog("callee")
    _relay_and_refuse(n, d.request("INVITE", f"sip:callee@{n.proxy_hostport}", max_forwards=1))


@scenario("uas1 INVITE sip:callee@")
def max_forwards_missing_added(n: Net) -> None:
    d = n.dialog("callee")
    _relay_and_refuse(n, d.request("INVITE", f"sip:callee@{n.proxy_hostport}", max_forwards=None))


@scenario("uas1 INVITE sip:callee@")
def max_forwards_above_limit(n: Net) -> None:
    d = n.dialog("callee")
    _relay_and_refuse(n, d.request("INVITE", f"sip:callee@{n.proxy_hostport}", max_forwards=200))


# ---------------------------------------------------------------------------------------------
# what the next hop receives; Record-Route


@scenario("uas1 INVITE sip:callee@", "uac SIP/2.0 100", "uac SIP/2.0 180", "uac SIP/2.0 200",
          "uas1 ACK", "uas1 BYE", "uac SIP/2.0 200")
def call_through_record_route(n: Net) -> None:
    d = n.dialog("callee")
    inv = n.send(d.request("INVITE", f"sip:callee@{n.proxy_hostport}", via_host="10.0.0.1:5070",
                           contact=f"<sip:caller@{n.uac.hostport}>", body=SDP))
    got = n.uas1.recv_request("INVITE")
    if got is None:
        return
    answer(n.uas1, got, 180, "Ringing")
    answer(n.uas1, got, 200, "OK", body=SDP)
    ok = n.uac.recv_final()
    if ok is None or ok.status != 200:
        finish_invite_uac(n, inv, ok)
        return
    d.learn(ok)
    n.send(d.request("ACK", d.remote_target, contact=None))
    n.uas1.recv_request("ACK")
    d.cseq += 1
    n.send(d.request("BYE", d.remote_target))
    bye = n.uas1.recv_request("BYE")
    if bye is not None:
        answer(n.uas1, bye, 200, "OK")
    n.uac.recv()


@scenario("uas1 INVITE sip:callee@", "uac SIP/2.0 200", "uac BYE")
def callee_hangs_up_through_record_route(n: Net) -> None:
    d = n.dialog("callee")
    n.send(d.request("INVITE", f"sip:callee@{n.proxy_hostport}", contact=f"<sip:caller@{n.uac.hostport}>"))
    got = n.uas1.recv_request("INVITE")
    if got is None:
        return
    answer(n.uas1, got, 200, "OK", tag="up")
    ok = n.uac.recv_final()
    if ok is None:
        return
    d.learn(ok)
    n.send(d.request("ACK", d.remote_target))
    n.uas1.recv_request("ACK")
    # the callee's BYE: Route from the Record-Route it saw, R-URI the caller's Contact
    rr = got.all("Record-Route")
    bye = build(f"BYE sip:caller@{n.uac.hostport} SIP/2.0", [
        ("Via", f"SIP/2.0/UDP {n.uas1.hostport};branch=z9hG4bKbye{n.run_id}"),
        ("Max-Forwards", "70"),
        *[("Route", r) for r in rr],
        ("From", got.header("To") + ";tag=up"),
        ("To", got.header("From")),
        ("Call-ID", got.header("Call-ID")),
        ("CSeq", "1 BYE"),
    ])
    n.uas1.send(bye, n.proxy)
    req = n.uac.recv_request("BYE")
    if req is not None:
        n.uac.send(reply_to(req, 200, "OK"), _via_addr(req))
    n.uas1.recv()


@scenario("uas1 OPTIONS sip:x@", "uac SIP/2.0 200 Fine")
def foreign_domain_relayed_as_is(n: Net) -> None:
    # is_myself("$rd") ignores the port: another address makes the domain foreign
    foreign = f"{FOREIGN_HOST}:{n.uas1.port}"
    d = n.dialog("x", to_host=foreign)
    n.send(d.request("OPTIONS", f"sip:x@{foreign}", extra=[("X-Keep", "a, b"),
                                                                      ("Accept", "application/sdp")]))
    got = n.uas1.recv_request("OPTIONS")
    if got is not None:
        answer(n.uas1, got, 200, "Fine")
    n.uac.recv()


@scenario("uas1 INVITE sip:callee@")
def record_route_with_params(n: Net) -> None:
    d = n.dialog("rrparam")
    _relay_and_refuse(n, d.request("INVITE", f"sip:rrparam@{n.proxy_hostport}"))


@scenario("uas1 INVITE sip:viadu@")
def next_hop_from_destination_uri(n: Net) -> None:
    d = n.dialog("viadu")
    _relay_and_refuse(n, d.request("INVITE", f"sip:viadu@{n.proxy_hostport}"), 404, "Not Found")


@scenario("uas1 OPTIONS sip:stateless@", "uac SIP/2.0 200 Stateless OK")
def stateless_forward(n: Net) -> None:
    d = n.dialog("stateless")
    n.send(d.request("OPTIONS", f"sip:stateless@{n.proxy_hostport}"))
    got = n.uas1.recv_request("OPTIONS")
    if got is not None:
        answer(n.uas1, got, 200, "Stateless OK")
    n.uac.recv()


@scenario("uas1 INVITE sip:callee@")
def header_edits_in_order(n: Net) -> None:
    d = n.dialog("headers")
    _relay_and_refuse(n, d.request("INVITE", f"sip:headers@{n.proxy_hostport}",
                                   extra=[("X-Remove", "one"), ("Subject", "hi"), ("X-Remove", "two")]))


@scenario("uas1 INVITE sip:callee@", "uac SIP/2.0 200", "uas1 ACK")
def double_record_route(n: Net) -> None:
    d = n.dialog("doublerr")
    n.send(d.request("INVITE", f"sip:doublerr@{n.proxy_hostport}", contact=f"<sip:caller@{n.uac.hostport}>"))
    got = n.uas1.recv_request("INVITE")
    if got is None:
        return
    answer(n.uas1, got, 200, "OK")
    ok = n.uac.recv_final()
    if ok is None:
        return
    d.learn(ok)
    n.send(d.request("ACK", d.remote_target))
    n.uas1.recv_request("ACK")


def _in_dialog_bye(n: Net, ruri: str, routes: list[str], receiver: Endpoint) -> None:
    d = n.dialog("callee")
    d.to_tag = "indialog"
    n.send(d.request("BYE", ruri, routes=routes))
    bye = receiver.recv_request("BYE")
    if bye is not None:
        answer(receiver, bye, 200, "OK")
    n.uac.recv()


@scenario("uas1 BYE sip:callee@", "uac SIP/2.0 200 OK")
def loose_route_removes_our_route(n: Net) -> None:
    _in_dialog_bye(n, f"sip:callee@{n.uas1.hostport}", [f"<sip:{n.proxy_hostport};lr>"], n.uas1)


@scenario("uas2 BYE sip:callee@", "uac SIP/2.0 200 OK")
def loose_route_to_next_route(n: Net) -> None:
    _in_dialog_bye(n, f"sip:callee@{n.uas1.hostport}",
                   [f"<sip:{n.proxy_hostport};lr>", f"<sip:{n.uas2.hostport};lr>"], n.uas2)


@scenario("uas1 BYE sip:callee@", "uac SIP/2.0 200 OK")
def strict_router_before_us(n: Net) -> None:
    # a strict router put our Record-Route in the R-URI and the target into the last Route
    _in_dialog_bye(n, f"sip:{n.proxy_hostport};lr", [f"<sip:callee@{n.uas1.hostport}>"], n.uas1)


@scenario("uas2 BYE sip:", "uac SIP/2.0 200 OK")
def strict_router_after_us(n: Net) -> None:
    _in_dialog_bye(n, f"sip:callee@{n.uas1.hostport}",
                   [f"<sip:{n.proxy_hostport};lr>", f"<sip:{n.uas2.hostport}>"], n.uas2)


@scenario("uas1 INVITE sip:callee@")
def preloaded_route_on_initial_request(n: Net) -> None:
    d = n.dialog("callee", to_host=n.uas1.hostport)
    _relay_and_refuse(n, d.request("INVITE", f"sip:callee@{n.uas1.hostport}",
                                   routes=[f"<sip:{n.proxy_hostport};lr>"]))


# ---------------------------------------------------------------------------------------------
# tm: ACK for non-2xx, CANCEL, which final reply wins


@scenario("uas1 INVITE", "uas1 ACK", "uac SIP/2.0 404 Not Here")
def ack_for_non_2xx_is_hop_by_hop(n: Net) -> None:
    d = n.dialog("callee")
    _relay_and_refuse(n, d.request("INVITE", f"sip:callee@{n.proxy_hostport}"), 404, "Not Here")


@scenario("uas1 CANCEL", "uac SIP/2.0 200", "uac SIP/2.0 487", "uas1 ACK")
def cancel_gives_487(n: Net) -> None:
    d = n.dialog("callee")
    inv = n.send(d.request("INVITE", f"sip:callee@{n.proxy_hostport}"))
    got = n.uas1.recv_request("INVITE")
    if got is None:
        return
    answer(n.uas1, got, 180, "Ringing")
    n.uac.recv()  # 100
    n.uac.recv()  # 180
    n.send(cancel_for(inv))
    cancel = n.uas1.recv_request("CANCEL")
    if cancel is not None:
        answer(n.uas1, cancel, 200, "OK")
        answer(n.uas1, got, 487, "Request Terminated")
        n.uas1.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


@scenario("uac SIP/2.0 408", "uas1 CANCEL")
def no_final_reply_408(n: Net) -> None:
    d = n.dialog("callee")
    inv = n.send(d.request("INVITE", f"sip:callee@{n.proxy_hostport}"))
    got = n.uas1.recv_request("INVITE")
    if got is None:
        return
    answer(n.uas1, got, 180, "Ringing")
    cancel = n.uas1.recv_request("CANCEL", timeout=4)
    if cancel is not None:
        answer(n.uas1, cancel, 200, "OK")
        answer(n.uas1, got, 487, "Request Terminated")
        n.uas1.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final(timeout=4))
    n.uac.quiet(0.1)


def _fork(n: Net, user: str = "fork") -> tuple[Message, Message | None, Message | None]:
    """Register two contacts (uas1 preferred) and call them: lookup() gives parallel branches."""
    _register(n, user, [f"<sip:{user}@{n.uas1.hostport}>;q=0.9;expires=600",
                        f"<sip:{user}@{n.uas2.hostport}>;q=0.8;expires=600"])
    d = n.dialog(user)
    inv = n.send(d.request("INVITE", f"sip:{user}@{n.proxy_hostport}"))
    return inv, n.uas1.recv_request("INVITE"), n.uas2.recv_request("INVITE")


def _finish_cancelled(uas: Endpoint, invite: Message) -> None:
    cancel = uas.recv_request("CANCEL")
    if cancel is not None:
        answer(uas, cancel, 200, "OK")
        answer(uas, invite, 487, "Request Terminated")
        uas.recv_request("ACK")


@scenario("uac SIP/2.0 603 Decline", "uas1 CANCEL")
def fork_6xx_cancels_other_branch(n: Net) -> None:
    inv, one, two = _fork(n)
    if one is None or two is None:
        return
    answer(n.uas1, one, 180, "Ringing", tag="one")
    n.uac.recv_from(timeout=1)  # 100
    n.uac.recv_from(timeout=1)  # 180
    answer(n.uas2, two, 603, "Decline", tag="two")
    n.uas2.recv_request("ACK")
    _finish_cancelled(n.uas1, one)
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


@scenario("uac SIP/2.0 486 Busy Here")
def fork_4xx_beats_5xx(n: Net) -> None:
    inv, one, two = _fork(n)
    if one is None or two is None:
        return
    answer(n.uas1, one, 503, "Service Unavailable", tag="one")
    n.uas1.recv_request("ACK")
    answer(n.uas2, two, 486, "Busy Here", tag="two")
    n.uas2.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


@scenario("uac SIP/2.0 302 Moved Temporarily")
def redirect_lists_the_destination_set(n: Net) -> None:
    _register(n, "fork", [f"<sip:fork@{n.uas1.hostport}>;q=0.9;expires=600",
                          f"<sip:fork@{n.uas2.hostport}>;q=0.8;expires=600"])
    d = n.dialog("redirect")
    inv = n.send(d.request("INVITE", f"sip:redirect@{n.proxy_hostport}"))
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


@scenario("uac SIP/2.0 500")
def fork_only_503_becomes_500(n: Net) -> None:
    inv, one, two = _fork(n)
    if one is None or two is None:
        return
    answer(n.uas1, one, 503, "Service Unavailable", tag="one")
    n.uas1.recv_request("ACK")
    answer(n.uas2, two, 503, "Service Unavailable", tag="two")
    n.uas2.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


@scenario("uac SIP/2.0 408", "uas2 CANCEL")
def fork_503_and_timeout_408(n: Net) -> None:
    inv, one, two = _fork(n)
    if one is None or two is None:
        return
    answer(n.uas1, one, 503, "Service Unavailable", tag="one")
    n.uas1.recv_request("ACK")
    answer(n.uas2, two, 180, "Ringing", tag="two")
    cancel = n.uas2.recv_request("CANCEL", timeout=4)
    if cancel is not None:
        answer(n.uas2, cancel, 200, "OK")
        answer(n.uas2, two, 487, "Request Terminated", tag="two")
        n.uas2.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final(timeout=4))
    n.uac.quiet(0.1)


@scenario("uac SIP/2.0 200", "uas1 CANCEL")
def fork_200_cancels_ringing_branch(n: Net) -> None:
    inv, one, two = _fork(n)
    if one is None or two is None:
        return
    answer(n.uas1, one, 180, "Ringing", tag="one")
    answer(n.uas2, two, 200, "OK", tag="two")
    _finish_cancelled(n.uas1, one)
    ok = n.uac.recv_final()
    if ok is not None and ok.status == 200:
        d = n.dialog("fork")
        d.call_id = inv.header("Call-ID")
        d.from_tag = "ft2"
        d.learn(ok)
        n.send(d.request("ACK", d.remote_target, cseq=1))
        n.uas2.recv_request("ACK")
    n.uac.quiet(0.1)


@scenario("uac SIP/2.0 487", "uas1 CANCEL", "uas2 CANCEL")
def fork_cancelled_by_caller(n: Net) -> None:
    inv, one, two = _fork(n)
    if one is None or two is None:
        return
    answer(n.uas1, one, 180, "Ringing", tag="one")
    answer(n.uas2, two, 183, "Session Progress", tag="two", body=SDP)
    n.uac.recv(); n.uac.recv(); n.uac.recv()  # noqa: E702 - 100, 180, 183
    n.send(cancel_for(inv))
    _finish_cancelled(n.uas1, one)
    _finish_cancelled(n.uas2, two)
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


@scenario("uas1 INVITE sip:serial@", "uas2 INVITE sip:serial@", "uac SIP/2.0 200")
def failure_route_serial_forking(n: Net) -> None:
    d = n.dialog("serial")
    n.send(d.request("INVITE", f"sip:serial@{n.proxy_hostport}", contact=f"<sip:caller@{n.uac.hostport}>"))
    one = n.uas1.recv_request("INVITE")
    if one is None:
        return
    answer(n.uas1, one, 486, "Busy Here", tag="one")
    n.uas1.recv_request("ACK")
    two = n.uas2.recv_request("INVITE")
    if two is None:
        return
    answer(n.uas2, two, 200, "OK", tag="two")
    ok = n.uac.recv_final()
    if ok is not None and ok.status == 200:
        d.learn(ok)
        n.send(d.request("ACK", d.remote_target))
        n.uas2.recv_request("ACK")


@scenario("uac SIP/2.0 480 Everybody Declined")
def failure_route_t_reply_replaces_final(n: Net) -> None:
    d = n.dialog("serial")
    inv = n.send(d.request("INVITE", f"sip:serial@{n.proxy_hostport}"))
    one = n.uas1.recv_request("INVITE")
    if one is None:
        return
    answer(n.uas1, one, 503, "Service Unavailable", tag="one")
    n.uas1.recv_request("ACK")
    two = n.uas2.recv_request("INVITE")
    if two is None:
        return
    answer(n.uas2, two, 603, "Decline", tag="two")
    n.uas2.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


@scenario("uas2 INVITE sip:serial@", "uac SIP/2.0 404")
def failure_route_after_timeout(n: Net) -> None:
    d = n.dialog("serial")
    inv = n.send(d.request("INVITE", f"sip:serial@{n.proxy_hostport}"))
    one = n.uas1.recv_request("INVITE")
    if one is None:
        return
    answer(n.uas1, one, 100, "Trying")
    two = n.uas2.recv_request("INVITE", timeout=4)
    _finish_cancelled(n.uas1, one)
    if two is None:
        return
    answer(n.uas2, two, 404, "Not Found", tag="two")
    n.uas2.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


# ---------------------------------------------------------------------------------------------
# registrar and nathelper


def _register(n: Net, user: str, contacts: list[str], *, via: Endpoint | None = None,
              extra: list[tuple[str, str]] | None = None, call_id: str | None = None,
              cseq: int = 1) -> Message | None:
    sender = via or n.uac
    d = n.dialog(user, local=sender, from_user=user)
    d.to_uri = f"sip:{user}@{LOCALHOST}"
    d.from_uri = d.to_uri
    if call_id is not None:
        d.call_id = f"{call_id}-{n.run_id}"
    headers = [("Contact", c) for c in contacts] + (extra or [])
    n.send(d.request("REGISTER", f"sip:{LOCALHOST}:{n.proxy_port}", extra=headers, cseq=cseq),
           via=sender)
    return sender.recv()


@scenario("uac SIP/2.0 200 OK")
def register_one_contact(n: Net) -> None:
    _register(n, "alice", ["<sip:alice@10.1.1.1:5060>;expires=600"], call_id="alice-a")


@scenario("uac SIP/2.0 200 OK")
def register_second_contact_lists_both(n: Net) -> None:
    _register(n, "alice", ["<sip:alice@10.1.1.2:5062>;q=0.5;expires=1200"], call_id="alice-b")


@scenario("uac SIP/2.0 200 OK")
def register_query_without_contact(n: Net) -> None:
    _register(n, "alice", [], call_id="alice-q")


# OpenSIPS 3.6's registrar never answers 423: an expires below min_expires is raised to it
@scenario("uac SIP/2.0 200 OK")
def register_below_min_expires_raised(n: Net) -> None:
    _register(n, "carol", ["<sip:carol@10.1.1.3>;expires=10"])


@scenario("uac SIP/2.0 200 OK")
def register_expires_capped(n: Net) -> None:
    _register(n, "dave", ["<sip:dave@10.1.1.4>"], extra=[("Expires", "99999")])


@scenario("uac SIP/2.0 200 OK")
def register_expires_header(n: Net) -> None:
    _register(n, "erin", ["<sip:erin@10.1.1.5>", "<sip:erin@10.1.1.6>;expires=900"],
              extra=[("Expires", "300")])


@scenario("uac SIP/2.0 200 OK")
def register_star_unregisters_all(n: Net) -> None:
    _register(n, "alice", ["*"], extra=[("Expires", "0")], call_id="alice-a", cseq=2)
    _register(n, "alice", [], call_id="alice-q", cseq=2)


@scenario("uac SIP/2.0 400")
def register_star_with_expires_refused(n: Net) -> None:
    _register(n, "frank", ["*"], extra=[("Expires", "60")])


@scenario("uac SIP/2.0 200 OK", "uas1 INVITE sip:bob@")
def lookup_relays_to_contact(n: Net) -> None:
    _register(n, "bob", [f"<sip:bob@{n.uas1.hostport}>;expires=600"])
    d = n.dialog("bob")
    inv = n.send(d.request("INVITE", f"sip:bob@{n.proxy_hostport}"))
    got = n.uas1.recv_request("INVITE")
    if got is not None:
        answer(n.uas1, got, 486, "Busy Here")
        n.uas1.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())


@scenario("uac SIP/2.0 404 Not Found")
def lookup_unknown_user_404(n: Net) -> None:
    d = n.dialog("nobody")
    inv = n.send(d.request("INVITE", f"sip:nobody@{n.proxy_hostport}"))
    finish_invite_uac(n, inv, n.uac.recv_final())


@scenario("uas2 SIP/2.0 200 OK", "uas2 INVITE sip:natreg@10.0.0.1")
def fix_nated_register_then_lookup(n: Net) -> None:
    # registered from the uas2 socket with a private Contact: calls reach the source address
    _register(n, "natreg", ["<sip:natreg@10.0.0.1:5070>;expires=600"], via=n.uas2)
    d = n.dialog("natreg")
    inv = n.send(d.request("INVITE", f"sip:natreg@{n.proxy_hostport}"))
    got = n.uas2.recv_request("INVITE")
    if got is not None:
        answer(n.uas2, got, 486, "Busy Here")
        n.uas2.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())


# add_rcv_param() edits the REGISTER for a registrar further on; save() here reads the Contact
# as received, so lookup() sends to the private address and the send fails at once: 477
@scenario("uas2 SIP/2.0 200 OK", "uac SIP/2.0 477 Send failed")
def add_rcv_param_unseen_by_local_save(n: Net) -> None:
    _register(n, "rcvreg", ["<sip:rcvreg@10.0.0.1:5070>;expires=600"], via=n.uas2)
    d = n.dialog("rcvreg")
    inv = n.send(d.request("INVITE", f"sip:rcvreg@{n.proxy_hostport}"))
    got = n.uas2.recv_request("INVITE")
    if got is not None:
        answer(n.uas2, got, 486, "Busy Here")
        n.uas2.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())


@scenario("uas1 INVITE sip:callee@")
def fix_nated_contact_rewrites(n: Net) -> None:
    d = n.dialog("natcontact")
    contact = '"Caller" <sip:caller@10.0.0.1:5070;transport=udp>;+sip.instance="x"'
    _relay_and_refuse(n, d.request("INVITE", f"sip:natcontact@{n.proxy_hostport}", contact=contact))


# ---------------------------------------------------------------------------------------------
# auth challenges (everything but the nonce)


@scenario("uac SIP/2.0 401")
def www_challenge_qop_auth(n: Net) -> None:
    _register(n, "wwwauth", [f"<sip:wwwauth@{n.uac.hostport}>"])


@scenario("uac SIP/2.0 401")
def www_challenge_no_qop(n: Net) -> None:
    _register(n, "wwwauthnoqop", [f"<sip:wwwauthnoqop@{n.uac.hostport}>"])


@scenario("uac SIP/2.0 401")
def www_challenge_qop_both(n: Net) -> None:
    _register(n, "wwwauthboth", [f"<sip:wwwauthboth@{n.uac.hostport}>"])


def _challenge_invite(n: Net, user: str) -> None:
    d = n.dialog(user)
    inv = n.send(d.request("INVITE", f"sip:{user}@{n.proxy_hostport}"))
    finish_invite_uac(n, inv, n.uac.recv_final())
    n.uac.quiet(0.1)


@scenario("uac SIP/2.0 407")
def proxy_challenge_qop_auth(n: Net) -> None:
    _challenge_invite(n, "proxyauth")


@scenario("uac SIP/2.0 407")
def proxy_challenge_qop_auth_int(n: Net) -> None:
    _challenge_invite(n, "proxyauthint")


@scenario("uac SIP/2.0 407")
def proxy_challenge_no_qop(n: Net) -> None:
    _challenge_invite(n, "proxyauthnoqop")


@scenario("uac SIP/2.0 407")
def proxy_challenge_sha256(n: Net) -> None:
    _challenge_invite(n, "proxyauthsha")


def settle(n: Net) -> None:
    """Whatever still arrives shortly after the scenario (a stray retransmission, an extra ACK)."""
    for ep in (n.uac, n.uas1, n.uas2):
        ep.quiet(0.05)
    time.sleep(0)
