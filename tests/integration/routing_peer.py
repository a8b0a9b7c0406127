"""A UDP peer for the routing modules' tests: a destination that records every request it gets
(method, Call-ID, top Via branch), answers INVITEs with a set code (503 by default; None: it
swallows them, a destination that is down) and OPTIONS with 200 only while `answer_options` is
set (a silent destination otherwise)."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

from tests.differential.sipua import Message, reply_to


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    call_id: str
    branch: str


class RoutingPeer:
    def __init__(self, invite_code: int | None = 503) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.uri = f"sip:127.0.0.1:{self.port}"
        self.invite_code = invite_code
        self.answer_options = False
        self.received: list[Received] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            msg = Message.parse(data)
            if not msg.is_request:
                continue
            via = msg.header("Via")
            branch = via.split("branch=", 1)[1].split(";", 1)[0] if "branch=" in via else ""
            self.received.append(Received(msg.method, msg.header("Call-ID"), branch))
            if msg.method == "OPTIONS" and self.answer_options:
                self.sock.sendto(reply_to(msg, 200, "OK", to_tag="up").encode(), peer)
            elif msg.method == "INVITE" and self.invite_code is not None:
                self.sock.sendto(reply_to(msg, self.invite_code, "Down", to_tag="down").encode(), peer)

    def calls(self, method: str) -> set[str]:
        """The Call-IDs of the `method` requests received (a retransmission counts once)."""
        return {r.call_id for r in list(self.received) if r.method == method}

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()
