"""The hash dispatcher's algorithms 0-3, 5 and 7 spread calls with, bit for bit as OpenSIPS 3.6
computes it (so a pysips proxy and an OpenSIPS one send the same Call-ID to the same destination).

OpenSIPS reads the key through a plain `char *`, signed on the x86 and ARM builds it ships: a byte
of 0x80 or more counts as a negative number. We do the same, in 32-bit unsigned arithmetic.
"""

from __future__ import annotations

from pysips.sip.uri import SipUri

_MASK = 0xFFFFFFFF


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


def _mix(data: bytes, h: int) -> int:
    whole = len(data) - len(data) % 4
    for i in range(0, whole, 4):
        v = (
            (_signed(data[i]) << 24)
            + (_signed(data[i + 1]) << 16)
            + (_signed(data[i + 2]) << 8)
            + _signed(data[i + 3])
        ) & _MASK
        h = (h + (v ^ (v >> 3))) & _MASK
    v = 0
    for byte in data[whole:]:
        v = ((v << 8) + _signed(byte)) & _MASK
    return (h + (v ^ (v >> 3))) & _MASK


def ds_hash(first: bytes | None, second: bytes | None = None) -> int:
    """OpenSIPS ds_get_hash over one or two keys; never 0 (0 means 'no hash' to the selector)."""
    if first is None and second is None:
        return 0
    h = 0
    if first is not None:
        h = _mix(first, h)
    if second is not None:
        h = _mix(second, h)
    h = (h + (h >> 11) + (h >> 13) + (h >> 23)) & _MASK
    return h or 1


def _default_port(uri: SipUri) -> int:
    transport = uri.transport
    if uri.scheme == "sips" or transport in ("tls", "wss"):
        return 5061
    return 5060


def uri_hash_keys(uri: SipUri, user_only: bool) -> tuple[bytes, bytes | None]:
    """(user, host[:port]) as OpenSIPS keys a URI: the port only when it is not the default one of
    the URI's transport; the host part dropped with the 'u' flag."""
    user = (uri.user or "").encode()
    if user_only:
        return user, None
    host = uri.host
    if uri.port is not None and uri.port != _default_port(uri):
        host = f"{host}:{uri.port}"
    return user, host.encode()


def hash_uri(uri: SipUri, user_only: bool) -> int:
    user, host = uri_hash_keys(uri, user_only)
    if host is None:
        # OpenSIPS passes an empty second key: it still adds its (zero) tail round
        return ds_hash(user, b"")
    return ds_hash(user, host)


def hash_text(text: str) -> int:
    """Algorithms 0, 5 and 7: one key, trimmed of blanks as OpenSIPS trims it."""
    return ds_hash(text.strip(" \t\r\n").encode(), None)
