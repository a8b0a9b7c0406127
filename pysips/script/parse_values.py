"""Values of global parameters, read from their source text.

The grammar only finds where a value ends; what it means depends on the parameter, as in
OpenSIPS's cfg.y: `listen=`/`socket=` take one socket spec with its suffixes, `alias=` a list of
hosts, the others a number, a string, a yes/no word, an address or a bare word.
"""

from __future__ import annotations

import ipaddress
import re

from pysips.script.ast import IPNet, ParamValue, Pos, ScalingProfile, SocketSpec, WorkerCount

YES_WORDS = frozenset({"yes", "true", "on", "enable"})
NO_WORDS = frozenset({"no", "false", "off", "disable"})

# Transport names OpenSIPS knows (parse_proto), plus `any` as used in `alias=`.
PROTOCOLS = frozenset(
    {"udp", "tcp", "tls", "sctp", "ws", "wss", "hep_udp", "hep_tcp", "bin", "bins", "ipsec",
     "smpp", "msrp", "msrps", "any"}
)

_SOCKET_FLAGS = frozenset(
    {"frag", "reuse_port", "accept_subdomain", "allow_proxy_protocol", "send_proxy_protocol",
     "proxy_protocol", "allow_proxy", "send_proxy", "proxy"}
)

_BRACKETED = re.compile(r"^(?:(?P<proto>[A-Za-z_]+):)?\[(?P<host>[^\]]+)\](?::(?P<port>.+))?$")
_IPV4_NET = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,3})?$")


class ValueSyntaxError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_int(text: str) -> int:
    """A number as OpenSIPS's lexer reads it: decimal, 0x hexadecimal, or 0-prefixed octal."""
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits[:2] in ("0x", "0X"):
        return sign * int(digits[2:], 16)
    if len(digits) > 1 and digits.startswith("0") and all(c in "01234567" for c in digits):
        return sign * int(digits, 8)
    return sign * int(digits, 10)


def ip_literal(text: str, pos: Pos) -> IPNet | None:
    """`10.0.0.1`, `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `::1`, `[::1]`, `fd00::/8`, else None."""
    address, _, mask = text.strip("[]").partition("/")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if not mask:
        return IPNet(str(ip) if ip.version == 6 else address, None, pos)
    if mask.isdigit():
        prefix = int(mask)
    else:
        try:
            prefix = ipaddress.ip_network(f"0.0.0.0/{mask}").prefixlen
        except ValueError:
            return None
    if prefix > ip.max_prefixlen:
        return None
    return IPNet(str(ip) if ip.version == 6 else address, prefix, pos)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _ports(text: str) -> tuple[int | None, tuple[int, ...]]:
    if text.startswith("${"):
        return None, ()
    ports: list[int] = []
    for piece in text.split(","):
        low, dash, high = piece.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueSyntaxError(f"a port number (or a range like 5060-5070) is expected, not {text!r}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueSyntaxError(f"invalid port range {piece!r}: the first port is above the last")
        if last > 65535:
            raise ValueSyntaxError(f"port {last} is out of range (1-65535)")
        ports.extend(range(first, last + 1))
    return ports[0], tuple(ports[1:])


def _host_port(main: str) -> tuple[str | None, str, int | None, tuple[int, ...]]:
    """Split `proto:host:port` (each part optional but the host) as listen= and alias= write it."""
    m = _BRACKETED.match(main)
    if m:
        port, more = _ports(m["port"]) if m["port"] else (None, ())
        proto = m["proto"].lower() if m["proto"] else None
        return proto, m["host"], port, more
    parts = main.split(":")
    if len(parts) == 1:
        return None, _unquote(main), None, ()
    if len(parts) == 2:
        if parts[0].lower() in PROTOCOLS:
            return parts[0].lower(), _unquote(parts[1]), None, ()
        port, more = _ports(parts[1])
        return None, _unquote(parts[0]), port, more
    if len(parts) == 3 and parts[1]:
        port, more = _ports(parts[2])
        return parts[0].lower(), _unquote(parts[1]), port, more
    # More colons: an IPv6 address written without brackets (it then takes no port).
    if parts[0].lower() in PROTOCOLS:
        return parts[0].lower(), ":".join(parts[1:]), None, ()
    return None, main, None, ()


def parse_socket(text: str, pos: Pos) -> SocketSpec:
    """`udp:127.0.0.1:5060 as 1.2.3.4:5060 use_workers 4 anycast tag edge` and the like."""
    words = text.split()
    if not words:
        raise ValueSyntaxError("a socket such as udp:127.0.0.1:5060 is expected")
    proto, host, port, more = _host_port(words[0])
    if proto is not None and proto not in PROTOCOLS:
        raise ValueSyntaxError(f"unknown transport protocol {proto!r} (udp, tcp, tls, ws, wss, sctp...)")
    adv_host: str | None = None
    adv_port: int | None = None
    workers: int | None = None
    tos: int | None = None
    tag: str | None = None
    anycast = False
    flags: list[str] = []
    i = 1
    while i < len(words):
        word = words[i].lower()
        arg = words[i + 1] if i + 1 < len(words) else None
        if word in ("as", "use_workers", "tag", "tos", "use_auto_scaling_profile") and arg is None:
            raise ValueSyntaxError(f"'{words[i]}' must be followed by a value")
        if word == "as" and arg is not None:
            _, adv, adv_port, _ = _host_port(arg)
            adv_host = adv
            i += 2
        elif word in ("use_workers", "tos") and arg is not None:
            if not arg.isdigit():
                raise ValueSyntaxError(f"'{words[i]}' takes a number, not {arg!r}")
            if word == "use_workers":
                workers = int(arg)
            else:
                tos = int(arg)
            i += 2
        elif word == "tag" and arg is not None:
            tag = arg
            i += 2
        elif word == "use_auto_scaling_profile" and arg is not None:
            flags.append(f"use_auto_scaling_profile={arg}")
            i += 2
        elif word == "anycast":
            anycast = True
            i += 1
        elif word.replace("-", "_") in _SOCKET_FLAGS:
            flags.append(word.replace("-", "_"))
            i += 1
        else:
            raise ValueSyntaxError(
                f"unexpected {words[i]!r} after the socket; expected 'as HOST:PORT', "
                "'use_workers N', 'anycast', 'tag NAME' or another socket option"
            )
    return SocketSpec(
        proto, host, port, adv_host, adv_port, workers, anycast, tag, pos,
        raw=text, more_ports=more, flags=tuple(flags), tos=tos,
    )


def _alias_item(text: str, pos: Pos) -> str | SocketSpec:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        # cfg.y takes a quoted alias whole as the host name: "example.com:5060" is not split
        return SocketSpec(None, text[1:-1], None, pos=pos, raw=text)
    if ":" in text.strip("[]") or text.startswith("["):
        return parse_socket(text, pos)
    return text


_ALIAS_WORDS = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|\S+')
_WORKER_PARAMS = frozenset({"udp_workers", "tcp_workers", "timer_workers"})


def _number(word: str, what: str) -> int:
    if not word.isdigit():
        raise ValueSyntaxError(f"{what}: a number is expected, not {word!r}")
    return int(word)


def parse_scaling_profile(raw: str) -> ScalingProfile:
    """`NAME scale up to N on P% for C cycles [within W] [scale down to M on P% for C cycles]`,
    with OpenSIPS's checks of the numbers (create_auto_scaling_profile)."""
    words = [w.lower() for w in re.findall(r"%|[^\s%]+", raw)]
    shape = "NAME scale up to N on P% for C cycles [within W] [scale down to M on P% for C cycles]"

    def expect(at: int, *literal: str) -> int:
        if tuple(words[at : at + len(literal)]) != literal:
            found = " ".join(words[at : at + len(literal)]) or "the end"
            raise ValueSyntaxError(f"expected {' '.join(literal)!r}, not {found!r} (the form is {shape})")
        return at + len(literal)

    if not words or not re.fullmatch(r"[a-z_][a-z0-9_]*", words[0]):
        raise ValueSyntaxError(f"a profile name is expected first (the form is {shape})")
    name = re.findall(r"[^\s%]+", raw)[0]
    at = expect(1, "scale", "up", "to")
    max_procs = _number(words[at] if at < len(words) else "", "scale up to")
    at = expect(at + 1, "on")
    up_threshold = _number(words[at] if at < len(words) else "", "on")
    at = expect(at + 1, "%", "for")
    up_needed = _number(words[at] if at < len(words) else "", "for")
    at = expect(at + 1, "cycles")
    up_checked = up_needed
    if words[at : at + 1] == ["within"]:
        up_checked = _number(words[at + 1] if at + 1 < len(words) else "", "within")
        at += 2
    min_procs = down_threshold = down_checked = 0
    if at < len(words):
        at = expect(at, "scale", "down", "to")
        min_procs = _number(words[at] if at < len(words) else "", "scale down to")
        at = expect(at + 1, "on")
        down_threshold = _number(words[at] if at < len(words) else "", "on")
        at = expect(at + 1, "%", "for")
        down_checked = _number(words[at] if at < len(words) else "", "for")
        at = expect(at + 1, "cycles")
        if at < len(words):
            raise ValueSyntaxError(f"unexpected {words[at]!r} after the profile (the form is {shape})")
    if min_procs == 0:
        down_threshold = down_checked = 0
    if max_procs == 0 or max_procs <= min_procs or max_procs >= 1000:
        raise ValueSyntaxError(f"invalid process range: scale down to {min_procs}, up to {max_procs} "
                               "(up to 1..999, above the down value)")
    if up_threshold == 0 or up_threshold <= down_threshold or up_threshold > 100 or down_threshold > 100:
        raise ValueSyntaxError(f"invalid thresholds: down {down_threshold}%, up {up_threshold}% "
                               "(up 1..100%, above down)")
    if up_needed == 0 or up_checked < up_needed:
        raise ValueSyntaxError(f"invalid upscaling check: {up_needed} cycles within {up_checked}")
    return ScalingProfile(name, max_procs, up_threshold, up_needed, up_checked, min_procs, down_threshold,
                          down_checked)


def param_value(name: str, raw: str, kinds: list[str], values: list[str], pos: Pos) -> ParamValue:
    """Interpret a global parameter value.

    `raw` is the source text of the value; `kinds`/`values` are its tokens (kind names from the
    grammar, string tokens already unescaped).
    """
    key = name.lower()
    if key == "auto_scaling_profile":
        return parse_scaling_profile(raw)
    if kinds and all(k == "STRING" for k in kinds) and key not in ("listen", "socket", "alias"):
        return "".join(values)
    if key in _WORKER_PARAMS and len(kinds) == 3 and kinds[0] == "NUMBER":
        if values[1].lower() != "use_auto_scaling_profile" or kinds[2] != "NAME":
            raise ValueSyntaxError(f"expected 'use_auto_scaling_profile NAME' after the number, not {raw!r}")
        return WorkerCount(parse_int(values[0]), values[2])
    if key == "advertised_address" and " " not in raw:
        return raw  # cfg.y: an IP address or a host name, kept as written
    if len(kinds) == 1 and kinds[0] == "NUMBER":
        return parse_int(values[0])
    if len(kinds) == 2 and kinds[1] == "NUMBER" and values[0] in "+-":
        return parse_int(values[0] + values[1])
    if len(kinds) == 1 and kinds[0] == "NAME":
        word = values[0].lower()
        if word in YES_WORDS:
            return True
        if word in NO_WORDS:
            return False
    if key in ("listen", "socket"):
        if len(kinds) == 1 and kinds[0] == "STRING":
            return parse_socket(values[0], pos)
        return parse_socket(raw, pos)
    if key == "alias":
        items = tuple(_alias_item(word, pos) for word in _ALIAS_WORDS.findall(raw))
        return items[0] if len(items) == 1 else items
    if (len(kinds) == 1 and kinds[0] == "IPADDR") or (":" in raw and " " not in raw):
        ip = ip_literal(raw, pos)
        if ip is not None:
            return ip
    return raw
