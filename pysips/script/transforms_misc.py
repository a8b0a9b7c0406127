"""The remaining transformation classes: `csv.*`, `ip.*`, `re.subst` and `sdp.line`.

DNS resolution (`ip.resolve`) is refused at load time: the script layer does no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from pysips.script import ast
from pysips.script.pv_base import PVAccessor, PVError, as_str
from pysips.script.transforms import (
    TransformFailed,
    TrArg,
    TrFunc,
    int_arg,
    read_int,
    read_str,
    str_arg,
    want_args,
)

if TYPE_CHECKING:
    from pysips.script.context import MsgContext, Value


# ---------------------------------------------------------------------------------------------
# csv.count, csv.value,N (RFC 4180 fields)
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def split_csv(text: str) -> tuple[str, ...]:
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        if i < n and text[i] == '"':
            out: list[str] = []
            i += 1
            while i < n:
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        out.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                out.append(text[i])
                i += 1
            end = text.find(",", i)
            fields.append("".join(out))
        else:
            end = text.find(",", i)
            fields.append(text[i:] if end < 0 else text[i:end])
        if end < 0:
            return tuple(fields)
        i = end + 1


def _csv(v: str | int) -> tuple[str, ...]:
    if not isinstance(v, str) or not v:
        raise TransformFailed(f"csv needs a non-empty string, got {v!r}")
    return split_csv(v)


def make_csv(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    if method == "count":
        want_args("csv.count", args, 0, 0, pos)
        return lambda ctx, v: len(_csv(v))
    if method == "value":
        want_args("csv.value", args, 1, 1, pos)
        index = int_arg("csv.value", args[0], pos)

        def value(ctx: MsgContext, v: str | int) -> Value:
            fields = _csv(v)
            i = read_int(ctx, index)
            if not -len(fields) <= i < len(fields):
                raise TransformFailed(f"csv index {i} out of range")
            return fields[i]

        return value
    raise PVError(f"unknown transformation {{csv.{method}}}", pos)


# ---------------------------------------------------------------------------------------------
# ip.*
# ---------------------------------------------------------------------------------------------

# RFC 1918, RFC 6598 (carrier-grade NAT) and loopback, as OpenSIPS counts them
_PRIVATE_V4 = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(text: str) -> IPAddress | None:
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _binary(v: str | int) -> bytes:
    # binary values travel as UTF-8 with surrogate escapes, like every other byte string
    data = as_str(v).encode("utf-8", "surrogateescape")
    if len(data) not in (4, 16):
        raise TransformFailed("expected a binary IP address (4 or 16 bytes)")
    return data


def _ip_family(ctx: MsgContext, v: str | int) -> Value:
    return "INET" if len(_binary(v)) == 4 else "INET6"


def _ip_ntop(ctx: MsgContext, v: str | int) -> Value:
    return str(ipaddress.ip_address(_binary(v)))


def _ip_pton(ctx: MsgContext, v: str | int) -> Value:
    addr = _ip(as_str(v))
    if addr is None:
        raise TransformFailed(f"not an IP address: {v!r}")
    return addr.packed.decode("utf-8", "surrogateescape")


def _ip_isip(ctx: MsgContext, v: str | int) -> Value:
    return int(_ip(as_str(v)) is not None)


def _ip_isip4(ctx: MsgContext, v: str | int) -> Value:
    return int(isinstance(_ip(as_str(v)), ipaddress.IPv4Address))


def _ip_isip6(ctx: MsgContext, v: str | int) -> Value:
    return int(isinstance(_ip(as_str(v)), ipaddress.IPv6Address))


def _ip_isprivate(ctx: MsgContext, v: str | int) -> Value:
    addr = _ip(as_str(v))
    if not isinstance(addr, ipaddress.IPv4Address):
        return 0
    return int(any(addr in net for net in _PRIVATE_V4))


_IP_SIMPLE: dict[str, TrFunc] = {
    "family": _ip_family,
    "ntop": _ip_ntop,
    "pton": _ip_pton,
    "isip": _ip_isip,
    "isip4": _ip_isip4,
    "isip6": _ip_isip6,
    "isprivate": _ip_isprivate,
}


@lru_cache(maxsize=256)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def make_ip(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    simple = _IP_SIMPLE.get(method)
    if simple is not None:
        want_args(f"ip.{method}", args, 0, 0, pos)
        return simple
    if method in ("resolve", "resolve4", "resolve6"):
        raise PVError(f"transformation ip.{method} is not supported by pysips (no DNS in scripts)", pos)
    if method != "matches":
        raise PVError(f"unknown transformation {{ip.{method}}}", pos)
    want_args("ip.matches", args, 1, 1, pos)
    net_arg = str_arg("ip.matches", args[0], pos)
    if isinstance(net_arg, str) and _network(net_arg) is None:
        raise PVError(f"ip.matches: {net_arg!r} is not an IP/prefix network", pos)

    def matches(ctx: MsgContext, v: str | int) -> Value:
        addr = _ip(as_str(v))
        if addr is None:
            raise TransformFailed(f"not an IP address: {v!r}")
        net = _network(read_str(ctx, net_arg))
        if net is None or net.version != addr.version:
            raise TransformFailed("bad network or different address family")
        return int(addr in net)

    return matches


# ---------------------------------------------------------------------------------------------
# re.subst,/regex/replacement/flags
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def compile_subst(expr: str) -> tuple[re.Pattern[str], str, int] | None:
    """`/re/repl/flags` (any delimiter) -> (pattern, Python replacement, count); None if bad."""
    if len(expr) < 4:
        return None
    delim = expr[0]
    pieces: list[str] = []
    current: list[str] = []
    i = 1
    while i < len(expr):
        c = expr[i]
        if c == "\\" and i + 1 < len(expr) and expr[i + 1] == delim:
            current.append(delim)
            i += 2
            continue
        if c == delim:
            pieces.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    pieces.append("".join(current))
    if len(pieces) != 3 or any(f not in "ig" for f in pieces[2]):
        return None
    pattern, repl, flags = pieces
    try:
        compiled = re.compile(pattern, re.IGNORECASE if "i" in flags else 0)
    except re.error:
        return None
    # \0..\9 back-references; everything else literal (Python's own escapes must not apply)
    py_repl = re.sub(r"\\(\d)|\\", lambda m: f"\\g<{m.group(1)}>" if m.group(1) else "\\\\", repl)
    return compiled, py_repl, 0 if "g" in flags else 1


def make_re(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    if method != "subst":
        raise PVError(f"unknown transformation {{re.{method}}}", pos)
    want_args("re.subst", args, 1, 1, pos)
    expr = str_arg("re.subst", args[0], pos)
    if isinstance(expr, str) and compile_subst(expr) is None:
        raise PVError(f"re.subst: bad substitution {expr!r} (expected /regex/replacement/flags)", pos)

    def subst(ctx: MsgContext, v: str | int) -> Value:
        if not isinstance(v, str) or not v:
            raise TransformFailed("re.subst needs a non-empty string")
        compiled = compile_subst(read_str(ctx, expr))
        if compiled is None:
            raise TransformFailed("bad substitution expression")
        pattern, repl, count = compiled
        try:
            return pattern.sub(repl, v, count=count)
        except (re.error, IndexError) as exc:
            raise TransformFailed(str(exc)) from None

    return subst


# ---------------------------------------------------------------------------------------------
# sdp.line,X[,N]: the N-th (from 0) line of type X, as written ("m=audio ...")
# ---------------------------------------------------------------------------------------------


def make_sdp(method: str, args: tuple[TrArg, ...], pos: ast.Pos) -> TrFunc:
    if method != "line":
        raise PVError(f"transformation sdp.{method} is not supported by pysips", pos)
    want_args("sdp.line", args, 1, 2, pos)
    kind = args[0]
    if not isinstance(kind, str) or len(kind) != 1:
        raise PVError("sdp.line: the first argument is a one-letter line type", pos)
    index: int | PVAccessor = int_arg("sdp.line", args[1], pos) if len(args) > 1 else 0
    prefix = kind + "="

    def line(ctx: MsgContext, v: str | int) -> Value:
        if not isinstance(v, str) or not v:
            raise TransformFailed("sdp.line needs an SDP body")
        wanted = read_int(ctx, index)
        if wanted < 0:
            raise TransformFailed("negative index for sdp.line")
        for text in v.splitlines():
            if text.startswith(prefix):
                if wanted == 0:
                    return text
                wanted -= 1
        return None

    return line
