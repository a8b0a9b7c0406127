"""The hash dispatcher's algorithms 0-3, 5 and 7 spread calls with, bit for bit as OpenSIPS 3.6
computes it (so a pysips proxy and an OpenSIPS one send the same Call-ID to the same destination).

The arithmetic is OpenSIPS's core_hash() (pysips/sip/core_hash.py, shared with uac_auth,
uac_registrant and usrloc); this file holds what dispatcher keys it with.
"""

from __future__ import annotations

from pysips.sip.core_hash import core_hash
from pysips.sip.uri import SipUri


def ds_hash(first: bytes | None, second: bytes | None = None) -> int:
    """OpenSIPS ds_get_hash over one or two keys: core_hash() of them, but never 0 (0 means 'no
    hash' to the selector). A missing key adds nothing (core_hash of an empty one is a no-op)."""
    if first is None and second is None:
        return 0
    return core_hash(first or b"", second) or 1


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
