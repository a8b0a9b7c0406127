"""record_route(), record_route_preset(), add_rr_param() and the send-time rendering.

OpenSIPS writes Record-Route with lumps whose address is substituted when the outgoing socket is
known, and a conditional second Record-Route that appears only when that socket differs from the
receiving one (then both carry `r2=on`). pysips keeps the same shape: record_route() adds one lump
whose bytes are an `RRHeader` (a bytes value that remembers how it was made). Until a socket is
known it reads as the single Record-Route of the receiving socket; `finalize_for_socket()`, called
by whoever sends (tm per branch, the core's stateless forward), re-renders it for the outgoing
socket, doubling it when the sockets differ. The lumps are the state, so a branch copy of the
message carries it and each copy renders for its own socket.
"""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.api import Socket
from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage
from pysips.sip.uri import SipUri, parse_uri

from .runtime import RRConfig, config, receiving_socket

log = logging.getLogger("pysips.modules.rr")

PENDING_KEY = "rr.pending"  # ctx.extra: add_rr_param() values given before record_route()


class RRHeader(bytes):
    """Record-Route header line(s) as inserted, plus what is needed to render them again.

    `preset` lines (record_route_preset) are fixed text; others are re-rendered per socket.
    """

    user: str
    inbound: Socket | None
    suffix: str  # ";lr[;ftag=..][;params]" (record_route) / "[;ftag=..];lr" (preset)
    params: str  # add_rr_param() values added after the header was made
    preset: str | None  # the address given to record_route_preset

    @classmethod
    def make(
        cls,
        text: str,
        user: str,
        inbound: Socket | None,
        suffix: str,
        params: str,
        preset: str | None,
    ) -> RRHeader:
        line = cls(text.encode("utf-8", "surrogateescape"))
        line.user = user
        line.inbound = inbound
        line.suffix = suffix
        line.params = params
        line.preset = preset
        return line


def socket_address(sock: Socket) -> str:
    """host[:port][;transport=x] as OpenSIPS substitutes it: the port is left out when it is 5060
    and not advertised; UDP carries no transport parameter."""
    text = sock.host_for_headers
    if sock.advertised_port is not None or sock.port != 5060:
        text += f":{sock.port_for_headers}"
    if sock.proto != "udp":
        text += f";transport={sock.proto}"
    return text


def _same_realm(a: Socket, b: Socket) -> bool:
    return a.proto == b.proto and a.port == b.port and a.ip == b.ip


def _line(user: str, address: str, r2: bool, suffix: str, params: str) -> str:
    who = f"{user}@" if user else ""
    mark = ";r2=on" if r2 else ""
    return f"Record-Route: <sip:{who}{address}{mark}{suffix}{params}>\r\n"


def render(header: RRHeader, out: Socket | None, double_rr: bool) -> str:
    """The header text for a request leaving through `out` (None: not known yet)."""
    if header.preset is not None:
        who = f"{header.user}@" if header.user else ""
        return f"Record-Route: <sip:{who}{header.preset}{header.suffix}{header.params}>\r\n"
    inbound = header.inbound
    if inbound is None:
        inbound = out
    if inbound is None:
        return ""
    if out is None or _same_realm(out, inbound):
        # the single header shows the sending socket as the message advertises it (OpenSIPS's
        # SUBST_SND lump: set_advertised_address() counts), which is the receiving one otherwise
        return _line(header.user, socket_address(out or inbound), False, header.suffix, header.params)
    if not double_rr:
        return _line(header.user, socket_address(out), False, header.suffix, header.params)
    return _line(header.user, socket_address(out), True, header.suffix, header.params) + _line(
        header.user, socket_address(inbound), True, header.suffix, header.params
    )


def _lumps(msg: SipMessage) -> list[Any]:
    # The lump list of H1's SipMessage: read and updated in place so a re-rendered header keeps
    # its position and order among the other edits.
    lumps: list[Any] = msg._lumps
    return lumps


def rr_headers(msg: SipMessage) -> list[RRHeader]:
    return [lump[2] for lump in _lumps(msg) if isinstance(lump[2], RRHeader)]


def _replace(msg: SipMessage, old: RRHeader, new: RRHeader) -> None:
    lumps = _lumps(msg)
    for i, lump in enumerate(lumps):
        if lump[2] is old:
            lumps[i] = (lump[0], lump[1], new, lump[3])
            return


def _rebuild(header: RRHeader, text: str, params: str) -> RRHeader:
    return RRHeader.make(text, header.user, header.inbound, header.suffix, params, header.preset)


def finalize_for_socket(msg: Any, out: Socket, double_rr: bool = True) -> int:
    """Re-render every record_route() header of `msg` for the outgoing socket `out`."""
    if not isinstance(msg, SipMessage):
        return 0
    count = 0
    for header in rr_headers(msg):
        if header.preset is not None:
            continue
        text = render(header, out, double_rr)
        if text.encode("utf-8", "surrogateescape") != bytes(header):
            _replace(msg, header, _rebuild(header, text, header.params))
        count += 1
    return count


# ---------------------------------------------------------------------------------------------


def _username(ctx: MsgContext, msg: SipMessage) -> str | None:
    """The R-URI user (the received one, else the new one); None when the R-URI does not parse."""
    uri = parse_uri(msg.original_ruri)
    if not isinstance(uri, SipUri):
        log.error("record_route: failed to parse the R-URI")
        return None
    if not uri.user and ctx.new_ruri:
        new = parse_uri(ctx.new_ruri)
        if isinstance(new, SipUri):
            return new.user or ""
    return uri.user or ""


def _common(ctx: MsgContext, cfg: RRConfig) -> tuple[SipMessage, str, str] | None:
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        return None
    if rr_headers(msg):
        log.error("Double attempt to record-route")
        return None
    user = ""
    if cfg.add_username:
        found = _username(ctx, msg)
        if found is None:
            return None
        user = found
    ftag = ""
    if cfg.append_fromtag:
        tag = msg.from_tag
        if tag:
            ftag = f";ftag={tag}"
    return msg, user, ftag


def _first_header_offset(msg: SipMessage) -> int:
    return msg.raw.find(b"\r\n") + 2


def _pending(ctx: MsgContext) -> str:
    pending = ctx.extra.pop(PENDING_KEY, None)
    return "".join(pending) if isinstance(pending, list) else ""


def record_route(ctx: MsgContext, params: str | None = None) -> int:
    cfg = config(ctx)
    common = _common(ctx, cfg)
    if common is None:
        return -1
    msg, user, ftag = common
    inbound = receiving_socket(ctx)
    if inbound is None:
        log.error("record_route: no receiving socket known for this message")
        return -1
    suffix = ";lr" + ftag + (params or "")
    header = RRHeader.make("", user, inbound, suffix, _pending(ctx), None)
    text = render(header, None, cfg.enable_double_rr)
    header = _rebuild(header, text, header.params)
    at = _first_header_offset(msg)
    msg.add_lump(at, at, header)
    return 1


def record_route_preset(ctx: MsgContext, address: str, address2: str | None = None) -> int:
    cfg = config(ctx)
    if address2 is not None and not cfg.enable_double_rr:
        log.error("Attempt to double record-route while 'enable_double_rr' param is disabled")
        return -1
    common = _common(ctx, cfg)
    if common is None:
        return -1
    msg, user, ftag = common
    pending = _pending(ctx)
    at = _first_header_offset(msg)
    for value in (address, address2):
        if value is None:
            continue
        header = RRHeader.make("", user, None, ftag + ";lr", pending, value)
        header = _rebuild(header, render(header, None, False), pending)
        msg.add_lump(at, at, header)
    return 1


def remove_record_route(ctx: MsgContext) -> int:
    """Drops the Record-Route lumps of record_route()/record_route_preset() and pending params."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return 0
    lumps = _lumps(msg)
    kept = [lump for lump in lumps if not isinstance(lump[2], RRHeader)]
    removed = len(lumps) - len(kept)
    lumps[:] = kept
    ctx.extra.pop(PENDING_KEY, None)
    return removed


def add_rr_param(ctx: MsgContext, param: str) -> int:
    """Adds `;name=value` to the Record-Route(s) made so far, or keeps it for the next one."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return -1
    headers = rr_headers(msg)
    if not headers:
        pending = ctx.extra.get(PENDING_KEY)
        if not isinstance(pending, list):
            pending = ctx.extra[PENDING_KEY] = []
        pending.append(param)
        return 1
    double_rr = config(ctx).enable_double_rr
    for header in headers:
        # OpenSIPS puts a parameter added after record_route() before the ones added earlier
        # (";c=3;b=2;a=1" for a, then b and c): its lump goes in front of the previous ones
        params = param + header.params
        probe = _rebuild(header, "", params)
        # keep the socket rendering already chosen (finalize may have run): swap only the params
        old_text = bytes(header).decode("utf-8", "surrogateescape")
        new_text = old_text.replace(f"{header.params}>\r\n", f"{params}>\r\n")
        if new_text == old_text:
            new_text = render(probe, None, double_rr)
        _replace(msg, header, _rebuild(header, new_text, params))
    return 1
