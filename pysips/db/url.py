"""Database URLs as OpenSIPS scripts write them.

`sqlite:///var/lib/opensips/opensips.db` (three slashes: an absolute path),
`mysql://opensips:opensipsrw@localhost:3306/opensips`, `postgres://user@host/db`,
`text:///var/lib/opensips/dbtext` (db_text: a folder). A URL is parsed
at load time so that a typo is a load error; whether a driver exists for its scheme is decided when
the module that uses it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote


class DbUrlError(ValueError):
    """The text is not a database URL."""


@dataclass(frozen=True, slots=True)
class DbUrl:
    scheme: str  # lower case: sqlite, mysql, postgres ...
    user: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str  # the database name; for sqlite the file path (or ":memory:")
    text: str  # as written

    def __str__(self) -> str:
        """The URL with the password hidden, for logs."""
        if self.password is None:
            return self.text
        return self.text.replace(f":{self.password}@", ":***@", 1)


def parse_db_url(text: str) -> DbUrl:
    raw = text.strip()
    scheme, sep, rest = raw.partition("://")
    if not sep or not scheme or not scheme.replace("_", "").isalnum():
        raise DbUrlError(f"bad database URL {text!r}: expected driver://...")
    scheme = scheme.lower()
    if scheme in ("sqlite", "text"):
        # sqlite:///abs/path -> "/abs/path"; sqlite://rel/path -> "rel/path"; text:///dir too
        path = unquote(rest)
        if not path:
            raise DbUrlError(f"bad database URL {text!r}: no database file")
        return DbUrl(scheme, None, None, None, None, path, raw)
    authority, slash, database = rest.partition("/")
    if not slash or not database:
        raise DbUrlError(f"bad database URL {text!r}: no database name after the host")
    user = password = None
    hostport = authority
    if "@" in authority:
        userinfo, _, hostport = authority.rpartition("@")
        user, colon, pw = userinfo.partition(":")
        user = unquote(user)
        password = unquote(pw) if colon else None
    host: str | None = hostport
    port: int | None = None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise DbUrlError(f"bad database URL {text!r}: unterminated IPv6 address")
        host = hostport[1:end]
        tail = hostport[end + 1 :]
        if tail.startswith(":"):
            port = _port(tail[1:], text)
    elif ":" in hostport:
        host, _, port_text = hostport.rpartition(":")
        port = _port(port_text, text)
    if not host:
        host = None
    return DbUrl(scheme, user or None, password, host, port, unquote(database), raw)


def _port(value: str, text: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise DbUrlError(f"bad database URL {text!r}: bad port {value!r}")
    return int(value)
