"""The 1.x/2.x -> 3.x rewrite table: OpenSIPS 3.6 accepts what it produces, and the docs list it."""

from __future__ import annotations

import itertools
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pysips.devcert import make_dev_certificate
from tests.differential.dialect import RULES, markdown_table, to_opensips_3
from tests.differential.reference import (
    LOCALHOST,
    REPO_ROOT,
    SERVER_NAMES,
    _checkout_env,
    check_opensips_script,
    opensips_modules_dir,
    running,
)
from tests.integration.e2e.stack import SipPorts, render_config
from tests.integration.proxy_harness import free_port

pytestmark = pytest.mark.integration

SEED = REPO_ROOT / "tests" / "data" / "seed-residential.cfg"


def _with_reference_mpath(script: str) -> str:
    return script.replace('mpath="/usr/local/lib/opensips/modules/"', f'mpath="{opensips_modules_dir()}/"')


def test_opensips_refuses_the_seed_as_written(tmp_path: Path) -> None:
    """The seed script uses 1.x/2.x spellings: OpenSIPS 3.6 does not load it unchanged."""
    code, output = check_opensips_script(_with_reference_mpath(SEED.read_text()), tmp_path)
    assert code != 0, output


def test_opensips_accepts_the_rewritten_seed(tmp_path: Path) -> None:
    code, output = check_opensips_script(_with_reference_mpath(to_opensips_3(SEED.read_text())), tmp_path)
    assert code == 0, output


def test_rewrite_examples() -> None:
    script = (
        "debug=3\nchildren=4\nfork=yes\nlisten=udp:127.0.0.1:5060\n"
        'loadmodule "uri.so"\nmodparam("uri", "use_uri_table", 0)\n'
        'route { if (!uri==myself && from_uri!=myself) sl_send_reply("404", "x"); '
        'if (method=="INVITE" && proto == WS) setflag(NAT); xlog("$pr $Rp"); }\n'
    )
    assert to_opensips_3(script) == (
        "log_level=3\nudp_workers=4\n\nlisten=udp:127.0.0.1:5060\n\n\n"
        'route { if (!is_myself("$rd") && !is_myself("$fd")) sl_send_reply(404, "x"); '
        'if ($rm=="INVITE" && $socket_in(proto) == "WS") setflag("NAT"); '
        'xlog("$socket_in(proto) $socket_in(port)"); }\n'
    )


def test_compatibility_page_lists_every_rule() -> None:
    page = (REPO_ROOT / "docs" / "compatibility.md").read_text()
    assert markdown_table() in page
    assert len(RULES) >= 10


# ------------------------------------------------------------------ the example, started on both

_EXAMPLE = REPO_ROOT / "examples" / "residential.cfg"


def _example_template(workdir: Path) -> tuple[str, int]:
    """examples/residential.cfg with free listeners, a dev certificate, stderr logging and the
    module path as a placeholder: the UDP port is returned."""
    cert, key = make_dev_certificate(workdir / "certs")
    ports = SipPorts(udp=free_port(), tls=free_port(), ws=free_port(), wss=free_port())
    # no daemon on this port: the requests below carry no SDP, rtpengine is never asked
    text = render_config(_EXAMPLE, ports, f"udp:127.0.0.1:{free_port()}", cert, key, workdir / "fifo")
    text = text.replace("log_stderror=no", "log_stderror=yes")
    text = text.replace('mpath="/usr/local/lib/opensips/modules/"', 'mpath="@@MPATH@@"')
    return text.replace("children=4", "children=1"), ports.udp


_SERIAL = itertools.count(1)


def _request(method: str, ruri: str, from_uri: str, sock: socket.socket, extra: str = "") -> bytes:
    host, port = sock.getsockname()
    tag = f"{method.lower()}{next(_SERIAL)}"  # each request a transaction of its own
    to_uri = from_uri if method == "REGISTER" else ruri
    return (f"{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{tag};rport\r\n"
            f"From: <{from_uri}>;tag={tag}\r\nTo: <{to_uri}>\r\nCall-ID: {tag}@dialect\r\n"
            f"CSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n").encode()


def _first_lines(sock: socket.socket, count: int) -> list[str]:
    lines = []
    for _ in range(count):
        lines.append(sock.recv(65535).split(b"\r\n", 1)[0].decode())
    return lines


def test_opensips_and_pysips_run_the_example_alike(tmp_path: Path) -> None:
    """OpenSIPS 3.6 *starts* on the 3.x form of examples/residential.cfg (`-C` alone missed two
    start-up failures: lookup()'s 2.x letter flags and tls_mgm without a TLS library), and both
    servers answer the same requests alike: a REGISTER saved, a call to it relayed with 100
    Trying, an unknown user 404, a relay attempt between foreign domains 403, no Max-Forwards
    left 483."""
    answers: dict[str, list[str]] = {}
    for name in SERVER_NAMES:
        template, port = _example_template(tmp_path / name)
        options: dict[str, Any] = {"port": port, "header_params": False}
        if name == "opensips":  # the 3.x form, as the rig gives OpenSIPS any older script
            template = to_opensips_3(template)
        with running(name, template, tmp_path / name, **options), \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
            phone.bind((LOCALHOST, 0))
            caller.bind((LOCALHOST, 0))
            phone.settimeout(5)
            caller.settimeout(5)
            proxy = f"sip:127.0.0.1:{port}"
            contact = f"Contact: <sip:alice@127.0.0.1:{phone.getsockname()[1]}>;expires=600\r\n"
            got = []
            register = _request("REGISTER", proxy, "sip:alice@127.0.0.1", phone, contact)
            phone.sendto(register, (LOCALHOST, port))
            got += _first_lines(phone, 1)
            caller.sendto(_request("INVITE", f"sip:alice@127.0.0.1:{port}", "sip:bob@127.0.0.1", caller),
                          (LOCALHOST, port))
            got += _first_lines(caller, 1) + _first_lines(phone, 1)
            for ruri, from_uri, extra in (
                (f"sip:nobody@127.0.0.1:{port}", "sip:bob@127.0.0.1", ""),
                ("sip:carol@example.net", "sip:mallory@example.com", ""),
                (f"sip:alice@127.0.0.1:{port}", "sip:bob@127.0.0.1", "Max-Forwards: 0\r\n"),
            ):
                data = _request("MESSAGE", ruri, from_uri, caller)
                if extra:
                    data = data.replace(b"Max-Forwards: 70\r\n", extra.encode())
                caller.sendto(data, (LOCALHOST, port))
                got += _first_lines(caller, 1)
            # the phone's port differs between the runs: the relayed INVITE's R-URI names it
            answers[name] = [line.replace(f":{phone.getsockname()[1]} ", ":PHONE ") for line in got]
    assert answers["pysips"] == answers["opensips"]
    assert [line.split(" ", 2)[:2] for line in answers["pysips"]] == [
        ["SIP/2.0", "200"], ["SIP/2.0", "100"], ["INVITE", "sip:alice@127.0.0.1:PHONE"], ["SIP/2.0", "404"],
        ["SIP/2.0", "403"], ["SIP/2.0", "483"]]


def test_pysips_check_names_the_two_start_up_failures() -> None:
    """`pysips -c` warns about both things OpenSIPS 3.6 does not start with (pysips runs them)."""
    done = subprocess.run([sys.executable, "-m", "pysips.cli", "-c", "-f", str(_EXAMPLE)],
                          capture_output=True, text=True, timeout=60, check=False, env=_checkout_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"residential\.cfg:\d+:\d+: warning: argument 2 of lookup\(\): flags 'm' are OpenSIPS "
                     r"2\.x letters.*'method-filtering'", done.stderr), done.stderr
    assert re.search(r"residential\.cfg:\d+:1: warning: module tls_mgm: OpenSIPS 3\.x does not start without "
                     r"one of tls_openssl, tls_wolfssl", done.stderr), done.stderr
