"""The socket as one message shows it in Record-Route (set_advertised_address()/_port()).

OpenSIPS's order for the sending address in lumps: the socket's own advertised address, else the
message's set_advertised_address(), else the socket's address; the port likewise.
"""

from __future__ import annotations

from dataclasses import replace

from pysips.core.api import Socket
from pysips.script.context import ADV_ADDRESS_KEY, ADV_PORT_KEY, MsgContext


def advertised_socket(ctx: MsgContext, sock: Socket) -> Socket:
    host = ctx.extra.get(ADV_ADDRESS_KEY)
    port = ctx.extra.get(ADV_PORT_KEY)
    if host and sock.advertised_host is None:
        sock = replace(sock, advertised_host=host)
    if port and sock.advertised_port is None:
        sock = replace(sock, advertised_port=int(port))
    return sock
