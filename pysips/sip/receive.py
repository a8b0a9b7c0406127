"""What a transport knows about a received message, handed to the core beside the bytes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReceiveInfo:
    """Where a message came from and on which local socket it arrived.

    `proto` is lower case: udp, tcp, tls, ws, wss. `conn_id` is the connection table id for stream
    transports (0 for UDP), so replies and in-dialog requests can go back over that connection.
    """

    proto: str
    local_ip: str
    local_port: int
    src_ip: str
    src_port: int
    conn_id: int = 0
