"""pysips over UDP, TCP, TLS, WS and WSS on 127.0.0.1, driven by real clients.

One server per module (listeners of every protocol, a self-signed certificate made here); each edge
case checks its documented outcome and then that the server still answers others.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from pysips.devcert import make_dev_certificate
from tests.integration.proxy_harness import free_port
from tests.procs import stop_group

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LOCAL = "127.0.0.1"
LIFETIME = 3  # tcp_connection_lifetime of the test server, seconds

CFG = """\
log_level=3
log_stderror=yes
listen=udp:127.0.0.1:{udp}
listen=tcp:127.0.0.1:{tcp}
listen=tls:127.0.0.1:{tls}
listen=ws:127.0.0.1:{ws}
listen=wss:127.0.0.1:{wss}
listen=tcp:[::1]:{tcp6}
tcp_connection_lifetime={lifetime}
tcp_max_connections=5000

loadmodule "sl.so"
loadmodule "signaling.so"
loadmodule "sipmsgops.so"
loadmodule "proto_udp.so"
loadmodule "proto_tcp.so"
loadmodule "proto_tls.so"
loadmodule "proto_ws.so"
loadmodule "proto_wss.so"
loadmodule "tls_mgm.so"
modparam("proto_tcp", "tcp_max_msg_chunks", 5000)
modparam("proto_wss", "ws_ping_interval", 1)
modparam("tls_mgm", "certificate", "{cert}")
modparam("tls_mgm", "private_key", "{key}")
modparam("tls_mgm", "ca_list", "{cert}")

route {{
    if (is_method("OPTIONS|REGISTER")) {{
        if (proto == TLS)
            append_to_reply("X-TLS: $tls_version $tls_my_subject_cn verified=$tls_peer_verified\\r\\n");
        if (proto == WS || proto == WSS)
            append_to_reply("X-Proto: websocket $pr $socket_in(proto) $socket_in(port)\\r\\n");
        else
            append_to_reply("X-Proto: $pr $socket_in(proto) $socket_in(port)\\r\\n");
        sl_send_reply("200", "OK");
        exit;
    }}
    if (is_method("INVITE")) {{
        if ($rU == "tcp") {{ forward("tcp:127.0.0.1:{out_tcp}"); exit; }}
        if ($rU == "tls") {{ forward("tls:127.0.0.1:{out_tls}"); exit; }}
        if ($rU == "ws") {{ forward("ws:127.0.0.1:{out_ws}"); exit; }}
        forward("udp:127.0.0.1:{uas}");
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}
"""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int]
    cert: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def launch(cfg: Path, log_path: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "pysips", "-f", str(cfg)]
    with log_path.open("wb") as out:
        return subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_listening(port: int, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pysips exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            socket.create_connection((LOCAL, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"pysips did not listen on {port}:\n{log_path.read_text()[-4000:]}")


@contextmanager
def serving(cfg: Path, text: str,
            stream_ports: Iterable[int]) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """pysips on `text` (written to `cfg`), logging to pysips.log beside it: (process, log path),
    once each of `stream_ports` accepts a connection; its process group is stopped on exit."""
    cfg.write_text(text)
    log_path = cfg.parent / "pysips.log"
    proc = launch(cfg, log_path)
    try:
        for port in stream_ports:
            wait_listening(port, proc, log_path)
        yield proc, log_path
    finally:
        stop_group(proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("transports")
    cert, key = make_dev_certificate(base / "certs")
    ports = {name: free_port() for name in ("udp", "tls", "ws", "wss", "uas", "out_tcp", "out_tls", "out_ws")}
    ports["tcp6"] = ports["udp"] if has_ipv6() else free_port()
    ports["tcp"] = ports["udp"]
    with serving(base / "transports.cfg", CFG.format(cert=cert, key=key, lifetime=LIFETIME, **ports),
                 [ports[name] for name in ("tcp", "tls", "ws", "wss")]) as (proc, log_path):
        yield Server(proc, log_path, ports, cert)


# ---------------------------------------------------------------------------------------------
# clients


def request(method: str, proto: str, port: int, *, body: bytes = b"", clen: bool = True,
            via_host: str = "127.0.0.1:1") -> bytes:
    tag = uuid.uuid4().hex[:10]
    lines = [
        f"{method} sip:{LOCAL}:{port} SIP/2.0",
        f"Via: SIP/2.0/{proto} {via_host};branch=z9hG4bK{tag};rport",
        f"From: <sip:alice@{LOCAL}>;tag={tag}",
        f"To: <sip:alice@{LOCAL}>",
        f"Call-ID: {tag}@test",
        f"CSeq: 1 {method}",
        f"Contact: <sip:alice@{via_host};transport={proto.lower()}>",
        "Max-Forwards: 70",
    ]
    if clen:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_replies(sock: socket.socket, count: int, timeout: float = 3.0) -> list[bytes]:
    """Read until `count` complete replies (Content-Length 0 here) arrived."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while data.count(b"\r\n\r\n") < count and time.monotonic() < deadline:
        chunk = sock.recv(65535)
        if not chunk:
            break
        data += chunk
    return [part for part in data.split(b"\r\n\r\n") if part]


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(65535)
            if not chunk:
                return True
    except TimeoutError:
        return False
    except (ConnectionResetError, ssl.SSLError, OSError):
        return True


def tcp_options(port: int) -> bytes:
    with socket.create_connection((LOCAL, port), timeout=3) as s:
        s.sendall(request("OPTIONS", "TCP", port))
        replies = read_replies(s, 1)
    return replies[0] if replies else b""


def client_tls_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def ws_exchange(url: str, message: bytes, **kw: object) -> str:
    async with ws_connect(url, subprotocols=["sip"], **kw) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "sip"
        await ws.send(message.decode())
        answer = await asyncio.wait_for(ws.recv(), 5)
    return answer if isinstance(answer, str) else answer.decode()


# ---------------------------------------------------------------------------------------------
# every protocol answers


def test_udp_options_and_register(server: Server) -> None:
    port = server.ports["udp"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        for method in ("OPTIONS", "REGISTER"):
            s.sendto(request(method, "UDP", port), (LOCAL, port))
            data = s.recv(65535)
            assert data.startswith(b"SIP/2.0 200 "), data
            assert b"X-Proto: udp udp" in data


def test_tcp_options_and_register(server: Server) -> None:
    port = server.ports["tcp"]
    with socket.create_connection((LOCAL, port), timeout=3) as s:
        s.sendall(request("OPTIONS", "TCP", port))
        s.sendall(request("REGISTER", "TCP", port))
        replies = read_replies(s, 2)
    assert [r.split(b"\r\n")[0] for r in replies] == [b"SIP/2.0 200 OK"] * 2
    assert all(b"X-Proto: tcp tcp" in r for r in replies)


def test_tls_options_and_register(server: Server) -> None:
    port = server.ports["tls"]
    ctx = client_tls_context()
    with socket.create_connection((LOCAL, port), timeout=3) as raw, ctx.wrap_socket(raw) as s:
        for method in ("OPTIONS", "REGISTER"):
            s.sendall(request(method, "TLS", port))
            replies = read_replies(s, 1)
            assert replies and replies[0].startswith(b"SIP/2.0 200 OK"), replies
            assert b"X-Proto: tls tls" in replies[0]
            assert b"X-TLS: TLSv1.3 localhost verified=0" in replies[0], replies[0]


@pytest.mark.parametrize("proto", ["ws", "wss"])
def test_websocket_options_and_register(server: Server, proto: str) -> None:
    port = server.ports[proto]
    kw: dict[str, object] = {"ssl": client_tls_context()} if proto == "wss" else {}
    url = f"{proto}://{LOCAL}:{port}/"
    for method in ("OPTIONS", "REGISTER"):
        msg = request(method, proto.upper(), port, via_host="df7jal23ls0d.invalid")
        answer = asyncio.run(ws_exchange(url, msg, **kw))
        assert answer.startswith("SIP/2.0 200 OK"), answer
        assert f"X-Proto: websocket {proto} {proto} {port}" in answer


def test_sipp_register_over_tcp(server: Server, tmp_path: Path) -> None:
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.fail("sipp is not installed: run scripts/setup (apt: sip-tester)")
    scenario = tmp_path / "register.xml"
    scenario.write_text(SIPP_REGISTER)
    result = subprocess.run(
        [sipp, "-sf", str(scenario), "-t", "t1", "-i", LOCAL, "-p", str(free_port()), "-m", "20", "-r", "50",
         "-timeout", "20", "-nostdin", "-trace_err", f"{LOCAL}:{server.ports['tcp']}"],
        cwd=tmp_path, capture_output=True, timeout=40)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:], server.log())


SIPP_REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register over tcp">
  <send>
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:user[call_number]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:user[call_number]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:user[call_number]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Expires: 300
      Content-Length: [len]

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


# ---------------------------------------------------------------------------------------------
# stream edge cases


def test_two_messages_in_one_segment(server: Server) -> None:
    port = server.ports["tcp"]
    with socket.create_connection((LOCAL, port), timeout=3) as s:
        s.sendall(request("OPTIONS", "TCP", port) + request("REGISTER", "TCP", port))
        replies = read_replies(s, 2)
    assert len(replies) == 2 and b"CSeq: 1 OPTIONS" in replies[0] and b"CSeq: 1 REGISTER" in replies[1]


def test_one_message_in_one_byte_segments(server: Server) -> None:
    port = server.ports["tcp"]
    msg = request("OPTIONS", "TCP", port)
    with socket.create_connection((LOCAL, port), timeout=3) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(msg)):
            s.send(msg[i : i + 1])
            if i % 50 == 0:
                time.sleep(0.002)  # let the server see separate reads
        replies = read_replies(s, 1)
    assert replies and replies[0].startswith(b"SIP/2.0 200 OK")


def test_crlf_keepalive_ping_gets_a_pong(server: Server) -> None:
    with socket.create_connection((LOCAL, server.ports["tcp"]), timeout=3) as s:
        s.sendall(b"\r\n\r\n")
        assert s.recv(10) == b"\r\n"


def test_no_content_length_on_tcp_closes_the_connection(server: Server) -> None:
    port = server.ports["tcp"]
    with socket.create_connection((LOCAL, port), timeout=3) as s:
        s.sendall(request("OPTIONS", "TCP", port, clen=False))
        assert closed_by_server(s, 3.0)
    assert tcp_options(port).startswith(b"SIP/2.0 200 OK")
    assert "missing Content-Length" in server.log()


def test_oversized_message_closes_the_connection(server: Server) -> None:
    port = server.ports["tcp"]
    with socket.create_connection((LOCAL, port), timeout=3) as s:
        head = request("OPTIONS", "TCP", port, body=b"x" * 70000)
        s.sendall(head[:2000])
        assert closed_by_server(s, 3.0)
    assert tcp_options(port).startswith(b"SIP/2.0 200 OK")


@pytest.mark.parametrize("proto", ["tcp", "ws"])
def test_silent_client_is_closed_after_the_lifetime(server: Server, proto: str) -> None:
    """A TCP peer idle for tcp_connection_lifetime is closed; a WebSocket peer that never completes
    its handshake is closed after min(lifetime, 10 s)."""
    port = server.ports["tcp"]
    with socket.create_connection((LOCAL, server.ports[proto]), timeout=3) as silent:
        assert tcp_options(port).startswith(b"SIP/2.0 200 OK")  # others are served meanwhile
        started = time.monotonic()
        assert closed_by_server(silent, LIFETIME + 4.0)
        assert time.monotonic() - started >= LIFETIME - 1.5


def test_tls_garbage_is_dropped_and_tls_still_works(server: Server) -> None:
    port = server.ports["tls"]
    with socket.create_connection((LOCAL, port), timeout=3) as s:
        s.sendall(b"OPTIONS sip:x SIP/2.0\r\n\r\n" + os.urandom(200))
        assert closed_by_server(s, 3.0)
    ctx = client_tls_context()
    with socket.create_connection((LOCAL, port), timeout=3) as raw, ctx.wrap_socket(raw) as s:
        s.sendall(request("OPTIONS", "TLS", port))
        replies = read_replies(s, 1)
    assert replies and replies[0].startswith(b"SIP/2.0 200 OK")


def test_ws_handshake_without_sip_subprotocol_is_refused(server: Server) -> None:
    url = f"ws://{LOCAL}:{server.ports['ws']}/"

    async def attempt(subprotocols: list[str] | None) -> int:
        try:
            async with ws_connect(url, subprotocols=subprotocols):  # type: ignore[arg-type]
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(attempt(None)) == 400
    assert asyncio.run(attempt(["chat"])) == 400
    msg = request("OPTIONS", "WS", server.ports["ws"], via_host="x.invalid")
    assert asyncio.run(ws_exchange(url, msg)).startswith("SIP/2.0 200 OK")


def test_ws_fragmented_message_and_ping(server: Server) -> None:
    url = f"ws://{LOCAL}:{server.ports['ws']}/"
    msg = request("OPTIONS", "WS", server.ports["ws"], via_host="y.invalid").decode()

    async def run() -> str:
        async with ws_connect(url, subprotocols=["sip"]) as ws:  # type: ignore[list-item]
            pong = await ws.ping(b"hello")
            await asyncio.wait_for(pong, 3)
            await ws.send([msg[:30], msg[30:90], msg[90:]])  # one message, three frames
            answer = await asyncio.wait_for(ws.recv(), 5)
        return answer if isinstance(answer, str) else answer.decode()

    assert asyncio.run(run()).startswith("SIP/2.0 200 OK")


def test_ws_peer_vanishing_mid_transaction(server: Server) -> None:
    """A browser sends INVITE (relayed to a UAS over UDP) and vanishes; the UAS's answer finds no
    connection: it is dropped without dialling the browser, and the server keeps serving."""
    ws_port = server.ports["ws"]
    url = f"ws://{LOCAL}:{ws_port}/"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as uas:
        uas.bind((LOCAL, server.ports["uas"]))
        uas.settimeout(5)
        invite = request("INVITE", "WS", ws_port, via_host="gone1234.invalid")

        async def send_and_vanish() -> None:
            ws = await ws_connect(url, subprotocols=["sip"])  # type: ignore[list-item]
            await ws.send(invite.decode())
            await asyncio.sleep(0.3)
            ws.transport.abort()  # no close frame: the peer just disappears

        asyncio.run(send_and_vanish())
        relayed, proxy_addr = uas.recvfrom(65535)
        assert relayed.startswith(b"INVITE ")
        time.sleep(0.5)
        ringing = relayed.replace(b"INVITE sip:", b"X", 1)
        # a 180 built from the relayed request's headers
        head = relayed.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]
        keep = [h for h in head if h.split(b":")[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")]
        ringing = b"SIP/2.0 180 Ringing\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"
        uas.sendto(ringing, proxy_addr)
        time.sleep(0.5)
    assert server.proc.poll() is None
    log = server.log()
    assert "not dialling a browser" in log or "connection is gone" in log, log
    msg = request("OPTIONS", "WS", ws_port, via_host="z.invalid")
    assert asyncio.run(ws_exchange(url, msg)).startswith("SIP/2.0 200 OK")


def test_ipv6_tcp_listener(server: Server) -> None:
    if not has_ipv6():
        pytest.fail("no IPv6 loopback (::1) on this machine")
    port = server.ports["tcp6"]
    with socket.create_connection(("::1", port), timeout=3) as s:
        s.sendall(request("OPTIONS", "TCP", port, via_host="[::1]:1"))
        replies = read_replies(s, 1)
    assert replies and replies[0].startswith(b"SIP/2.0 200 OK"), replies
    assert f"X-Proto: tcp tcp {port}".encode() in replies[0]


def test_outbound_connections_opened_once_and_reused(server: Server) -> None:
    """Requests the script forwards over tcp, tls and ws open one connection per peer and reuse it."""
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve

    got: dict[str, list[bytes]] = {"tcp": [], "tls": [], "ws": []}
    accepts = {"tcp": 0, "tls": 0, "ws": 0}

    def stream_handler(proto: str):  # type: ignore[no-untyped-def]
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepts[proto] += 1
            try:
                while True:
                    got[proto].append(await reader.readuntil(b"\r\n\r\n"))
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
        return handle

    async def ws_handle(conn: ServerConnection) -> None:
        accepts["ws"] += 1
        assert conn.subprotocol == "sip"
        async for message in conn:
            got["ws"].append(message.encode() if isinstance(message, str) else message)

    async def run() -> None:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(server.cert, server.cert.parent / "privkey.pem")
        servers = [
            await asyncio.start_server(stream_handler("tcp"), LOCAL, server.ports["out_tcp"]),
            await asyncio.start_server(stream_handler("tls"), LOCAL, server.ports["out_tls"], ssl=tls_ctx),
        ]
        async with ws_serve(ws_handle, LOCAL, server.ports["out_ws"], subprotocols=["sip"]):  # type: ignore[list-item]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for _ in range(2):
                    for user in ("tcp", "tls", "ws"):
                        invite = request("INVITE", "UDP", server.ports["udp"]).replace(
                            f"INVITE sip:{LOCAL}".encode(), f"INVITE sip:{user}@{LOCAL}".encode(), 1)
                        udp.sendto(invite, (LOCAL, server.ports["udp"]))
                    await asyncio.sleep(0.3)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and any(len(v) < 2 for v in got.values()):
                    await asyncio.sleep(0.05)
        for srv in servers:
            srv.close()

    asyncio.run(run())
    assert {k: len(v) for k, v in got.items()} == {"tcp": 2, "tls": 2, "ws": 2}, server.log()
    assert accepts == {"tcp": 1, "tls": 1, "ws": 1}
    assert got["tcp"][0].startswith(b"INVITE sip:tcp@")
    assert b"Via: SIP/2.0/TLS 127.0.0.1:" in got["tls"][0]
    assert b"Via: SIP/2.0/WS 127.0.0.1:" in got["ws"][0]


def test_server_pings_keep_a_quiet_websocket_alive(server: Server) -> None:
    """With ws_ping_interval set (wss here), a quiet peer that answers pings outlives the idle
    lifetime; on plain ws (no pings) the same quiet peer is closed after it."""
    kw: dict[str, object] = {"ssl": client_tls_context()}

    async def quiet(proto: str, extra: dict[str, object]) -> bool:
        url = f"{proto}://{LOCAL}:{server.ports[proto]}/"
        async with ws_connect(url, subprotocols=["sip"], ping_interval=None, **extra) as ws:  # type: ignore[arg-type]
            await asyncio.sleep(LIFETIME + 2.5)
            msg = request("OPTIONS", proto.upper(), server.ports[proto], via_host="q.invalid")
            try:
                await ws.send(msg.decode())
                await asyncio.wait_for(ws.recv(), 3)
            except Exception:
                return False
            return True

    async def both() -> tuple[bool, bool]:
        alive, closed = await asyncio.gather(quiet("wss", kw), quiet("ws", {}))
        return alive, closed

    wss_alive, ws_alive = asyncio.run(both())
    assert wss_alive
    assert not ws_alive
