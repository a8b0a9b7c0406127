"""The MI answers of dispatcher, load_balancer and drouting against OpenSIPS 3.6.8: both servers
load the same tables (one SQLite file) and answer the same JSON-RPC commands over mi_http, before
and after state changes made through MI; the answers must be equal."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.differential.reference import start_server
from tests.integration.proxy_harness import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SCRIPT = """
log_level=3
stderror_enabled=yes
syslog_enabled=no
udp_workers=1
socket=udp:127.0.0.1:@@PORT@@
loadmodule "proto_udp.so"
mpath="@@MPATH@@"

loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "dialog.so"
loadmodule "db_sqlite.so"
loadmodule "httpd.so"
loadmodule "mi_http.so"
modparam("httpd", "ip", "127.0.0.1")
modparam("httpd", "port", @@HTTP@@)
loadmodule "dispatcher.so"
modparam("dispatcher", "db_url", "sqlite://@@DB@@")
loadmodule "load_balancer.so"
modparam("load_balancer", "db_url", "sqlite://@@DB@@")
modparam("load_balancer", "probing_interval", 0)
loadmodule "drouting.so"
modparam("drouting", "db_url", "sqlite://@@DB@@")
modparam("drouting", "probing_interval", 0)

route {
    sl_send_reply(200, "OK");
}
"""

COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("ds_list", {}),
    ("ds_list", {"full": 1}),
    ("ds_set_state", {"state": "i", "group": "2", "address": "sip:10.0.1.2:5060"}),
    ("ds_set_state", {"state": "p", "group": "1", "address": "sip:user@10.0.0.1"}),
    ("ds_set_state", {"state": "a", "group": "9", "address": "sip:10.0.1.2:5060"}),
    ("ds_list", {"full": 1}),
    ("ds_reload", {}),
    ("ds_list", {}),
    ("lb_list", {}),
    ("lb_status", {"destination_id": 2}),
    ("lb_status", {"destination_id": 2, "new_status": 0}),
    ("lb_status", {"destination_id": 2}),
    ("lb_status", {"destination_id": 77}),
    ("lb_resize", {"destination_id": 1, "res_name": "pstn", "new_capacity": 9}),
    ("lb_list", {}),
    ("dr_gw_status", {}),
    ("dr_gw_status", {"gw_id": "gw2"}),
    ("dr_gw_status", {"gw_id": "gw2", "status": 0}),
    ("dr_gw_status", {"gw_id": "gw2"}),
    ("dr_gw_status", {"gw_id": "nope"}),
    ("dr_carrier_status", {}),
    ("dr_carrier_status", {"carrier_id": "cr1", "status": 0}),
    ("dr_carrier_status", {"carrier_id": "cr1"}),
    ("dr_gw_status", {}),
]


def _db(path: Any) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pysips",
            "db",
            "create",
            "-m",
            "dispatcher",
            "-m",
            "load_balancer",
            "-m",
            "drouting",
            f"sqlite://{path}",
        ],
        check=True,
        capture_output=True,
    )
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO dispatcher (setid, destination, weight, priority, attrs, description, state)"
            " VALUES (?,?,?,?,?,?,?)",
            [
                (1, "sip:user@10.0.0.1", "2", 1, "a=1", "first", 0),
                (1, "sip:10.0.0.2:5070", "1", 0, None, None, 1),
                (2, "sip:10.0.1.1", "1", 0, None, None, 0),
                (2, "sip:10.0.1.2:5060", "3", 0, "x", None, 2),
            ],
        )
        conn.executemany(
            "INSERT INTO load_balancer (id, group_id, dst_uri, resources, probe_mode, attrs)"
            " VALUES (?,?,?,?,?,?)",
            [
                (1, 1, "sip:10.0.2.1", "pstn=10;vm=2", 1, "lb=1"),
                (2, 1, "sip:10.0.2.2:5080", "pstn=5", 2, None),
            ],
        )
        conn.executemany(
            "INSERT INTO dr_gateways (gwid, type, address, strip, pri_prefix, attrs, probe_mode, state)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [
                ("gw1", 1, "10.0.3.1:5060", 0, None, "g=1", 0, 0),
                ("gw2", 1, "sip:10.0.3.2", 1, "00", None, 1, 0),
                ("gw3", 2, "10.0.3.3", 0, None, None, 0, 2),
            ],
        )
        conn.executemany(
            "INSERT INTO dr_carriers (carrierid, gwlist, flags, attrs, state) VALUES (?,?,?,?,?)",
            [("cr1", "gw1,gw2", 0, "c=1", 0), ("cr2", "gw3", 1, None, 1)],
        )


def _call(port: int, method: str, params: dict[str, Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/mi", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        reply = json.loads(answer.read())
    return reply.get("result", reply.get("error"))


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[Any]]]:
    results: dict[str, list[Any]] = {}
    for name in ("opensips", "pysips"):
        workdir = tmp_path_factory.mktemp(f"routing-mi-{name}")
        db = workdir / "routing.db"
        _db(db)
        port, http = free_port(), free_port()
        server = start_server(
            name,
            SCRIPT,
            workdir,
            port=port,
            values={"HTTP": http, "DB": db},
            header_params=False,
            ready_ports=[("udp", port), ("tcp", http)],
        )
        try:
            results[name] = [_call(http, method, params) for method, params in COMMANDS]
        finally:
            server.stop()
    yield results


def test_reference_answered(answers: dict[str, list[Any]]) -> None:
    first = answers["opensips"][0]
    assert isinstance(first, dict) and first["PARTITIONS"][0]["SETS"], first


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=[f"{i}-{c[0]}" for i, c in enumerate(COMMANDS)])
def test_same_answer(answers: dict[str, list[Any]], index: int) -> None:
    assert answers["pysips"][index] == answers["opensips"][index], COMMANDS[index]
