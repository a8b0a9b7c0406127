"""The seed's script (examples/residential.cfg) as the reliability suite runs it.

The script is taken unchanged except for what ties it to one machine: its listeners move to free
ports (a TCP listener is added beside UDP, TLS, WS and WSS so every transport is tried), the
certificate is a fresh self-signed one, the FIFO lives in the test's directory and rtpengine points
at a port nobody answers (the relay checks never reach media).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pysips.devcert import make_dev_certificate
from tests.integration.proxy_harness import free_port
from tests.integration.test_transports import serving

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "residential.cfg"
PROTOS = ("udp", "tcp", "tls", "ws", "wss")


@dataclass
class SeedServer:
    proc: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int]
    cfg: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


def seed_script(base: Path, ports: dict[str, int], extra_globals: str = "") -> str:
    """The seed's text with this machine's ports, certificate and FIFO."""
    cert, key = make_dev_certificate(base / "certs")
    text = SEED.read_text()
    text = re.sub(r"(?m)^listen=.*\n", "", text)
    listens = "".join(f"listen={p}:127.0.0.1:{ports[p]}\n" for p in PROTOS)
    text = text.replace("# Set up listeners\n", "# Set up listeners\n" + listens + extra_globals, 1)
    udp_module = 'loadmodule "proto_udp.so"'
    text = text.replace(udp_module, udp_module + '\nloadmodule "proto_tcp.so"', 1)
    text = text.replace('"/tmp/opensips_fifo"', f'"{base / "fifo"}"')
    text = text.replace("udp:127.0.0.1:60000", f"udp:127.0.0.1:{ports['rtpengine']}")
    text = text.replace("../run/certs/cert.pem", str(cert)).replace("../run/certs/privkey.pem", str(key))
    text = text.replace("log_stderror=no", "log_stderror=yes")
    assert all(f"listen={p}:" in text for p in PROTOS) and str(cert) in text
    return text


@contextmanager
def run_seed(base: Path, extra_globals: str = "") -> Iterator[SeedServer]:
    ports = {name: free_port() for name in (*PROTOS, "rtpengine")}
    cfg = base / "seed.cfg"
    with serving(cfg, seed_script(base, ports, extra_globals),
                 [ports[name] for name in ("tcp", "tls", "ws", "wss")]) as (proc, log_path):
        yield SeedServer(proc, log_path, ports, cfg)
