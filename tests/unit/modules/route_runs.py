"""Running a script's main route once, in a fresh process with its modules initialised: for the
unit tests of modules whose functions are easiest to drive from script text."""

from __future__ import annotations

from pysips.script.compile import load_script
from pysips.script.context import MsgContext, ProcessState
from pysips.script.parse import parse_text
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.receive import ReceiveInfo


def run_main_route(head: str, body: str, message: str | None = None) -> MsgContext:
    """`head` (listen, loadmodule and modparam lines) and `route { body }`, run on `message`
    (a request received over UDP from 10.0.0.2) or on no message; the context it left."""
    loaded = load_script(parse_text(head + "route {\n" + body + "\n}\n", "t.cfg"))
    process = ProcessState()
    loaded.init_modules(process)
    if message is None:
        ctx = MsgContext(process)
    else:
        msg = parse_message(message.encode())
        assert isinstance(msg, SipMessage)
        ctx = MsgContext(process, msg, ReceiveInfo("udp", "127.0.0.1", 5060, "10.0.0.2", 5060))
    route = loaded.main_route
    assert route is not None
    loaded.run(route, ctx)
    return ctx
