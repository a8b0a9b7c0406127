"""A DNS server on 127.0.0.1 for the tests: dnslib's zone resolver over UDP, in a thread.

`DnsServer(zone_text)` serves the records of a zone file (one RR per line, absolute names);
`.address` is what `pysips --dns-server` takes; `.queries` lists the (name, type) asked, in order.
"""

from __future__ import annotations

import threading
from typing import Any

from dnslib import QTYPE
from dnslib.server import DNSServer
from dnslib.zoneresolver import ZoneResolver

from tests.integration.proxy_harness import LOCALHOST, free_port


class _Recording(ZoneResolver):  # type: ignore[misc]
    def __init__(self, zone: str, queries: list[tuple[str, str]]) -> None:
        super().__init__(zone, glob=False)
        self._queries = queries
        self._lock = threading.Lock()

    def resolve(self, request: Any, handler: Any) -> Any:
        with self._lock:
            self._queries.append((str(request.q.qname).rstrip("."), QTYPE[request.q.qtype]))
        return super().resolve(request, handler)


class _Quiet:
    """dnslib's logger prints every query; the tests read `queries` instead."""

    def log_recv(self, *args: Any) -> None: ...
    def log_send(self, *args: Any) -> None: ...
    def log_request(self, *args: Any) -> None: ...
    def log_reply(self, *args: Any) -> None: ...
    def log_truncated(self, *args: Any) -> None: ...
    def log_error(self, *args: Any) -> None: ...
    def log_data(self, *args: Any) -> None: ...


class DnsServer:
    def __init__(self, zone: str) -> None:
        self.port = free_port()
        self.queries: list[tuple[str, str]] = []
        self._server = DNSServer(_Recording(zone, self.queries), address=LOCALHOST, port=self.port,
                                 logger=_Quiet())
        self._server.start_thread()

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def close(self) -> None:
        self._server.stop()
        self._server.server.server_close()
