"""exec() in a running server: a slow command suspends only its own message.

The script answers MESSAGE after exec() of a command that takes a second (its stdout and stderr
in reply headers) and OPTIONS at once. A MESSAGE followed by OPTIONS: every OPTIONS is answered
before the MESSAGE. The environment (an AVP's values as OSIPS_EXEC_n, the SIP_* variables with
setvars), stdin, and exec() under async() are checked through the replies too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pysips.sip.message import SipMessage
from tests.integration.inprocess import LOCALHOST, ReplyCollector, out_of_dialog, running_script
from tests.integration.proxy_harness import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = """
log_level=3
socket=udp:127.0.0.1:{port}
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "sipmsgops.so"
loadmodule "textops.so"
loadmodule "exec.so"
modparam("exec", "setvars", 1)

route {{
    if (is_method("OPTIONS")) {{
        sl_send_reply(200, "Quick");
        exit;
    }}
    if ($hdr(X-Case) == "slow") {{
        exec("sleep 1; echo slow; echo oops >&2", , $var(out), $var(err));
        append_to_reply("X-Out: $(var(out){{s.trim}})\\r\\nX-Err: $(var(err){{s.trim}})\\r\\n");
        sl_send_reply(200, "Slow");
        exit;
    }}
    if ($hdr(X-Case) == "env") {{
        $avp(env) = "first";
        $avp(env) = "second";
        $var(cmd) = "printf '%s|%s|%s|%s' \\"$$OSIPS_EXEC_0\\" \\"$$OSIPS_EXEC_1\\" ";
        exec("$var(cmd) \\"$$SIP_USER\\" \\"$$SIP_HF_X_CASE\\"", , $var(out), , $avp(env));
        append_to_reply("X-Out: $var(out)\\r\\n");
        sl_send_reply(200, "Env");
        exit;
    }}
    if ($hdr(X-Case) == "stdin") {{
        exec("tr a-z A-Z", "hello $rU", $var(out));
        append_to_reply("X-Out: $var(out)\\r\\n");
        sl_send_reply(200, "Stdin");
        exit;
    }}
    if ($hdr(X-Case) == "async") {{
        async(exec("sleep 0.2; echo later", , $avp(out)), resumed);
    }}
    sl_send_reply(500, "Unexpected");
}}

route[resumed] {{
    append_to_reply("X-Out: $(avp(out){{s.trim}}) rc=$rc\\r\\n");
    t_reply(200, "Resumed");
}}
"""


def request(method: str, port: int, local: int, case: str = "", user: str = "bob") -> bytes:
    return out_of_dialog(method, port, local, user, f"X-Case: {case}\r\n" if case else "")


def reason_of(msg: SipMessage) -> str:
    return str(msg.reason)


def test_exec_suspends_only_its_message(tmp_path: Path) -> None:
    asyncio.run(scenario(tmp_path))


async def scenario(tmp_path: Path) -> None:
    port = free_port()
    async with running_script(SCRIPT.format(port=port), tmp_path):
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(ReplyCollector, local_addr=(LOCALHOST, 0))
        local = transport.get_extra_info("sockname")[1]
        try:
            transport.sendto(request("MESSAGE", port, local, "slow"), (LOCALHOST, port))
            await asyncio.sleep(0.05)
            for _ in range(5):
                transport.sendto(request("OPTIONS", port, local), (LOCALHOST, port))
                await asyncio.sleep(0.02)
            await client.wait(6)
            reasons = [reason_of(m) for _, m in client.replies]
            assert reasons == ["Quick"] * 5 + ["Slow"], reasons
            slow = client.replies[-1][1]
            assert slow.header("x-out") == "slow" and slow.header("x-err") == "oops"

            client.replies.clear()
            for case in ("env", "stdin", "async"):
                transport.sendto(request("MESSAGE", port, local, case), (LOCALHOST, port))
                await client.wait(1)
                reply = client.replies.pop()[1]
                if case == "env":
                    assert reply.header("x-out") == "second|first|bob|env"
                elif case == "stdin":
                    assert reply.header("x-out") == "HELLO BOB"
                else:
                    assert reason_of(reply) == "Resumed" and reply.header("x-out") == "later rc=1"
        finally:
            transport.close()
