"""Calls between a WebSocket client and a UDP phone through the seed's routing logic (issue 5).

pysips runs examples/residential.cfg with only its addresses and certificate changed and the
rtpengine module removed (no media relay here; every other line of the seed is kept, registrar,
lookup and nathelper included). The WebSocket client is tests/integration/ws_ua.py (JsSIP-like:
`.invalid` Via and Contact); the phone is sipp over UDP (tests/integration/sipp/ws_*.xml).

Checked: the double Record-Route (outbound socket's entry on top, each with the host, port and
transport of its real socket, both `r2=on`), ACK and BYE along the route set from either side,
in-dialog requests to the WebSocket client over its own connection (never a new one, never a
lookup of the `.invalid` host), and a fast 477/480 once the client's connection is gone.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pysips.devcert import make_dev_certificate
from tests.integration.e2e.sipmsg import SipMsg, parse
from tests.integration.proxy_harness import (
    LOCALHOST,
    REPO_ROOT,
    Rig,
    SippProcess,
    free_port,
    pysips_argv,
    rig_in,
)
from tests.integration.ws_ua import WsUa

pytestmark = pytest.mark.integration

SEED = REPO_ROOT / "examples" / "residential.cfg"


def _literal(text: str, _match: re.Match[str]) -> str:
    return text


def seed_without_rtpengine(udp: int, ws: int, wss: int, tls: int, cert: Path, key: Path) -> str:
    """The seed script with its listeners on our ports, our certificate, stderr logging, and the
    rtpengine module and calls (and the MI FIFO, a fixed /tmp path) taken out. Every rewrite must
    apply exactly as counted, so a changed seed fails here rather than testing something else."""
    text = SEED.read_text()
    rewrites: list[tuple[str, str, int]] = [
        (r"^listen=ws:127\.0\.0\.1:\d+$", f"listen=ws:{LOCALHOST}:{ws}", 1),
        (r"^listen=wss:127\.0\.0\.1:\d+$", f"listen=wss:{LOCALHOST}:{wss}", 1),
        (r"^listen=tls:127\.0\.0\.1:\d+$", f"listen=tls:{LOCALHOST}:{tls}", 1),
        (r"^listen=udp:127\.0\.0\.1:\d+$", f"listen=udp:{LOCALHOST}:{udp}", 1),
        (r"^log_stderror=no$", "log_stderror=yes", 1),
        (r'^modparam\("tls_mgm", ?"certificate", ?"[^"]*"\)$',
         f'modparam("tls_mgm", "certificate", "{cert}")', 1),
        (r'^modparam\("tls_mgm", ?"private_key", ?"[^"]*"\)$',
         f'modparam("tls_mgm", "private_key", "{key}")', 1),
        (r"^mpath=.*\n", "", 1),
        (r'^loadmodule "(rtpengine|mi_fifo)\.so"\n', "", 2),
        (r'^modparam\("(rtpengine|mi_fifo)".*\n', "", 3),
        (r"^\s*rtpengine_(offer|answer|delete)\(.*\);\n", "", 3),
    ]
    for pattern, replacement, expected in rewrites:
        # a function, not a template: backslashes in paths must stay literal
        text, count = re.subn(pattern, functools.partial(_literal, replacement), text, flags=re.M)
        if count != expected:
            raise AssertionError(f"{SEED}: {pattern!r} matched {count} lines, expected {expected}")
    assert not re.search(r"rtpengine_\w+\(", text)
    return text


@dataclass
class Server:
    rig: Rig
    udp: int
    ws: int
    wss: int

    @property
    def domain(self) -> str:
        return f"{LOCALHOST}:{self.udp}"

    def log(self) -> str:
        assert self.rig.proxy is not None
        return self.rig.proxy.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("ws-calls")
    cert, key = make_dev_certificate(base / "certs")
    with rig_in(base / "rig") as rig:
        ws, wss, tls = free_port(), free_port(), free_port()
        cfg = base / "residential-ws.cfg"
        cfg.write_text(seed_without_rtpengine(rig.ports.proxy, ws, wss, tls, cert, key))
        rig.start_proxy("pysips", pysips_argv(cfg))
        yield Server(rig, rig.ports.proxy, ws, wss)


# ---------------------------------------------------------------------------------------------
# helpers


def register_phone(server: Server, user: str, port: int) -> None:
    """REGISTER sip:user@domain with the phone's fixed contact, sent from the phone's own port
    (the seed's fix_nated_register() stores the source address as the contact's `received`)."""
    tag = uuid.uuid4().hex[:10]
    request = (
        f"REGISTER sip:{server.domain} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOCALHOST}:{port};branch=z9hG4bK{tag};rport\r\n"
        f"From: <sip:{user}@{server.domain}>;tag={tag}\r\nTo: <sip:{user}@{server.domain}>\r\n"
        f"Call-ID: reg-{tag}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@{LOCALHOST}:{port}>\r\n"
        "Expires: 600\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOCALHOST, port))
        sock.settimeout(3)
        sock.sendto(request, (LOCALHOST, server.udp))
        answer = sock.recv(65535)
    assert answer.startswith(b"SIP/2.0 200 "), answer.decode(errors="replace")


def received_by_sipp(sipp: SippProcess) -> list[SipMsg]:
    """The messages a sipp run received, from its -trace_msg log."""
    text = (sipp.workdir / "messages.log").read_text(errors="replace")
    found = []
    for block in re.split(r"^-{20,}.*$", text, flags=re.M):
        _, sep, rest = block.partition("message received [")
        if not sep:
            continue
        raw = rest.split("bytes :", 1)[1].lstrip("\r\n").replace("\r\n", "\n").replace("\n", "\r\n")
        msg = parse(raw.encode())
        if msg is not None:
            found.append(msg)
    return found


Hop = tuple[int, str | None]  # a pysips socket as a Record-Route names it: port, transport param


def check_double_rr(entries: list[str], first: Hop, second: Hop) -> None:
    """Two Record-Route entries naming pysips sockets (port, transport), written as OpenSIPS writes
    them (modules/rr/record.c: host:port and transport of the socket, then `;r2=on`, then `;lr`;
    no transport parameter for UDP)."""
    expected = [f"<sip:{LOCALHOST}:{port}{f';transport={proto}' if proto else ''};r2=on;lr>"
                for port, proto in (first, second)]
    assert entries == expected, entries


def all_rr(msg: SipMsg) -> list[str]:
    """Every Record-Route entry, whether in one header or several."""
    return msg.get_all("record-route")


def assert_no_dial_or_lookup(server: Server) -> None:
    """pysips never looked up a `.invalid` host nor tried to open a connection to a client."""
    log = server.log()
    for line in log.splitlines():
        assert "resolv" not in line, line  # "not resolving x.invalid", "does not resolve", ...
    assert "cannot connect" not in log, log[-3000:]


def tls_client() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def assert_sipp_ok(server: Server, sipp: SippProcess, timeout: float = 10.0) -> None:
    result = sipp.wait(timeout)
    if not result.ok or result.successful != 1:
        raise AssertionError(server.rig.report(result))


# ---------------------------------------------------------------------------------------------
# 1. WebSocket client calls the UDP phone


def test_ws_client_calls_udp_phone_bye_both_ways(server: Server) -> None:
    rig = server.rig
    register_phone(server, "phone", rig.ports.uas)

    async def run() -> None:
        ua = await WsUa.connect(f"ws://{LOCALHOST}:{server.ws}/", "alice", server.domain)
        reg = await ua.register()
        assert reg.status == 200, reg.first_line
        client_addr = ua.local_address()

        # call 1: the WS client hangs up
        uas = rig.start_uas("ws_uas_answer.xml")
        await asyncio.sleep(0.2)
        dlg = await ua.invite(f"sip:phone@{server.domain}")
        assert dlg.final is not None and dlg.final.status == 200, dlg.final and dlg.final.first_line
        # the 200 carries both entries back, outbound (UDP) side first as the phone echoed them
        check_double_rr(all_rr(dlg.final), (server.udp, None), (server.ws, "ws"))
        bye_ok = await ua.bye(dlg)
        assert bye_ok.status == 200, bye_ok.first_line
        await asyncio.to_thread(assert_sipp_ok, server, uas)
        at_phone = received_by_sipp(uas)
        invite = next(m for m in at_phone if m.is_request and m.method == "INVITE")
        check_double_rr(all_rr(invite), (server.udp, None), (server.ws, "ws"))
        assert [m.method for m in at_phone if m.is_request] == ["INVITE", "ACK", "BYE"]
        # the route set was consumed by pysips: nothing addressed to it reaches the phone
        for msg in at_phone:
            if msg.method in ("ACK", "BYE"):
                assert not msg.get_all("route"), msg.serialize()[:400]

        # call 2: the phone hangs up; its BYE reaches the client over the same connection
        uas = rig.start_uas("ws_uas_hangup.xml")
        await asyncio.sleep(0.2)
        dlg = await ua.invite(f"sip:phone@{server.domain}")
        assert dlg.final is not None and dlg.final.status == 200, dlg.final and dlg.final.first_line
        bye = await ua.wait_request("BYE", dlg.call_id)
        # the phone's BYE targets the INVITE's Contact as fix_nated_contact() rewrote it: the
        # client's source address, which only its connection reaches
        assert bye.first_line == f"BYE sip:alice@{client_addr[0]}:{client_addr[1]};transport=ws;ob SIP/2.0", \
            bye.first_line
        assert not bye.get_all("route"), bye.serialize()[:400]
        assert not ua.closed.is_set() and ua.local_address() == client_addr
        await asyncio.to_thread(assert_sipp_ok, server, uas)
        await ua.close()

    asyncio.run(run())
    assert_no_dial_or_lookup(server)


# ---------------------------------------------------------------------------------------------
# 2. the UDP phone calls the registered WebSocket client


def test_udp_phone_calls_ws_client_bye_both_ways(server: Server) -> None:
    rig = server.rig

    async def run() -> None:
        ua = await WsUa.connect(f"ws://{LOCALHOST}:{server.ws}/", "bob", server.domain)
        reg = await ua.register()
        assert reg.status == 200, reg.first_line

        # call 1: the phone hangs up
        result = await asyncio.to_thread(rig.run_uac, "ws_uac_hangup.xml", "bob", timeout_s=10)
        assert result.ok and result.successful == 1, rig.report(result)
        invite = await ua.wait_request("INVITE")
        # the seed's fix_nated_contact() before save() stored the connection's source address in
        # place of the `.invalid` host: lookup() gives that back with transport=ws
        host, port = ua.local_address()
        assert invite.first_line == f"INVITE sip:bob@{host}:{port};transport=ws SIP/2.0", invite.first_line
        check_double_rr(all_rr(invite), (server.ws, "ws"), (server.udp, None))
        ack = await ua.wait_request("ACK", invite.get("call-id"))
        bye = await ua.wait_request("BYE", invite.get("call-id"))
        # loose_route() consumed both Route entries; the requests target the client's contact
        for req in (ack, bye):
            assert not req.get_all("route"), req.serialize()[:400]
            assert req.first_line.split()[1] == f"sip:bob@{host}:{port};transport=ws", req.first_line

        # call 2: the WS client hangs up (its BYE follows the INVITE's Record-Route)
        ua.received.clear()
        uac = asyncio.to_thread(rig.run_uac, "ws_uac_answer_bye.xml", "bob", timeout_s=10)
        uac_task = asyncio.ensure_future(uac)
        invite = await ua.wait_request("INVITE", timeout=5)
        await ua.wait_request("ACK", invite.get("call-id"))
        bye_ok = await ua.bye(ua.dialog_from_invite(invite))
        assert bye_ok.status == 200, bye_ok.first_line
        result = await uac_task
        assert result.ok and result.successful == 1, rig.report(result)
        assert not ua.closed.is_set()
        await ua.close()

    asyncio.run(run())
    assert_no_dial_or_lookup(server)


# ---------------------------------------------------------------------------------------------
# 3. WSS


def test_wss_client_calls_udp_phone(server: Server) -> None:
    rig = server.rig
    register_phone(server, "phone2", rig.ports.uas2)

    async def run() -> None:
        ua = await WsUa.connect(f"wss://{LOCALHOST}:{server.wss}/", "carol", server.domain, tls_client())
        reg = await ua.register()
        assert reg.status == 200, reg.first_line
        uas = rig.start_uas("ws_uas_hangup.xml", rig.ports.uas2)
        await asyncio.sleep(0.2)
        dlg = await ua.invite(f"sip:phone2@{server.domain}")
        assert dlg.final is not None and dlg.final.status == 200, dlg.final and dlg.final.first_line
        check_double_rr(all_rr(dlg.final), (server.udp, None), (server.wss, "wss"))
        await ua.wait_request("BYE", dlg.call_id)
        await asyncio.to_thread(assert_sipp_ok, server, uas)
        invite = next(m for m in received_by_sipp(uas) if m.is_request and m.method == "INVITE")
        check_double_rr(all_rr(invite), (server.udp, None), (server.wss, "wss"))

        # and back: the phone calls the WSS client (its contact says transport=ws, as JsSIP's do)
        result = await asyncio.to_thread(rig.run_uac, "ws_uac_hangup.xml", "carol", timeout_s=10)
        assert result.ok and result.successful == 1, rig.report(result)
        invite = await ua.wait_request("INVITE")
        check_double_rr(all_rr(invite), (server.wss, "wss"), (server.udp, None))
        await ua.wait_request("BYE", invite.get("call-id"))
        assert not ua.closed.is_set()
        await ua.close()
        assert_no_dial_or_lookup(server)

    asyncio.run(run())


# ---------------------------------------------------------------------------------------------
# 4. the client's connection is gone


@pytest.mark.parametrize("abort", [True, False], ids=["tcp-dropped", "ws-closed"])
def test_call_to_vanished_ws_client_fails_fast(server: Server, abort: bool) -> None:
    user = f"gone{int(abort)}"

    async def run() -> None:
        ua = await WsUa.connect(f"ws://{LOCALHOST}:{server.ws}/", user, server.domain)
        reg = await ua.register()
        assert reg.status == 200, reg.first_line
        await ua.close(abort=abort)
        await asyncio.sleep(0.3)

    asyncio.run(run())
    tag = uuid.uuid4().hex[:10]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        me = sock.getsockname()[1]
        sock.settimeout(3)
        invite = (
            f"INVITE sip:{user}@{server.domain} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCALHOST}:{me};branch=z9hG4bK{tag};rport\r\n"
            f"From: <sip:phone@{LOCALHOST}:{me}>;tag={tag}\r\nTo: <sip:{user}@{server.domain}>\r\n"
            f"Call-ID: gone-{tag}\r\nCSeq: 1 INVITE\r\nContact: <sip:phone@{LOCALHOST}:{me}>\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        started = time.monotonic()
        sock.sendto(invite, (LOCALHOST, server.udp))
        final = b""
        while not final:
            try:
                data = sock.recv(65535)
            except TimeoutError:
                raise AssertionError(f"no final reply within 3 s\n{server.log()[-3000:]}") from None
            if not data.startswith(b"SIP/2.0 1"):
                final = data
        elapsed = time.monotonic() - started
    status = final.split(b" ", 2)[1]
    assert status == b"477", final.decode(errors="replace")[:300]
    assert elapsed < 1.0, f"{status!r} after {elapsed:.2f}s"
    log = server.log()
    assert "not resolving" not in log, log[-2000:]
