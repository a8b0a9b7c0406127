"""The management interface as users drive it: opensips-cli (http, fifo, datagram) and the
`opensips` package's OpenSIPSMI against a running `pysips -f` with httpd, mi_http, mi_fifo,
mi_datagram, usrloc and registrar loaded; REGISTERs sent over UDP show up in ul_dump."""

from __future__ import annotations

import importlib
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.proxy_harness import LOCALHOST, REPO_ROOT, free_port

# a reply that never comes must fail the test, not hang the suite
pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

OPENSIPS_CLI = shutil.which("opensips-cli")

CFG = """
log_level=3
socket=udp:127.0.0.1:{sip}
mpath="{mpath}"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "signaling.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "use_domain", 1)
loadmodule "mi_http.so"
loadmodule "httpd.so"
loadmodule "mi_fifo.so"
loadmodule "mi_datagram.so"
modparam("httpd", "socket", "http:127.0.0.1:{http}")
modparam("mi_fifo", "fifo_name", "{fifo}")
modparam("mi_fifo", "fifo_mode", 0600)
modparam("mi_fifo", "reply_dir", "{tmp}")
modparam("mi_datagram", "socket_name", "udp:127.0.0.1:{dgram}")

route {{
    if ($rm == "REGISTER") {{
        save("location");
        exit;
    }}
    sl_send_reply(404, "{reason}");
}}
"""


@dataclass
class Server:
    proc: subprocess.Popen[str]
    cfg: Path
    tmp: Path
    sip: int
    http: int
    dgram: int
    fifo: Path
    params: dict[str, Any]

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.http}/mi"

    def write_cfg(self, reason: str, extra: str = "") -> None:
        self.cfg.write_text(CFG.format(reason=reason, **self.params) + extra)


def _wait_tcp(port: int, proc: subprocess.Popen[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pysips exited: {proc.communicate()[1]}")
        try:
            with socket.create_connection((LOCALHOST, port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the httpd port never opened")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # not under /tmp's sticky bit: the FIFO's owner and its readers are the same user anyway
    tmp = tmp_path_factory.mktemp("mi")
    params = {"sip": free_port(), "http": free_port(), "dgram": free_port(), "fifo": tmp / "opensips_fifo",
              "mpath": REPO_ROOT / "modules", "tmp": tmp}
    srv = Server(None, tmp / "mi.cfg", tmp, params["sip"], params["http"], params["dgram"],  # type: ignore[arg-type]
                 params["fifo"], params)
    srv.write_cfg("Not Here")
    srv.proc = subprocess.Popen([sys.executable, "-m", "pysips", "-f", str(srv.cfg)], cwd=tmp,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_tcp(srv.http, srv.proc)
        yield srv
    finally:
        srv.proc.terminate()
        try:
            srv.proc.wait(10)
        except subprocess.TimeoutExpired:
            srv.proc.kill()


def sip(server: Server, text: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCALHOST, 0))
        port = s.getsockname()[1]
        s.settimeout(5)
        s.sendto(text.format(port=port).replace("\n", "\r\n").encode(), (LOCALHOST, server.sip))
        return s.recv(65535).decode()


REGISTER = """REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{{port}};branch=z9hG4bK-reg-{user};rport
Max-Forwards: 70
From: <sip:{user}@example.com>;tag=1
To: <sip:{user}@example.com>
Call-ID: reg-{user}@h14
CSeq: 1 REGISTER
Contact: <sip:{user}@127.0.0.1:{{port}}>;expires=600
User-Agent: mi-test
Content-Length: 0

"""

OPTIONS = """OPTIONS sip:x@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-opt-%d
Max-Forwards: 70
From: <sip:t@example.com>;tag=2
To: <sip:x@example.com>
Call-ID: opt-%d@h14
CSeq: 1 OPTIONS
Content-Length: 0

"""


def cli(server: Server, *args: str, via: str = "http") -> Any:
    if OPENSIPS_CLI is None:
        pytest.fail("opensips-cli is not installed: run scripts/setup (pip: opensipscli)")
    empty = server.tmp / "cli.cfg"
    empty.write_text("[default]\n")
    comm = {"http": ["-o", "communication_type=http", "-o", f"url={server.url}"],
            "fifo": ["-o", "communication_type=fifo", "-o", f"fifo_file={server.fifo}",
                     "-o", f"fifo_reply_dir={server.tmp}"],
            "datagram": ["-o", "communication_type=datagram", "-o", f"datagram_ip={LOCALHOST}",
                         "-o", f"datagram_port={server.dgram}"]}[via]
    result = subprocess.run([OPENSIPS_CLI, "-f", str(empty), *comm, "-x", "mi", *args],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0 or not result.stdout.strip():
        raise AssertionError(f"opensips-cli {args} failed ({result.returncode}): {result.stderr}")
    return json.loads(result.stdout)


@pytest.mark.parametrize("via", ["http", "fifo", "datagram"])
def test_opensips_cli_core_commands(server: Server, via: str) -> None:
    up = cli(server, "uptime", via=via)
    assert up["Up time"].endswith("[sec]")
    procs = cli(server, "ps", via=via)["Processes"]
    assert procs[0]["PID"] == server.proc.pid
    assert {"MI FIFO", f"HTTPD 127.0.0.1:{server.http}"} <= {p["Type"] for p in procs}
    assert cli(server, "version", via=via)["Server"].startswith("pysips")


def test_statistics_follow_traffic(server: Server) -> None:
    before = cli(server, "get_statistics", "core:", "sl:")
    assert "core:rcv_requests" in before and "sl:4xx_replies" in before
    reply = sip(server, OPTIONS % (1, 1))
    assert reply.startswith("SIP/2.0 404")
    after = cli(server, "get_statistics", "rcv_requests", "4xx_replies")
    assert after["core:rcv_requests"] == before["core:rcv_requests"] + 1
    assert after["sl:4xx_replies"] == before["sl:4xx_replies"] + 1
    everything = cli(server, "get_statistics", "all")
    assert {"core:rcv_replies", "tm:inuse_transactions", "usrloc:registered_users"} <= set(everything)
    assert cli(server, "reset_statistics", "4xx_replies") == "OK"
    assert cli(server, "get_statistics", "4xx_replies") == {"sl:4xx_replies": 0}
    # as OpenSIPS's get_stat(): a name with its group is not a name (only "group:" selects)
    with pytest.raises(AssertionError, match="Statistics Not Found"):
        cli(server, "get_statistics", "sl:4xx_replies")


def test_register_then_ul_commands(server: Server) -> None:
    reply = sip(server, REGISTER.format(user="bob"))
    assert reply.startswith("SIP/2.0 200")
    dump = cli(server, "ul_dump")
    aors = {a["AOR"]: a for d in dump["Domains"] if d["name"] == "location" for a in d["AORs"]}
    (contact,) = aors["bob@example.com"]["Contacts"]
    assert contact["Contact"].startswith("sip:bob@127.0.0.1:")
    assert contact["Callid"] == "reg-bob@h14" and contact["User-agent"] == "mi-test"
    assert 590 <= contact["Expires"] <= 600 and contact["Cseq"] == 1
    assert contact["Socket"] == f"udp:127.0.0.1:{server.sip}"

    assert cli(server, "ul_add", "location", "carol@example.com", "sip:carol@10.1.1.1", "0", "1", "0", "0",
               "0") == "OK"
    shown = cli(server, "ul_show_contact", "location", "carol@example.com", via="fifo")
    assert shown["Contacts"][0]["Expires"] == "permanent"
    assert cli(server, "get_statistics", "location-users")["usrloc:location-users"] >= 2
    assert cli(server, "ul_rm", "location", "carol@example.com", via="datagram") == "OK"
    assert "carol@example.com" not in json.dumps(cli(server, "ul_dump"))


def test_opensips_package_connectors(server: Server) -> None:
    mi_mod = importlib.import_module("opensips.mi")
    connectors = [
        mi_mod.OpenSIPSMI("http", url=server.url),
        mi_mod.OpenSIPSMI("datagram", datagram_ip=LOCALHOST, datagram_port=server.dgram),
        mi_mod.OpenSIPSMI("fifo", fifo_file=str(server.fifo), fifo_file_fallback=str(server.fifo),
                          fifo_reply_dir=str(server.tmp)),
    ]
    for mi in connectors:
        assert mi.execute("ps")["Processes"][0]["Type"] == "attendant"
        assert mi.execute("which", {"command": "ul_dump"}) == [[], ["brief"]]
        with pytest.raises(mi_mod.OpenSIPSMIException) as info:
            mi.execute("no_such_command")
        assert "-32601" in str(info.value) and "Method not found" in str(info.value)
        with pytest.raises(mi_mod.OpenSIPSMIException, match="Statistics Not Found"):
            mi.execute("get_statistics", {"statistics": ["nothing:"]})


def test_reload_routes_swaps_the_script(server: Server) -> None:
    try:
        server.write_cfg("Reloaded")
        assert cli(server, "reload_routes") == "OK"
        assert sip(server, OPTIONS % (2, 2)).startswith("SIP/2.0 404 Reloaded")
        server.write_cfg("Broken", extra="route[oops] { no_such_function(); }\n")
        with pytest.raises(AssertionError):
            cli(server, "reload_routes")
        # a script that does not load leaves the running routes alone
        assert sip(server, OPTIONS % (3, 3)).startswith("SIP/2.0 404 Reloaded")
    finally:
        server.write_cfg("Not Here")
        cli(server, "reload_routes")


def test_http_errors_are_http_and_json_rpc(server: Server) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(server.url, data=b"{not json", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read())["error"] == {"code": -32700, "message": "Parse error", }
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server.url, timeout=5)  # GET
    assert info.value.code == 405
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://{LOCALHOST}:{server.http}/nothing", timeout=5)
    assert info.value.code == 404
