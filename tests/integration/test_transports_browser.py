"""JsSIP in headless Chromium registers over WS and WSS, then sends a MESSAGE over the same socket.

Needs `chromium` and npm (scripts/setup installs both); JsSIP is the pinned bundle built by
tests/integration/e2e/bundle.py. The 200 to REGISTER echoes the Contact: JsSIP ignores a 200 without
its Contact.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysips.devcert import make_dev_certificate
from tests.integration.e2e.bundle import ensure_bundle
from tests.integration.proxy_harness import free_port
from tests.integration.test_transports import LOCAL, serving

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--ignore-certificate-errors"]

CFG = """\
log_level=3
log_stderror=yes
listen=udp:127.0.0.1:{ws}
listen=ws:127.0.0.1:{ws}
listen=wss:127.0.0.1:{wss}
loadmodule "sl.so"
loadmodule "sipmsgops.so"
loadmodule "proto_udp.so"
loadmodule "proto_ws.so"
loadmodule "proto_wss.so"
loadmodule "tls_mgm.so"
modparam("tls_mgm", "certificate", "{cert}")
modparam("tls_mgm", "private_key", "{key}")
route {{
    if (is_method("MESSAGE"))
        xlog("L_NOTICE", "browser over $pr via $(hdr(Via){{s.select,0, }}): $rb\\n");
    if (is_method("REGISTER")) {{
        if (!(proto == WS || proto == WSS)) {{ sl_send_reply("403", "WebSocket only"); exit; }}
        append_to_reply("Contact: $ct;expires=300\\r\\n");
    }}
    sl_send_reply("200", "OK");
}}
"""

PAGE = """<!doctype html><html><head><script src="jssip.bundle.js"></script></head><body><script>
const url = new URLSearchParams(location.search).get("ws");
const ua = new JsSIP.UA({sockets: [new JsSIP.WebSocketInterface(url)], uri: "sip:alice@127.0.0.1",
                         register: true, register_expires: 300});
ua.on("registered", () => ua.sendMessage("sip:probe@127.0.0.1", "jssip-registered " + url));
ua.start();
</script></body></html>
"""


@pytest.fixture(scope="module")
def browser_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, int], Path, Path]]:
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed (run scripts/setup)")
    bundle = ensure_bundle()  # the pinned JsSIP of the end-to-end test
    base = tmp_path_factory.mktemp("browser")
    shutil.copy(bundle, base / "jssip.bundle.js")
    (base / "page.html").write_text(PAGE)
    cert, key = make_dev_certificate(base / "certs")
    ports = {"ws": free_port(), "wss": free_port()}
    with serving(base / "browser.cfg", CFG.format(cert=cert, key=key, **ports),
                 ports.values()) as (_, log_path):
        yield ports, log_path, base


@pytest.mark.parametrize("proto", ["ws", "wss"])
def test_jssip_registers_and_sends_message(browser_server: tuple[dict[str, int], Path, Path],
                                           proto: str) -> None:
    ports, log_path, base = browser_server
    url = f"{proto}://{LOCAL}:{ports[proto]}"
    profile = base / f"profile-{proto}"
    with (base / f"chromium-{proto}.log").open("wb") as out:
        chromium = subprocess.Popen(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"file://{base}/page.html?ws={url}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    expected = f"browser over {proto} via SIP/2.0/{proto.upper()}: jssip-registered {url}"
    try:
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline and expected not in log_path.read_text():
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(chromium.pid, signal.SIGKILL)
        chromium.wait(10)
    assert expected in log_path.read_text(), log_path.read_text()[-3000:]
