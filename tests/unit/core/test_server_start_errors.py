"""A module whose init fails (here httpd on a port already taken) stops the start with one clear
line and exit status 1, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_busy_httpd_port_is_a_clean_start_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            sip_port = probe.getsockname()[1]
        cfg = tmp_path / "busy.cfg"
        cfg.write_text(
            f"socket=udp:127.0.0.1:{sip_port}\n"
            'loadmodule "httpd.so"\n'
            f'modparam("httpd", "port", {port})\n'
            "route { exit; }\n"
        )
        done = subprocess.run(
            [sys.executable, "-m", "pysips", "-F", "-E", "-f", str(cfg)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"pysips: httpd: cannot listen on 127.0.0.1:{port}" in done.stderr
