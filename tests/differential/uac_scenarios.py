"""uac scenarios for cfg/uac.cfg: a UAS that challenges (uac_auth() answers from failure_route)
and calls whose From is replaced and restored (uac_replace_from, auto mode over Record-Route).

As in behaviour_scenarios, a scenario never asserts: what every UA received is compared between
OpenSIPS 3.6 and pysips. The challenge has a fixed nonce, and the script keeps the R-URI free of
ports, so the Authorization pysips computes must be byte for byte the reference's."""

from __future__ import annotations

from tests.differential.behaviour_scenarios import Net, Scenario, answer, finish_invite_uac, scenario_registry
from tests.differential.sipua import SDP, Message

UAC_SCENARIOS: list[Scenario] = []
_scenario = scenario_registry(UAC_SCENARIOS)

NONCE = "5f2d1c0a9b8e7d6c5b4a39281706f5e4"


def _challenged_call(n: Net, user: str, challenge: str, code: int = 401, body: str = "") -> None:
    """INVITE -> UAS1 answers `code` with `challenge`; the authenticated INVITE is answered 200;
    ACK and a BYE from the caller follow (their CSeq as the callee must see them)."""
    d = n.dialog(user, to_host="example.com")
    inv = n.send(d.request("INVITE", f"sip:{user}@example.com", contact=f"<sip:caller@{n.uac.hostport}>",
                           body=body, routes=[f"<sip:{n.proxy_hostport};lr>"]))
    first = n.uas1.recv_request("INVITE")
    if first is None:
        return
    header = "WWW-Authenticate" if code == 401 else "Proxy-Authenticate"
    reason = "Unauthorized" if code == 401 else "Proxy Authentication Required"
    answer(n.uas1, first, code, reason, tag="uas", extra=[(header, challenge)])
    n.uas1.recv_request("ACK")
    second = n.uas1.recv_request("INVITE")
    if second is None:
        finish_invite_uac(n, inv, n.uac.recv_final())
        return
    answer(n.uas1, second, 200, "OK", tag="uas", body=SDP)
    ok = n.uac.recv_final()
    if ok is None or ok.status != 200:
        finish_invite_uac(n, inv, ok)
        return
    d.learn(ok)
    n.send(d.request("ACK", d.remote_target))
    n.uas1.recv_request("ACK")
    d.cseq = 2
    n.send(d.request("BYE", d.remote_target))
    bye = n.uas1.recv_request("BYE")
    if bye is not None:
        answer(n.uas1, bye, 200, "OK", tag="uas")
    n.uac.recv_final()


@_scenario("uas1 INVITE sip:auth@", "uac SIP/2.0 200")
def uac_auth_md5_plain(n: Net) -> None:
    _challenged_call(n, "auth", f'Digest realm="example.com", nonce="{NONCE}"')


@_scenario("uas1 INVITE sip:authqop@", "uac SIP/2.0 200")
def uac_auth_md5_qop_auth(n: Net) -> None:
    _challenged_call(n, "authqop", f'Digest realm="example.com", nonce="{NONCE}", qop="auth", opaque="op4q"')


@_scenario("uas1 INVITE sip:authint@", "uac SIP/2.0 200")
def uac_auth_qop_auth_int_with_body(n: Net) -> None:
    _challenged_call(n, "authint", f'Digest realm="example.com", nonce="{NONCE}", qop="auth-int"', body=SDP)


@_scenario("uas1 INVITE sip:authsess@", "uac SIP/2.0 200")
def uac_auth_md5_sess(n: Net) -> None:
    _challenged_call(n, "authsess",
                     f'Digest realm="example.com", nonce="{NONCE}", algorithm=MD5-sess, qop="auth"')


@_scenario("uas1 INVITE sip:authsha@", "uac SIP/2.0 486")
def uac_auth_sha256_picked_among_two(n: Net) -> None:
    # two challenges: uac_auth("SHA-256") must answer the second
    d = n.dialog("authsha", to_host="example.com")
    inv = n.send(d.request("INVITE", "sip:authsha@example.com", contact=f"<sip:caller@{n.uac.hostport}>",
                           routes=[f"<sip:{n.proxy_hostport};lr>"]))
    first = n.uas1.recv_request("INVITE")
    if first is None:
        return
    answer(n.uas1, first, 407, "Proxy Authentication Required", tag="uas",
           extra=[("Proxy-Authenticate", f'Digest realm="example.com", nonce="{NONCE}", algorithm=MD5'),
                  ("Proxy-Authenticate", f'Digest realm="example.com", nonce="{NONCE}", algorithm=SHA-256, '
                                         'qop="auth"')])
    n.uas1.recv_request("ACK")
    second = n.uas1.recv_request("INVITE")
    if second is not None:
        answer(n.uas1, second, 486, "Busy Here", tag="uas")
        n.uas1.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())


@_scenario("uas1 INVITE sip:authha1@", "uac SIP/2.0 200")
def uac_auth_ha1_credential(n: Net) -> None:
    _challenged_call(n, "authha1", f'Digest realm="ha1.example.com", nonce="{NONCE}", qop="auth"')


@_scenario("uas1 INVITE sip:authavp@", "uac SIP/2.0 200")
def uac_auth_avp_credential(n: Net) -> None:
    _challenged_call(n, "authavp", f'Digest realm="avp.example.com", nonce="{NONCE}"', code=407)


@_scenario("uac SIP/2.0 401")
def uac_auth_unknown_realm_relays_the_challenge(n: Net) -> None:
    d = n.dialog("authunknown", to_host="example.com")
    inv = n.send(d.request("INVITE", "sip:authunknown@example.com", routes=[f"<sip:{n.proxy_hostport};lr>"]))
    first = n.uas1.recv_request("INVITE")
    if first is None:
        return
    answer(n.uas1, first, 401, "Unauthorized", tag="uas",
           extra=[("WWW-Authenticate", f'Digest realm="elsewhere.org", nonce="{NONCE}"')])
    n.uas1.recv_request("ACK")
    finish_invite_uac(n, inv, n.uac.recv_final())


def _replaced_call(n: Net, user: str) -> None:
    """The callee sees the new From; the caller its own in replies and in the callee's BYE."""
    d = n.dialog(user, to_host="example.com")
    n.send(d.request("INVITE", f"sip:{user}@example.com", contact=f"<sip:caller@{n.uac.hostport}>",
                     routes=[f"<sip:{n.proxy_hostport};lr>"]))
    inv = n.uas1.recv_request("INVITE")
    if inv is None:
        return
    answer(n.uas1, inv, 180, "Ringing", tag="uas")
    answer(n.uas1, inv, 200, "OK", tag="uas", body=SDP)
    n.uac.recv()
    ok = n.uac.recv_final()
    if ok is None or ok.status != 200:
        return
    d.learn(ok)
    n.send(d.request("ACK", d.remote_target))
    ack = n.uas1.recv_request("ACK")
    if ack is None:
        return
    _callee_bye(n, inv)
    n.uac.quiet(0.1)


def _callee_bye(n: Net, inv: Message) -> None:
    """The callee hangs up: From/To swapped as it saw them, routed by the Record-Route."""
    routes = inv.all("Record-Route")
    caller_contact = inv.header("Contact").strip("<>")
    text = (f"BYE {caller_contact} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {n.uas1.hostport};branch=z9hG4bKcalleebye{n.run_id}\r\n"
            "Max-Forwards: 70\r\n"
            + "".join(f"Route: {r}\r\n" for r in routes)
            + f"From: {inv.header('To')};tag=uas\r\n"
            f"To: {inv.header('From')}\r\n"
            f"Call-ID: {inv.header('Call-ID')}\r\n"
            "CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n")
    n.uas1.send(text, n.proxy)
    bye = n.uac.recv_request("BYE")
    if bye is None:
        return
    reply = ("SIP/2.0 200 OK\r\n" + "".join(f"Via: {v}\r\n" for v in bye.all("Via"))
             + f"From: {bye.header('From')}\r\nTo: {bye.header('To')}\r\n"
             f"Call-ID: {bye.header('Call-ID')}\r\nCSeq: {bye.header('CSeq')}\r\nContent-Length: 0\r\n\r\n")
    n.uac.send(reply, n.proxy)
    n.uas1.recv_final()


@_scenario("uas1 INVITE sip:replace@", "uac SIP/2.0 200", "uac BYE ")
def uac_replace_from_auto_restore(n: Net) -> None:
    _replaced_call(n, "replace")


@_scenario("uas1 INVITE sip:replacedisplay@", "uac SIP/2.0 200", "uac BYE ")
def uac_replace_from_with_display(n: Net) -> None:
    _replaced_call(n, "replacedisplay")


@_scenario("uas1 INVITE sip:replaceto@", "uac SIP/2.0 200", "uac BYE ")
def uac_replace_to_auto_restore(n: Net) -> None:
    # the callee sees the new To; the caller its own To in replies; the callee's BYE gets the
    # caller's original To URI back in its From
    _replaced_call(n, "replaceto")
