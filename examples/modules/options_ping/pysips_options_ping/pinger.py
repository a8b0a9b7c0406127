"""The module's runtime: one per process, kept in `process.modules["options_ping"]`."""

from __future__ import annotations

import logging

from pysips.core.services import TransactionService, UacReply, UacRequest

log = logging.getLogger("pysips.options_ping")


class Pinger:
    def __init__(self, tm: TransactionService, from_uri: str) -> None:
        self.tm = tm
        self.from_uri = from_uri or None  # None: tm writes sip:pysips@<sending socket>
        self.last: dict[str, UacReply] = {}  # the final answer of the last ping, by URI
        self.sent = 0
        self.answered = 0
        self.timeouts = 0

    def ping(self, uri: str) -> bool:
        def on_reply(reply: UacReply) -> None:
            if reply.code < 200:
                return  # provisional: wait for the final answer
            self.last[uri] = reply
            if reply.local and reply.code == 408:
                self.timeouts += 1
                log.warning("options_ping: %s did not answer", uri)
            else:
                self.answered += 1

        request = UacRequest("OPTIONS", uri, from_uri=self.from_uri, headers=("Accept: application/sdp",))
        if self.tm.send_request(request, on_reply) < 0:
            return False
        self.sent += 1
        return True
