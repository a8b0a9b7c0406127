"""`uri == myself` on a server that does not listen on 5060, over real sockets (issue 11).

The seed's routing relays every request whose R-URI is not `myself`. Browsers register to
`sip:DOMAIN` with no port; OpenSIPS 3.x (`is_myself("$rd")`) takes that as ours whatever port we
listen on, 1.x/2.x read it as 5060. Here pysips listens on a random port: a portless REGISTER must
be saved (200 OK listing the binding), and a portless INVITE must reach the registered phone
through lookup(), not be relayed to 127.0.0.1:5060.
"""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.integration.proxy_harness import LOCALHOST, Rig, pysips_argv, render_template

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SCRIPT = """\
log_level=@@LOG_LEVEL@@
stderror_enabled=yes
syslog_enabled=no
auto_aliases=no
socket=udp:127.0.0.1:@@PROXY_PORT@@

loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "sipmsgops.so"
loadmodule "tm.so"
modparam("tm", "fr_timeout", @@FR_TIMEOUT@@)
loadmodule "usrloc.so"
loadmodule "registrar.so"

route{
	if (!is_method("REGISTER")) {
		if (from_uri!=myself) {
			if (!uri==myself) {
				send_reply(403, "Relay forbidden");
				exit;
			}
		}
	}
	if (!uri==myself) {
		append_hf("P-hint: outbound\\r\\n");
		t_relay();
		exit;
	}
	if (is_method("REGISTER")) {
		if (!save("location"))
			sl_reply_error();
		exit;
	}
	if (!lookup("location")) {
		send_reply(404, "Not Found");
		exit;
	}
	t_relay();
}
"""


class Phone:
    """A UDP user agent on 127.0.0.1 whose requests carry no port in their URIs, as JsSIP's do."""

    def __init__(self, proxy_port: int) -> None:
        self.proxy_port = proxy_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCALHOST, 0))
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def send(self, method: str, ruri: str, user: str, to: str, extra: list[str]) -> str:
        callid = f"{uuid.uuid4().hex[:12]}@{LOCALHOST}"
        lines = [
            f"{method} {ruri} SIP/2.0",
            f"Via: SIP/2.0/UDP {LOCALHOST}:{self.port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
            f"From: <sip:{user}@{LOCALHOST}>;tag={uuid.uuid4().hex[:8]}",
            f"To: <{to}>",
            f"Call-ID: {callid}",
            f"CSeq: 1 {method}",
            "Max-Forwards: 70",
            *extra,
            "Content-Length: 0",
            "",
            "",
        ]
        self.sock.sendto("\r\n".join(lines).encode(), (LOCALHOST, self.proxy_port))
        return callid

    def receive(self, callid: str, timeout: float = 3.0) -> str:
        """The first message of this Call-ID that is a request or a final reply."""
        self.sock.settimeout(timeout)
        while True:
            text = self.sock.recv(65535).decode("utf-8", "replace")
            first = text.split("\r\n", 1)[0]
            if callid in text and not first.startswith("SIP/2.0 1"):
                return text


def test_portless_register_is_saved_and_portless_invite_is_delivered(rig: Rig) -> None:
    assert rig.ports.proxy != 5060
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template = rig.workdir / "myself.cfg.in"
    template.write_text(SCRIPT)
    cfg = render_template(template, rig.ports.template_values(), rig.workdir / "myself.cfg")
    rig.start_proxy("pysips", pysips_argv(cfg))
    alice, caller = Phone(rig.ports.proxy), Phone(rig.ports.proxy)
    try:
        contact = f"sip:alice@{LOCALHOST}:{alice.port}"
        callid = alice.send(
            "REGISTER", f"sip:{LOCALHOST}", "alice", f"sip:alice@{LOCALHOST}",
            [f"Contact: <{contact}>", "Expires: 60"],
        )
        reply = alice.receive(callid)
        assert reply.startswith("SIP/2.0 200"), reply + rig.report()
        assert f"<{contact}>;expires=60" in reply, reply

        callid = caller.send(
            "INVITE", f"sip:alice@{LOCALHOST}", "caller", f"sip:alice@{LOCALHOST}",
            [f"Contact: <sip:caller@{LOCALHOST}:{caller.port}>"],
        )
        delivered = alice.receive(callid)
        assert delivered.startswith(f"INVITE {contact} SIP/2.0"), delivered + rig.report()
        assert "P-hint" not in delivered, delivered
    finally:
        alice.close()
        caller.close()

