"""A call limit with dialog profiles under worker processes (udp_workers=4), on pysips and on
the reference OpenSIPS 3.6 with the same script and the same traffic.

OpenSIPS keeps profiles in shared memory: get_profile_size() counts the dialogs of every
process, and a call-limit script refuses the call that goes over the limit whichever process
handles it. Each INVITE here has its own Call-ID, so they are spread over the workers; the
limit (3 calls in progress) must hold across them, and a call that ends in one worker frees
its place for a call handled by another. A refused call's dialog (created, then answered
statelessly: no transaction) is gone when its request's processing ends, as OpenSIPS's is, and
counts as failed in the dialog statistics of both.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.differential.reference import running
from tests.differential.sipua import Dialog, Endpoint, Message, Transcript, call_callee, reply_to
from tests.integration.proxy_harness import LOCALHOST, free_port, mi_datagram

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LIMIT = 3

SCRIPT = """\
log_level=3
stderror_enabled=yes
syslog_enabled=no
udp_workers=4
socket=udp:127.0.0.1:@@PORT@@
mpath="@@MPATH@@"
loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
modparam("tm", "fr_timeout", 30)
modparam("tm", "fr_inv_timeout", 60)
loadmodule "rr.so"
loadmodule "sipmsgops.so"
loadmodule "dialog.so"
modparam("dialog", "profiles_no_value", "calls")
loadmodule "mi_datagram.so"
modparam("mi_datagram", "socket_name", "udp:127.0.0.1:@@MI_PORT@@")

route {
    if (is_method("OPTIONS")) { sl_send_reply(200, "OK"); exit; }
    if (has_totag()) {
        if (loose_route()) t_relay();
        exit;
    }
    if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
    create_dialog();
    set_dlg_profile("calls");
    get_profile_size("calls", , $var(calls));
    xlog("L_NOTICE", "limit worker $pp call $ci calls $var(calls)\\n");
    if ($var(calls) > @@LIMIT@@) {
        send_reply(486, "Busy Here");
        exit;
    }
    record_route();
    $du = "sip:127.0.0.1:@@CALLEE@@";
    t_relay();
}
"""

LINE = re.compile(r"limit worker (\d+) call (\S+) calls (\d+)")


def first_reply(caller: Endpoint) -> Message:
    got = caller.recv(timeout=10)
    assert got is not None and not got.is_request
    return got


def call(port: int, transcript: Transcript, i: int) -> tuple[Endpoint, Dialog, str, int]:
    """One INVITE from a caller of its own; (caller, dialog, INVITE sent, first reply's status)."""
    dialog, invite = call_callee(transcript, f"caller{i}", f"limit-{i}-{time.monotonic_ns()}", port)
    return dialog.local, dialog, invite, first_reply(dialog.local).status


@pytest.mark.parametrize("server", ["pysips", "opensips"])
def test_call_limit_holds_across_workers(tmp_path: Path, server: str) -> None:
    transcript = Transcript()
    callee = Endpoint("callee", transcript)
    callers: list[Endpoint] = []
    mi_port = free_port()
    values = {"CALLEE": callee.port, "LIMIT": LIMIT, "MI_PORT": mi_port}
    with running(server, SCRIPT, tmp_path / server, values=values, header_params=False) as proxy:
        try:
            statuses = []
            relayed: list[Message] = []
            for i in range(8):  # one after the other: each sees the calls before it
                caller, _dialog, _invite, status = call(proxy.port, transcript, i)
                callers.append(caller)
                statuses.append(status)
                if status == 100:
                    got = callee.recv_request("INVITE", timeout=5)
                    assert got is not None, proxy.tail()
                    relayed.append(got)
            assert statuses == [100] * LIMIT + [486] * (8 - LIMIT), (statuses, proxy.tail())

            # the first call ends (the callee refuses it): its place is free for the next call,
            # whichever worker handled either
            callee.send(reply_to(relayed[0], 486, "Busy Here", to_tag="busy"), (LOCALHOST, proxy.port))
            refused = callers[0].recv_final(timeout=5)
            assert refused is not None and refused.status == 486
            time.sleep(0.3)  # the end of the dialog reaches the other workers
            caller, _dialog, _invite, status = call(proxy.port, transcript, 100)
            callers.append(caller)
            assert status == 100, proxy.tail()
            caller, _dialog, _invite, status = call(proxy.port, transcript, 101)
            callers.append(caller)
            assert status == 486, proxy.tail()

            workers = {pid for pid, _callid, _n in LINE.findall(proxy.log_text())}
            assert len(workers) >= 2, f"the calls all went to one worker: {workers}"

            # 10 dialogs made; 6 refused by the script and 1 by the callee failed; 3 still wait
            stats = mi_datagram(mi_port, "get_statistics", {"statistics": ["dialog:"]})
            assert (stats["dialog:processed_dialogs"], stats["dialog:failed_dialogs"]) == (10, 7), stats
        finally:
            for caller in callers:
                caller.close()
            callee.close()
