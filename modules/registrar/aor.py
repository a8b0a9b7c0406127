"""Address-of-record keys: what save() stores under and lookup() searches for."""

from __future__ import annotations

from urllib.parse import unquote

from pysips.sip.errors import ParseError
from pysips.sip.uri import SipUri, parse_uri


def aor_key(uri: str | SipUri, use_domain: bool, case_sensitive: bool, realm_prefix: str = "") -> str | None:
    """`user@host` (or `user` without use_domain); None when the URI does not parse or has no user.

    Hosts compare case-insensitively (RFC 3261 19.1.4); users do when `case_sensitive` is 0."""
    parsed = parse_uri(uri) if isinstance(uri, str) else uri
    if isinstance(parsed, ParseError):
        return None
    user = parsed.user
    if not user:
        return None
    if "%" in user:
        user = unquote(user)
    if not case_sensitive:
        user = user.lower()
    if not use_domain:
        return user
    host = parsed.host.lower()
    if realm_prefix and host.startswith(realm_prefix) and len(host) > len(realm_prefix):
        host = host[len(realm_prefix):]
    return f"{user}@{host}"
