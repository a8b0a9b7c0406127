"""rest_client against a real HTTP server on 127.0.0.1 (Python's threading HTTP server).

A running pysips answers each MESSAGE with what the script's HTTP request gave (return code,
status, Content-Type, body) in reply headers: GET, POST and PUT with bodies and types, a header
added by rest_append_hf(), a 404 (still 1, status 404), a refused port (-1), a server slower
than curl_timeout (-3) while OPTIONS keep being answered at once, and rest_get() under async().
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pysips.sip.message import SipMessage
from tests.integration.inprocess import LOCALHOST, ReplyCollector, out_of_dialog, running_script
from tests.integration.proxy_harness import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client gave up (the timeout case)
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(2.5)
        if self.path.startswith("/missing"):
            self._answer(404, "text/plain", b"no such thing")
            return
        self._answer(200, "application/json", b'  {"credit": 42}\n')

    def _echo(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size).decode()
        seen = {"method": self.command, "body": body, "ctype": self.headers.get("Content-Type"),
                "token": self.headers.get("X-Token"), "agent": self.headers.get("User-Agent")}
        self._answer(201, "application/json", json.dumps(seen, sort_keys=True).encode())

    do_POST = _echo
    do_PUT = _echo


@pytest.fixture
def http_server() -> Iterator[int]:
    server = ThreadingHTTPServer((LOCALHOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


SCRIPT = """
log_level=3
socket=udp:127.0.0.1:{port}
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "rest_client.so"
modparam("rest_client", "curl_timeout", 1)
modparam("rest_client", "connection_timeout", 1)

route {{
    if (is_method("OPTIONS")) {{
        sl_send_reply(200, "Quick");
        exit;
    }}
    $var(body) = "none"; $var(ct) = "none"; $var(code) = "none";
    $var(url) = "http://127.0.0.1:{http}" + $hdr(X-Path);
    if ($hdr(X-Case) == "get") {{
        $var(rc) = rest_get($var(url), $var(body), $var(ct), $var(code));
    }} else if ($hdr(X-Case) == "post") {{
        rest_append_hf("X-Token: abc123");
        $var(rc) = rest_post($var(url), "a=1&b=2", , $var(body), $var(ct), $var(code));
    }} else if ($hdr(X-Case) == "put") {{
        $var(rc) = rest_put($var(url), "{{\\"x\\": 1}}", "application/json", $var(body), , $var(code));
    }} else if ($hdr(X-Case) == "refused") {{
        $var(rc) = rest_get("http://127.0.0.1:{closed}/", $var(body), , $var(code));
    }} else if ($hdr(X-Case) == "async") {{
        async(rest_get($var(url), $var(body), $var(ct), $var(code)), answer);
    }}
    route(answer);
}}

route[answer] {{
    if ($hdr(X-Case) == "async") $var(rc) = $rc;
    append_to_reply("X-Rc: $var(rc)\\r\\nX-Code: $var(code)\\r\\n");
    append_to_reply("X-Ct: $var(ct)\\r\\nX-Body: $var(body)\\r\\n");
    if ($hdr(X-Case) == "async") t_reply(200, "Done"); else sl_send_reply(200, "Done");
}}
"""


def request(method: str, port: int, local: int, case: str = "", path: str = "/") -> bytes:
    return out_of_dialog(method, port, local, "rest", f"X-Case: {case}\r\nX-Path: {path}\r\n" if case else "")


def answer(msg: SipMessage) -> tuple[str | None, ...]:
    return tuple(msg.header(h) for h in ("x-rc", "x-code", "x-ct", "x-body"))


def test_rest_client_against_a_local_http_server(tmp_path: Path, http_server: int) -> None:
    asyncio.run(scenario(tmp_path, http_server))


async def scenario(tmp_path: Path, http_port: int) -> None:
    port = free_port()
    script = SCRIPT.format(port=port, http=http_port, closed=free_port())
    async with running_script(script, tmp_path):
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(ReplyCollector, local_addr=(LOCALHOST, 0))
        local = transport.get_extra_info("sockname")[1]

        async def ask(case: str, path: str = "/") -> tuple[str | None, ...]:
            transport.sendto(request("MESSAGE", port, local, case, path), (LOCALHOST, port))
            return answer((await client.take(1))[0])

        try:
            assert await ask("get", "/credit") == ("1", "200", "application/json", '{"credit": 42}')
            assert await ask("get", "/missing") == ("1", "404", "text/plain", "no such thing")
            rc, code, ctype, body = await ask("post", "/echo")
            assert (rc, code, ctype) == ("1", "201", "application/json")
            assert json.loads(body or "") == {"agent": None, "body": "a=1&b=2", "method": "POST",
                                              "ctype": "application/x-www-form-urlencoded",
                                              "token": "abc123"}
            rc, code, ctype, body = await ask("put", "/echo")
            assert (rc, code, ctype) == ("1", "201", "none")
            assert json.loads(body or "") == {"agent": None, "body": '{"x": 1}', "method": "PUT",
                                              "ctype": "application/json", "token": None}
            assert await ask("refused") == ("-1", "0", "none", "none")
            assert await ask("async", "/credit") == ("1", "200", "application/json",
                                                     '{"credit": 42}')

            # a server slower than curl_timeout: -3, and other messages are answered meanwhile
            transport.sendto(request("MESSAGE", port, local, "get", "/slow"), (LOCALHOST, port))
            await asyncio.sleep(0.05)
            for _ in range(3):
                transport.sendto(request("OPTIONS", port, local), (LOCALHOST, port))
                await asyncio.sleep(0.02)
            got = await client.take(4)
            assert [str(m.reason) for m in got] == ["Quick"] * 3 + ["Done"]
            assert answer(got[-1])[:2] == ("-3", "0")  # no status line came before the timeout
        finally:
            transport.close()
