"""Rewriting parts of the request URI (seturi, sethost, prefix, strip ...), as text surgery.

The URI is split once into scheme, user, password, host, port and the rest (params/headers); only
the part a function names changes, the rest is kept byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class UriText:
    scheme: str
    user: str | None
    password: str | None
    host: str
    port: str | None
    rest: str  # ";params?headers" as written

    def build(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port:
            out.append(":" + self.port)
        out.append(self.rest)
        return "".join(out)


def split_uri(text: str) -> UriText | None:
    colon = text.find(":")
    if colon <= 0:
        return None
    scheme, body = text[:colon], text[colon + 1 :]
    end = len(body)
    for ch in ";?":
        i = body.find(ch, body.rfind("@") + 1 if "@" in body else 0)
        if 0 <= i < end:
            end = i
    hostpart, rest = body[:end], body[end:]
    user = password = None
    if "@" in hostpart:
        userinfo, hostpart = hostpart.rsplit("@", 1)
        if ":" in userinfo:
            user, password = userinfo.split(":", 1)
        else:
            user = userinfo
    if hostpart.startswith("["):
        close = hostpart.find("]")
        if close < 0:
            return None
        host, tail = hostpart[: close + 1], hostpart[close + 1 :]
        port = tail[1:] if tail.startswith(":") else None
    elif ":" in hostpart:
        host, port = hostpart.split(":", 1)
    else:
        host, port = hostpart, None
    if not host:
        return None
    return UriText(scheme, user, password, host, port, rest)


def set_user(u: UriText, user: str) -> UriText:
    return replace(u, user=user or None, password=u.password if user else None)


def set_userpass(u: UriText, userpass: str) -> UriText:
    if not userpass:
        return replace(u, user=None, password=None)
    user, _, password = userpass.partition(":")
    return replace(u, user=user, password=password if ":" in userpass else None)


def set_host(u: UriText, host: str) -> UriText:
    return replace(u, host=host)


def set_hostport(u: UriText, hostport: str) -> UriText:
    if hostport.startswith("["):
        close = hostport.find("]")
        host, tail = hostport[: close + 1], hostport[close + 1 :]
        return replace(u, host=host, port=tail[1:] if tail.startswith(":") else None)
    host, _, port = hostport.partition(":")
    return replace(u, host=host, port=port or None)


def set_port(u: UriText, port: str) -> UriText:
    return replace(u, port=port or None)
