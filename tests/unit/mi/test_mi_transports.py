"""The MI transports in-process: FIFO command framing and replies, HTTP framing, datagrams."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from pysips.script.compile import register_module_mi
from pysips.script.context import ProcessState
from pysips.script.exports import ModuleInitContext
from pysips.script.flags import FlagRegistry
from pysips.script.loader import ModuleFinder


def _module(name: str, sub: str | None = None) -> Any:
    found = ModuleFinder().find(name)
    assert found is not None
    return importlib.import_module(f"pysips_modules.{name}" + (f".{sub}" if sub else ""))


def _init(name: str, process: ProcessState, params: dict[str, Any]) -> Any:
    exports = _module(name).exports
    full = {p.name: p.default for p in exports.params}
    full.update(params)
    obj = exports.init(ModuleInitContext(name, process, FlagRegistry(), None), full)
    process.modules[name] = obj
    register_module_mi(process, name, exports, obj)  # the loader's step after init
    return obj


REQ = '{"jsonrpc":"2.0","method":"version","id":1}'


def test_fifo_command_framing() -> None:
    fifo = _module("mi_fifo", "fifo")
    done, rest = fifo.parse_commands(f":r1:{REQ}\n :r2:{REQ}:r3:{REQ[:10]}")
    assert [r for r, _ in done] == ["r1", "r2"] and done[0][1]["method"] == "version"
    assert rest == f":r3:{REQ[:10]}"
    done, rest = fifo.parse_commands(rest + REQ[10:])
    assert done[0][0] == "r3" and rest == ""
    done, _ = fifo.parse_commands('::{"jsonrpc":"2.0","method":"ps","id":2}')
    assert done[0][0] is None  # no reply wanted
    done, _ = fifo.parse_commands(':r:{"a": ]}')
    assert done[0][1] is fifo.PARSE_FAILED
    done, rest = fifo.parse_commands(':r:{"s": "}{\\"", "t": 1}')
    assert done[0][1] == {"s": '}{"', "t": 1} and rest == ""
    assert fifo.reply_path(fifo.FifoConfig(reply_dir="/tmp/"), "../etc/x") is None


def test_fifo_round_trip(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, int]:
        process = ProcessState()
        server = _init("mi_fifo", process, {"fifo_name": str(tmp_path / "fifo"), "reply_dir": str(tmp_path),
                                            "fifo_mode": 0o600})
        try:
            mode = stat.S_IMODE(os.stat(tmp_path / "fifo").st_mode)
            os.mkfifo(tmp_path / "reply")
            with open(tmp_path / "fifo", "w") as f:
                f.write(f":reply:{REQ}")
            loop = asyncio.get_running_loop()
            reply = await loop.run_in_executor(None, (tmp_path / "reply").read_text)
            return reply, mode
        finally:
            server.close()

    reply, mode = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert mode == 0o600
    assert reply.endswith("\n") and json.loads(reply)["result"]["Server"].startswith("pysips")
    assert not (tmp_path / "fifo").exists()  # removed when closed


def test_http_framing() -> None:
    http11 = _module("httpd", "http11")
    req = http11.parse_head(b"POST /mi HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nX-A: 1\r\nx-a: 2")
    assert req.path == "/mi" and req.headers["x-a"] == "1, 2" and req.keep_alive
    with pytest.raises(http11.HttpError):
        http11.parse_head(b"GARBAGE\r\n")
    out = http11.response_bytes(http11.HttpResponse(200, b"{}", "application/json"), keep_alive=False)
    assert out.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: 2\r\n" in out
    assert b"Connection: close" in out and out.endswith(b"\r\n\r\n{}")
    assert _module("httpd").parse_socket("http:127.0.0.1:8888") == ("127.0.0.1", 8888)
    assert _module("httpd").parse_socket("[::1]:80") == ("::1", 80)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_and_datagram_serve_json_rpc() -> None:
    http_port = _free_port(socket.SOCK_STREAM)
    udp_port = _free_port(socket.SOCK_DGRAM)

    async def scenario() -> list[bytes]:
        process = ProcessState()
        # httpd first, as the loader orders them (mi_http requires its HTTP service)
        httpd = _init("httpd", process, {"socket": f"127.0.0.1:{http_port}", "auth_username": "",
                                         "auth_password": ""})
        _init("mi_http", process, {"root": "json"})
        dgram = _init("mi_datagram", process, {"socket_name": f"udp:127.0.0.1:{udp_port}"})
        await asyncio.sleep(0.05)
        out: list[bytes] = []
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
            body = REQ.encode()
            for method in ("POST", "GET"):
                head = f"{method} /json HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
                writer.write(head.encode() + body)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                out.append(head + await reader.readexactly(length))
            writer.close()
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(("127.0.0.1", udp_port))
            await loop.sock_sendall(sock, b'{"jsonrpc":"2.0","method":"which","id":9}')
            out.append(await asyncio.wait_for(loop.sock_recv(sock, 65535), 5))
            sock.close()
        finally:
            httpd.close()
            dgram.close()
        return out

    post, get, dgram = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert post.startswith(b"HTTP/1.1 200") and b"application/json" in post
    assert json.loads(post.split(b"\r\n\r\n", 1)[1])["result"]["Server"].startswith("pysips")
    assert get.startswith(b"HTTP/1.1 405")
    names = json.loads(dgram)["result"]
    assert "httpd_list_root_path" in names and json.loads(dgram)["id"] == 9
