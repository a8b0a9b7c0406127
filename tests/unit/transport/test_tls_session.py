"""TlsSession (sans-I/O TLS over memory BIOs): handshake, data both ways, garbage, close_notify."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from pysips.devcert import make_dev_certificate
from pysips.transport.tls_session import TlsFailed, TlsSession


def contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = make_dev_certificate(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert)
    client.check_hostname = False
    return server, client


def pair(tmp_path: Path) -> tuple[TlsSession, TlsSession]:
    server_ctx, client_ctx = contexts(tmp_path)
    server, client = TlsSession(server_ctx, True), TlsSession(client_ctx, False)
    to_server = client.start()
    for _ in range(5):
        plain, to_client, _ = server.receive(to_server)
        assert plain == b""
        if not to_client:
            break
        plain, to_server, _ = client.receive(to_client)
    assert server.handshaken and client.handshaken
    return server, client


def test_handshake_and_data_both_ways(tmp_path: Path) -> None:
    server, client = pair(tmp_path)
    plain, out, _ = server.receive(client.encrypt(b"OPTIONS sip:x SIP/2.0\r\n\r\n"))
    assert plain == b"OPTIONS sip:x SIP/2.0\r\n\r\n" and out == b""
    record = server.encrypt(b"SIP/2.0 200 OK\r\n\r\n")
    got = b""
    for i in range(len(record)):  # byte by byte: records reassemble across reads
        got += client.receive(record[i : i + 1])[0]
    assert got == b"SIP/2.0 200 OK\r\n\r\n"
    assert server.ssl_object.version() in ("TLSv1.2", "TLSv1.3")


def test_garbage_fails_the_handshake(tmp_path: Path) -> None:
    server_ctx, _ = contexts(tmp_path)
    server = TlsSession(server_ctx, True)
    with pytest.raises(TlsFailed):
        server.receive(b"OPTIONS sip:x SIP/2.0\r\n\r\n" + bytes(range(256)))


def test_close_notify_is_seen_by_the_peer(tmp_path: Path) -> None:
    server, client = pair(tmp_path)
    alert = client.close_notify()
    assert alert
    server.receive(alert)
    assert server.closed


def test_in_record_follows_record_boundaries(tmp_path: Path) -> None:
    """A record fed a byte at a time is "in progress" until its last byte (tcp_max_msg_time
    relies on it: no plaintext comes out before then)."""
    server, client = pair(tmp_path)
    assert not server.in_record
    records = client.encrypt(b"one") + client.encrypt(b"two")
    first_len = 5 + int.from_bytes(records[3:5], "big")
    plain = b""
    for i in range(len(records)):
        got, _, _ = server.receive(records[i : i + 1])
        plain += got
        done = i + 1 in (first_len, len(records))
        assert server.in_record is not done, i
    assert plain == b"onetwo"
    got, _, _ = server.receive(client.encrypt(b"one") + client.encrypt(b"two"))  # whole records
    assert got == b"onetwo" and not server.in_record
