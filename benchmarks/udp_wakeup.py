"""What a UDP sendto() costs the sender when the receiver sleeps, against when it is awake.

On a virtual machine, waking a process blocked in poll() on another CPU is most of a send's
cost. That is why a batch's sends are held and written together (pysips.transport.udp,
`UdpListener.hold`/`release`): the first datagram wakes the peer, the rest find it awake.

    python3 benchmarks/udp_wakeup.py

Prints the sender's CPU time per sendto() (time.process_time) for datagrams sent back to back
(the receiver stays awake) and with a pause between them (it sleeps before each).
"""

from __future__ import annotations

import os
import select
import socket
import time

SENDS = 2000
PAYLOAD = b"x" * 600  # about a SIP request's size


def receiver_loop(sock: socket.socket) -> None:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    while True:
        poller.poll()
        if sock.recv(2000) == b"quit":
            os._exit(0)


def main() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    addr = receiver.getsockname()
    child = os.fork()
    if child == 0:
        receiver_loop(receiver)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    for gap in (0.0, 0.0005, 0.002):
        cpu = 0.0
        for _ in range(SENDS):
            started = time.process_time()
            sender.sendto(PAYLOAD, addr)
            cpu += time.process_time() - started
            if gap:
                time.sleep(gap)
        print(f"pause {gap * 1000:.1f} ms between sends: {cpu / SENDS * 1e6:.1f} us of CPU per sendto()")
    sender.sendto(b"quit", addr)
    os.waitpid(child, 0)


if __name__ == "__main__":
    main()
