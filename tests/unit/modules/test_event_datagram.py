"""event_datagram: raise_event() to a UDP and a UNIX datagram subscriber (real sockets)."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "script"))

from test_compile_support import HEADER, INVITE, calls, load, run

from pysips.script.context import ProcessState


def test_udp_and_unix_subscribers_get_json_rpc_notifications(tmp_path: Path) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(2)
    unix_path = str(tmp_path / "ev.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unix.bind(unix_path)
    unix.settimeout(2)
    port = udp.getsockname()[1]
    body = (
        f'if (!subscribe_event("E_CALL", "udp:127.0.0.1:{port}", 60)) t_rec("no udp");'
        f'if (!subscribe_event("E_CALL", "unix:{unix_path}")) t_rec("no unix");'
        'if (!subscribe_event("E_CALL", "udp:127.0.0.1")) t_rec("bad address refused");'
        '$avp(n) = "caller"; $avp(n) = "count";'
        '$avp(v) = $fU; $avp(v) = 3;'
        'raise_event("E_CALL", $avp(n), $avp(v));'
        'raise_event("E_CALL", , $avp(v));'
        't_rec("done");'
    )
    loaded = load("route {\n" + body + "\n}\n", header=HEADER + 'loadmodule "event_datagram.so"\n')
    process = ProcessState()
    loaded.init_modules(process)
    try:
        _, ctx = run(loaded, INVITE, process=process)
        assert [c[1] for c in calls(ctx)] == ["bad address refused", "done"]
        first = udp.recv(65535)
        assert first == b'{"jsonrpc":"2.0","method":"E_CALL","params":{"count":3,"caller":"alice"}}'
        assert json.loads(udp.recv(65535))["params"] == [3, "alice"]
        assert json.loads(unix.recv(65535))["params"] == {"count": 3, "caller": "alice"}
    finally:
        udp.close()
        unix.close()
        runtime = process.modules.get("event_datagram")
        if runtime is not None:
            runtime.udp.close()
            runtime.unix.close()
