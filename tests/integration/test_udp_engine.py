"""The UDP engine as a process, driven by real sipp: sl answers, maxfwd's 483, bursts, startup errors.

The server is started as `python3 -m pysips.core.server -f FILE` (the entry `pysips -f` uses).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.proxy_harness import LOCALHOST, REPO_ROOT, Rig, options_probe

pytestmark = pytest.mark.integration

CFG = """
log_level=2
listen=udp:127.0.0.1:@@PROXY_PORT@@
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "proto_udp.so"
modparam("proto_udp", "udp_workers", 2)
route{
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483","Too Many Hops");
        exit;
    }
    if ($rm == "OPTIONS") {
        sl_send_reply(200, "OK");
        exit;
    }
    sl_send_reply("404", "Not here");
}
"""

OPTIONS_UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="options answered by the proxy">
  <send retrans="500">
    <![CDATA[
      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:probe@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


def server_argv(cfg: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pysips.core.server", "-f", str(cfg), *extra]


@pytest.fixture
def pysips_env(monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT))


@pytest.fixture
def running(rig: Rig, pysips_env: None) -> Iterator[Rig]:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    cfg = rig.workdir / "udp.cfg"
    cfg.write_text(CFG.replace("@@PROXY_PORT@@", str(rig.ports.proxy)))
    (rig.workdir / "uac_options.xml").write_text(OPTIONS_UAC)
    rig.start_proxy("pysips", server_argv(cfg))
    yield rig


def test_options_answered_by_sl(running: Rig) -> None:
    assert options_probe(running.ports.proxy, timeout=2.0) == "SIP/2.0 200 OK"
    result = running.run_uac(str(running.workdir / "uac_options.xml"), calls=5, rate=50, timeout_s=10)
    assert result.ok and result.successful == 5, running.report(result)


def test_max_forwards_zero_gets_483(running: Rig) -> None:
    result = running.run_uac("uac_maxfwd0.xml", timeout_s=10)
    assert result.ok and result.successful == 1, running.report(result)


def test_thousand_options_without_loss(running: Rig) -> None:
    # -nr: no retransmissions, so a single lost request or reply fails its call
    result = running.run_uac(str(running.workdir / "uac_options.xml"), calls=1000, rate=500, timeout_s=30,
                             extra=("-nr", "-l", "200"))
    assert result.ok and result.successful == 1000 and result.failed == 0, running.report(result)
    assert running.proxy is not None and running.proxy.alive()


def test_sigterm_stops_cleanly(running: Rig) -> None:
    proxy = running.proxy
    assert proxy is not None and proxy.proc is not None
    proxy.proc.terminate()
    assert proxy.proc.wait(timeout=5) == 0
    assert "stopping" in proxy.log()


def test_unimplemented_listener_is_a_clear_startup_error(tmp_path: Path, pysips_env: None) -> None:
    cfg = tmp_path / "sctp.cfg"
    cfg.write_text(
        'listen=sctp:127.0.0.1:18080\nlisten=udp:127.0.0.1:0\nloadmodule "sl.so"\nroute{ exit; }\n'
    )
    done = subprocess.run(server_argv(cfg), capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode != 0
    assert "sctp:127.0.0.1:18080" in done.stderr and "not implemented" in done.stderr


def test_skip_unimplemented_listeners_flag(rig: Rig, pysips_env: None) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    cfg = rig.workdir / "mixed.cfg"
    cfg.write_text(f"listen=sctp:{LOCALHOST}:18081\n" + CFG.replace("@@PROXY_PORT@@", str(rig.ports.proxy)))
    proxy = rig.start_proxy("pysips", server_argv(cfg, "--skip-unimplemented-listeners"))
    assert options_probe(rig.ports.proxy, timeout=2.0) == "SIP/2.0 200 OK"
    assert "skipped" in proxy.log()
