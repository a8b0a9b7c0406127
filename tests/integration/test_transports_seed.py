"""The seed's WebSocket path end to end: a WS client registers (fix_nated_contact + save), a UDP
caller's INVITE reaches it over its connection with a double Record-Route (WS and UDP sockets), and
once the WS peer has vanished the caller gets 477 at once: the browser is never dialled.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.integration.proxy_harness import free_port
from tests.integration.test_transports import LOCAL, serving

pytestmark = pytest.mark.integration

CFG = """\
log_level=3
log_stderror=yes
listen=udp:127.0.0.1:{udp}
listen=ws:127.0.0.1:{ws}
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "signaling.so"
loadmodule "sipmsgops.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "nathelper.so"
loadmodule "proto_udp.so"
loadmodule "proto_ws.so"
modparam("usrloc", "db_mode", 0)
route {{
    if (is_method("REGISTER")) {{
        fix_nated_contact();
        if (!save("location")) sl_reply_error();
        exit;
    }}
    if (is_method("INVITE")) {{
        record_route();
        if (!lookup("location")) {{ t_newtran(); t_reply("404", "Not Found"); exit; }}
        if (!t_relay()) send_reply("500", "Internal Error");
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}
"""


@pytest.fixture(scope="module")
def seed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, int], Path]]:
    base = tmp_path_factory.mktemp("seed")
    ports = {"udp": free_port(), "ws": free_port()}
    with serving(base / "seed.cfg", CFG.format(**ports),
                 [ports["ws"]]) as (_, log_path):
        yield ports, log_path


def sip(method: str, ruri: str, via: str, contact: str, extra: str = "") -> str:
    tag = uuid.uuid4().hex[:10]
    return (f"{method} {ruri} SIP/2.0\r\nVia: {via};branch=z9hG4bK{tag};rport\r\n"
            f"From: <sip:alice@{LOCAL}>;tag={tag}\r\nTo: <sip:bob@{LOCAL}>\r\nCall-ID: {tag}\r\n"
            f"CSeq: 1 {method}\r\nContact: {contact}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n")


def first_lines(data: bytes) -> list[str]:
    heads = ("SIP/2.0", "Via", "Record-Route")
    return [line for line in data.decode().split("\r\n") if line.startswith(heads)]


def test_invite_reaches_ws_user_then_477_once_it_vanished(seed_server: tuple[dict[str, int], Path]) -> None:
    ports, log_path = seed_server

    async def run() -> tuple[str, list[bytes], list[bytes]]:
        ws = await ws_connect(f"ws://{LOCAL}:{ports['ws']}/", subprotocols=["sip"])  # type: ignore[list-item]
        register = sip("REGISTER", f"sip:{LOCAL}", "SIP/2.0/WS x7.invalid",
                       "<sip:bob@x7.invalid;transport=ws>", "Expires: 300\r\n")
        register = register.replace(f"From: <sip:alice@{LOCAL}>", f"From: <sip:bob@{LOCAL}>")
        await ws.send(register)
        reg_answer = str(await asyncio.wait_for(ws.recv(), 5))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOCAL, 0))
            udp.settimeout(5)
            me = udp.getsockname()[1]
            invite = sip("INVITE", f"sip:bob@{LOCAL}:{ports['udp']}", f"SIP/2.0/UDP {LOCAL}:{me}",
                         f"<sip:alice@{LOCAL}:{me}>")
            udp.sendto(invite.encode(), (LOCAL, ports["udp"]))
            at_browser = str(await asyncio.wait_for(ws.recv(), 5)).encode()
            ws.transport.abort()  # the browser tab is gone, without a close frame
            await asyncio.sleep(0.5)
            udp.sendto(sip("INVITE", f"sip:bob@{LOCAL}:{ports['udp']}", f"SIP/2.0/UDP {LOCAL}:{me}",
                           f"<sip:alice@{LOCAL}:{me}>").encode(), (LOCAL, ports["udp"]))
            answers: list[bytes] = []
            while not any(a.startswith((b"SIP/2.0 4", b"SIP/2.0 5")) for a in answers):
                answers.append(udp.recv(65535))
        return reg_answer, [at_browser], answers

    reg_answer, (at_browser,), answers = asyncio.run(run())
    assert reg_answer.startswith("SIP/2.0 200 OK"), reg_answer
    assert at_browser.startswith(f"INVITE sip:bob@{LOCAL}:".encode()), at_browser[:200]
    lines = first_lines(at_browser)
    vias = [line for line in lines if line.startswith("Via:")]
    assert vias[0].startswith(f"Via: SIP/2.0/WS {LOCAL}:{ports['ws']};"), lines
    # OpenSIPS's order: the script's Record-Routes were inserted first, our Via when sending
    assert lines.index(vias[0]) == 2 and lines[0].startswith("Record-Route"), lines
    rr = [line for line in lines if line.startswith("Record-Route")]
    assert len(rr) == 2 and "transport=ws" in rr[0] and "transport" not in rr[1], lines
    final = [a for a in answers if not a.startswith(b"SIP/2.0 1")]
    assert final and final[0].split(b" ")[1] == b"477", first_lines(final[0])
    assert "not dialling a browser" in log_path.read_text()
