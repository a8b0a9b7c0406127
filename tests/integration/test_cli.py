"""`pysips -c` and friends as a user runs them: a subprocess, exit status, messages on stderr."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.proxy_harness import free_port

ROOT = Path(__file__).resolve().parents[2]
TEST_MODULES = ROOT / "tests" / "data" / "modules"


def pysips(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "pysips", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.cfg"
    path.write_text(
        'debug=2\nlisten=udp:127.0.0.1:5060\nloadmodule "maxfwd.so"\nloadmodule "cfgutils.so"\n'
        'route {\n  if (!mf_process_maxfwd_header("10")) { xlog("L_ERR", "too many hops $ci\\n"); exit; }\n'
        "  setflag(SRC_WS);\n  route(r);\n}\nroute[r] { return; }\n"
    )
    return path


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    path = tmp_path / "bad.cfg"
    path.write_text(
        'loadmodule "maxfwd.so"\nloadmodule "nosuch.so"\nroute {\n  nosuch_fn();\n'
        "  mf_process_maxfwd_header();\n"
        "  route(missing);\n}\n"
    )
    return path


def test_check_good_script(good: Path) -> None:
    result = pysips("-c", "-f", str(good))
    assert result.returncode == 0, result.stderr
    assert "configuration ok" in result.stderr


def test_check_bad_script_lists_every_problem(bad: Path) -> None:
    result = pysips("-c", "-f", str(bad))
    assert result.returncode == 1
    err = result.stderr
    assert f"{bad}:2:1: unknown module 'nosuch'" in err
    assert f"{bad}:4:3: unknown function nosuch_fn()" in err
    assert f"{bad}:5:3: function mf_process_maxfwd_header() takes 1 argument (0 given)" in err
    assert f"{bad}:6:3: unknown route 'missing'" in err
    assert "porting report:" in err and "missing modules (1): nosuch" in err
    assert "4 error(s)" in err


def test_syntax_only_skips_module_resolution(bad: Path) -> None:
    result = pysips("-c", "--syntax-only", "-f", str(bad))
    assert result.returncode == 0, result.stderr


def test_syntax_error_has_position(tmp_path: Path) -> None:
    path = tmp_path / "syntax.cfg"
    path.write_text("route {\n  if ($ru == ) { exit; }\n}\n")
    result = pysips("-c", "-f", str(path))
    assert result.returncode == 1
    assert f"{path}:2:" in result.stderr


def test_run_serves_until_sigterm(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "serve.cfg"
    path.write_text(
        f'socket=udp:127.0.0.1:{port}\nloadmodule "sl.so"\nloadmodule "proto_udp.so"\n'
        'route { sl_send_reply(200, "Served by $rm"); exit; }\n'
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pysips", "-f", str(path)],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    request = (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bKcli1\r\n"
        "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\n"
        "Call-ID: cli-run-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.bind(("127.0.0.1", 0))
            client.settimeout(0.5)
            answer = b""
            deadline = time.monotonic() + 20
            while not answer and time.monotonic() < deadline and proc.poll() is None:
                client.sendto(request, ("127.0.0.1", port))
                try:
                    answer = client.recv(65535)
                except TimeoutError:
                    continue
        assert answer.startswith(b"SIP/2.0 200 Served by OPTIONS\r\n"), answer
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert f"listening on udp:127.0.0.1:{port}" in stderr


def test_mpath_option_and_version(tmp_path: Path) -> None:
    path = tmp_path / "t.cfg"
    path.write_text('loadmodule "testmod.so"\nroute { t_int(1); }\n')
    assert pysips("-c", "-f", str(path)).returncode == 1
    assert pysips("-c", "--mpath", str(TEST_MODULES), "-f", str(path)).returncode == 0
    version = pysips("-V")
    assert version.returncode == 0 and "pysips" in version.stdout


def test_modules_listing_and_markdown() -> None:
    listing = pysips("modules")
    assert listing.returncode == 0 and "mf_process_maxfwd_header(limit: integer)" in listing.stdout
    markdown = pysips("modules", "--markdown")
    assert markdown.returncode == 0 and markdown.stdout.startswith("# pysips modules")
    assert "## maxfwd" in markdown.stdout and "| `max_limit` |" in markdown.stdout
    assert "- `tel2sip()`: `sipmsgops`'s `ruri_tel2sip()`" in markdown.stdout


def test_check_names_the_opensips_module_of_an_unknown_function(tmp_path: Path) -> None:
    path = tmp_path / "old.cfg"
    path.write_text(
        'loadmodule "textops.so"\nroute {\n  if (is_method("INVITE")) rtpproxy_offer();\n'
        "  rtpproxy_offer();\n}\n"
    )
    result = pysips("-c", "-f", str(path))
    assert result.returncode == 1
    err = result.stderr
    # is_method() of 1.x textops is answered by sipmsgops's; rtpproxy_offer() is rtpproxy's
    assert "is_method" not in err
    assert (
        f"{path}:3:28: unknown function rtpproxy_offer(): provided by OpenSIPS module 'rtpproxy', "
        "which pysips does not have yet"
    ) in err
    assert f"rtpproxy_offer() used 2x, first at {path}:3:28, OpenSIPS module 'rtpproxy'" in err


def test_docs_modules_md_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "modules.md").read_text()
    assert "## maxfwd" in committed and "## core" in committed and "## cfgutils" in committed
