"""Shared helpers for the compiler tests: load a script with the test module, run it on a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pysips.script import ast
from pysips.script.compile import CheckReport, LoadedScript, LoadOptions, check_script, load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo

TEST_MODULES = Path(__file__).resolve().parents[2] / "data" / "modules"

HEADER = 'listen=udp:127.0.0.1:5060\nalias="example.com"\nloadmodule "testmod.so"\n'
HEADER_LINES = HEADER.count("\n")

REGISTER = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-reg-1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\n"
    b"To: <sip:alice@example.com>\r\n"
    b"Call-ID: reg-1@10.0.0.1\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Contact: <sip:alice@10.0.0.1:5070>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

INVITE = (
    b"INVITE sip:bob@remote.org SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-inv-1\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\n"
    b"To: <sip:bob@remote.org>\r\n"
    b"Call-ID: inv-1@10.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

RCV = ReceiveInfo("udp", "127.0.0.1", 5060, "10.0.0.1", 5070)


def message(data: bytes = REGISTER) -> SipMessage:
    msg = parse_message(data)
    assert isinstance(msg, SipMessage), msg
    return msg


def load(body: str, header: str = HEADER) -> LoadedScript:
    return load_script(parse_text(header + body, "t.cfg"), LoadOptions(mpath=str(TEST_MODULES)))


def check(body: str, header: str = HEADER) -> CheckReport:
    return check_script(parse_text(header + body, "t.cfg"), LoadOptions(mpath=str(TEST_MODULES)))


def run(
    loaded: LoadedScript,
    data: bytes = REGISTER,
    kind: ast.RouteKind = ast.RouteKind.REQUEST,
    name: str | None = None,
    process: ProcessState | None = None,
) -> tuple[int, MsgContext]:
    route = loaded.route(kind, name)
    assert route is not None
    ctx = MsgContext(process or ProcessState(), message(data), RCV)
    return loaded.run(route, ctx), ctx


def calls(ctx: MsgContext) -> list[tuple[Any, ...]]:
    result: list[tuple[Any, ...]] = ctx.extra.get("calls", [])
    return result
