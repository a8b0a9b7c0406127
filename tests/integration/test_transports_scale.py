"""1,000 concurrent TCP, WebSocket and TLS connections registering at once (per protocol).

Every REGISTER must be answered; the figures (time for all answers, server memory per idle
connection from /proc/PID/status VmRSS) are printed: run with `-s` to see them.
"""

from __future__ import annotations

import asyncio
import resource
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from pysips.devcert import make_dev_certificate
from tests.integration.proxy_harness import free_port
from tests.integration.test_transports import LOCAL, serving

pytestmark = pytest.mark.integration

N = 1000

CFG = """\
log_level=2
log_stderror=yes
listen=udp:127.0.0.1:{tcp}
listen=tcp:127.0.0.1:{tcp}
listen=ws:127.0.0.1:{ws}
listen=tls:127.0.0.1:{tls}
tcp_max_connections=5000
tcp_connection_lifetime=300

loadmodule "sl.so"
loadmodule "sipmsgops.so"
loadmodule "proto_udp.so"
loadmodule "proto_tcp.so"
loadmodule "proto_ws.so"
loadmodule "proto_tls.so"
loadmodule "tls_mgm.so"
modparam("tls_mgm", "certificate", "{cert}")
modparam("tls_mgm", "private_key", "{key}")

route {{
    if (is_method("REGISTER")) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}
"""


def raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < want:
        pytest.fail(f"RLIMIT_NOFILE cannot reach {want}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def register(proto: str, i: int) -> bytes:
    tag = uuid.uuid4().hex[:10]
    host = f"{tag}.invalid" if proto == "WS" else "127.0.0.1:1"
    return (
        f"REGISTER sip:{LOCAL} SIP/2.0\r\n"
        f"Via: SIP/2.0/{proto} {host};branch=z9hG4bK{tag};rport\r\n"
        f"From: <sip:u{i}@{LOCAL}>;tag={tag}\r\nTo: <sip:u{i}@{LOCAL}>\r\n"
        f"Call-ID: {tag}\r\nCSeq: 1 REGISTER\r\n"
        f"Contact: <sip:u{i}@{host};transport={proto.lower()}>\r\nExpires: 600\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def scale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, int], Path]]:
    raise_nofile(4 * N + 200)
    base = tmp_path_factory.mktemp("scale")
    ports = {"tcp": free_port(), "ws": free_port(), "tls": free_port()}
    cert, key = make_dev_certificate(base / "certs")
    with serving(base / "scale.cfg", CFG.format(cert=cert, key=key, **ports),
                 ports.values()) as (proc, log_path):
        yield proc.pid, ports, log_path


async def tcp_clients(port: int, tls: bool = False) -> tuple[float, list[asyncio.StreamWriter]]:
    ctx: ssl.SSLContext | None = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

    async def one(i: int) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection(LOCAL, port, ssl=ctx)
        writer.write(register("TLS" if tls else "TCP", i))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"SIP/2.0 200 "), head
        return writer

    started = time.monotonic()
    writers = await asyncio.gather(*(one(i) for i in range(N)))
    return time.monotonic() - started, list(writers)


async def ws_clients(port: int) -> tuple[float, list[ClientConnection]]:
    async def one(i: int) -> ClientConnection:
        ws = await ws_connect(f"ws://{LOCAL}:{port}/", subprotocols=["sip"], open_timeout=30)  # type: ignore[list-item]
        await ws.send(register("WS", i).decode())
        answer = await asyncio.wait_for(ws.recv(), 30)
        assert str(answer).startswith("SIP/2.0 200 "), answer
        return ws

    started = time.monotonic()
    conns = await asyncio.gather(*(one(i) for i in range(N)))
    return time.monotonic() - started, list(conns)


def test_thousand_tcp_and_thousand_ws_registrations(scale_server: tuple[int, dict[str, int], Path]) -> None:
    pid, ports, log_path = scale_server

    async def run() -> dict[str, float]:
        figures: dict[str, float] = {}
        await asyncio.sleep(0.5)
        # warm up code paths so the baseline includes them
        _, warm = await tcp_clients_small(ports["tcp"])
        for w in warm:
            w.close()
        await asyncio.sleep(0.5)
        base = rss_kib(pid)
        elapsed, writers = await tcp_clients(ports["tcp"])
        await asyncio.sleep(1.0)
        figures["tcp_seconds"] = elapsed
        figures["tcp_kib_per_conn"] = (rss_kib(pid) - base) / N
        base = rss_kib(pid)
        ws_elapsed, conns = await ws_clients(ports["ws"])
        await asyncio.sleep(1.0)
        figures["ws_seconds"] = ws_elapsed
        figures["ws_kib_per_conn"] = (rss_kib(pid) - base) / N
        base = rss_kib(pid)
        tls_elapsed, tls_writers = await tcp_clients(ports["tls"], tls=True)
        await asyncio.sleep(1.0)
        figures["tls_seconds"] = tls_elapsed
        figures["tls_kib_per_conn"] = (rss_kib(pid) - base) / N
        writers += tls_writers
        for w in writers:
            w.close()
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        return figures

    async def tcp_clients_small(port: int) -> tuple[float, list[asyncio.StreamWriter]]:
        writers = []
        for i in range(20):
            reader, writer = await asyncio.open_connection(LOCAL, port)
            writer.write(register("TCP", i))
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writers.append(writer)
        return 0.0, writers

    figures = asyncio.run(run())
    print(f"\n{N} TCP REGISTERs on {N} concurrent connections answered in {figures['tcp_seconds']:.2f} s; "
          f"server RSS per idle TCP connection {figures['tcp_kib_per_conn']:.1f} KiB")
    print(f"{N} WS REGISTERs on {N} concurrent connections answered in {figures['ws_seconds']:.2f} s; "
          f"server RSS per idle WS connection {figures['ws_kib_per_conn']:.1f} KiB")
    print(f"{N} TLS REGISTERs on {N} concurrent connections answered in {figures['tls_seconds']:.2f} s; "
          f"server RSS per idle TLS connection {figures['tls_kib_per_conn']:.1f} KiB")
    assert figures["tcp_seconds"] < 30 and figures["ws_seconds"] < 30 and figures["tls_seconds"] < 60
    assert "refusing" not in log_path.read_text()
