"""From the script's `listen=`/`socket=`/`alias=`/`advertised_*` lines to our Socket table.

Names in listeners are resolved once at startup (OpenSIPS does the same); `*` binds the wildcard
address and advertises the host's primary address unless `as`/advertised_address says otherwise.
"""

from __future__ import annotations

import ipaddress
import logging
import socket as pysocket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysips.core.api import Socket
from pysips.core.sockets import default_port, is_ip_literal
from pysips.script import ast
from pysips.script.myself import split_hostport

log = logging.getLogger("pysips.core")


class ListenerError(Exception):
    """A listener that cannot be set up; the message names it."""


@dataclass(frozen=True, slots=True)
class Listener:
    socket: Socket
    written: str  # as in the script, for messages
    pos: ast.Pos


def primary_address(v6: bool = False) -> str:
    """The address this host uses to reach the outside (no packet is sent)."""
    family = pysocket.AF_INET6 if v6 else pysocket.AF_INET
    probe = ("2001:db8::1", 9) if v6 else ("192.0.2.1", 9)
    try:
        with pysocket.socket(family, pysocket.SOCK_DGRAM) as s:
            s.connect(probe)
            return str(s.getsockname()[0])
    except OSError:
        return "::1" if v6 else "127.0.0.1"


def local_addresses(v6: bool = False) -> list[str]:
    """Every address of this host (Linux /proc; the loopback and primary address elsewhere): a
    wildcard listener is reached on any of them, and OpenSIPS counts each as `myself`."""
    found: list[str] = ["::1" if v6 else "127.0.0.1", primary_address(v6)]
    try:
        if v6:
            for line in Path("/proc/net/if_inet6").read_text().splitlines():
                hexa = line.split()[0]
                found.append(str(ipaddress.IPv6Address(bytes.fromhex(hexa))))
        else:
            last = ""
            for line in Path("/proc/net/fib_trie").read_text().splitlines():
                text = line.strip()
                if text.startswith(("|--", "+--")):
                    last = text[3:].strip()
                elif text == "/32 host LOCAL" and last:
                    found.append(last)
    except (OSError, ValueError, IndexError):
        pass
    return list(dict.fromkeys(found))


def wildcard_aliases(listeners: Iterable[Listener]) -> list[tuple[str, int | None]]:
    """(address, port) of this host for each listener bound to 0.0.0.0 or ::."""
    out: list[tuple[str, int | None]] = []
    for lst in listeners:
        if lst.socket.ip in ("0.0.0.0", "::"):
            out.extend((addr, lst.socket.port) for addr in local_addresses(lst.socket.ip == "::"))
    return out


def _resolve_listen_host(host: str, spec: ast.SocketSpec) -> str:
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "*":
        return "0.0.0.0"
    if is_ip_literal(host):
        return host
    try:
        infos = pysocket.getaddrinfo(host, None, type=pysocket.SOCK_DGRAM)
    except OSError as exc:
        written = spec.raw or host
        raise ListenerError(f"{spec.pos}: listener {written}: cannot resolve {host!r}: {exc}") from exc
    return str(infos[0][4][0])


def listeners_from(
    specs: Iterable[ast.SocketSpec], advertised_address: str | None = None, advertised_port: int | None = None
) -> list[Listener]:
    out: list[Listener] = []
    for spec in specs:
        proto = (spec.proto or "udp").lower()
        ip = _resolve_listen_host(spec.host, spec)
        adv_host = spec.advertised_host or advertised_address
        if adv_host is None and ip in ("0.0.0.0", "::"):
            adv_host = primary_address(ip == "::")
        adv_port = spec.advertised_port or advertised_port
        first = spec.port if spec.port is not None else default_port(proto)
        for port in (first, *spec.more_ports):
            if any(seen.socket.proto == proto and seen.socket.ip == ip and seen.socket.port == port
                   for seen in out):
                # the same socket twice (a -l socket the script also declares): OpenSIPS removes
                # the duplicate at start-up instead of failing to bind it again
                log.info("removing duplicate socket %s:%s:%s", proto, ip, port)
                continue
            sock = Socket(proto, ip, port, adv_host, adv_port, spec.tag)
            out.append(Listener(sock, spec.raw or f"{proto}:{spec.host}:{port}", spec.pos))
    return out


def script_listeners(core: dict[str, Any]) -> list[Listener]:
    """Listeners from a loaded script's canonical core parameters."""
    specs: list[ast.SocketSpec] = []
    for name in ("listen", "socket"):
        for value in core.get(name, []):
            specs.extend(_socket_specs(value))
    adv_addr = core.get("advertised_address")
    adv_port = core.get("advertised_port")
    return listeners_from(
        specs,
        str(adv_addr) if adv_addr else None,
        int(adv_port) if isinstance(adv_port, int) and adv_port else None,
    )


def script_aliases(core: dict[str, Any]) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    for value in core.get("alias", []):
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, ast.SocketSpec):
                out.append((item.host, item.port))
            elif isinstance(item, str):
                out.append(split_hostport(item))
    return out


def _socket_specs(value: Any) -> list[ast.SocketSpec]:
    if isinstance(value, ast.SocketSpec):
        return [value]
    if isinstance(value, tuple):
        return [v for v in value if isinstance(v, ast.SocketSpec)]
    if isinstance(value, str):
        # a quoted listener ("udp:1.2.3.4:5060")
        head, sep, _ = value.partition(":")
        proto = head.lower() if sep and head.lower() in ("udp", "tcp", "tls", "ws", "wss", "sctp") else None
        host, port = split_hostport(value)
        return [ast.SocketSpec(proto, host, port, raw=value)]
    return []


def global_params_core(script: ast.Script) -> dict[str, Any]:
    """The listener-related global parameters straight from the syntax tree (before loading), so
    `myself` can be built from real sockets and handed to the loader."""
    core: dict[str, Any] = {}
    for item in script.items:
        if isinstance(item, ast.GlobalParam):
            if item.name in ("listen", "socket", "alias"):
                core.setdefault(item.name, []).append(item.value)
            elif item.name in ("advertised_address", "advertised_port"):
                core[item.name] = item.value
    return core
