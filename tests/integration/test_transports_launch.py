"""Starts pysips for the transport tests: `python3 -m tests.integration.test_transports_launch -f CFG`.

When pysips.core.server already starts tcp/tls/ws/wss listeners itself, this is plain
`pysips.core.server.main`. Until then it routes those listeners to
pysips.transport.stream_listeners.start_stream_listener, which is exactly the edit the server
needs (see docs/transports.md, "Wiring"). No tests here; pytest collects nothing from this file.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from pysips.core import server
from pysips.transport.stream_listeners import STREAM_PROTOS, start_stream_listener


def _bridge() -> None:
    if STREAM_PROTOS <= server.IMPLEMENTED_PROTOS:
        return
    start_udp = server.start_udp_listener

    async def start_any(loop: asyncio.AbstractEventLoop, sock: Any, receive: Any,
                        reuse_port: bool = False) -> Any:
        if sock.proto == "udp":
            return await start_udp(loop, sock, receive, reuse_port)
        return await start_stream_listener(loop, sock, receive.__self__, reuse_port)

    server.IMPLEMENTED_PROTOS = server.IMPLEMENTED_PROTOS | STREAM_PROTOS
    server.start_udp_listener = start_any  # type: ignore[assignment]


if __name__ == "__main__":
    _bridge()
    sys.exit(server.main(sys.argv[1:]))
