"""fix_nated_sdp(flags[, ip[, sdp_lines]]): the SDP of a message behind a NAT (OpenSIPS nathelper).

Flags (names, or the 2.x number): add-dir-active (1) appends "a=direction:active",
rewrite-media-ip (2) puts the source address (or `ip`) into every c= line, add-no-rtpproxy (4)
appends the `nortpproxy_str` line, rewrite-origin-ip (8) does the same for o= lines,
rewrite-null-ips (16) rewrites 0.0.0.0 too. A rewritten address is kept in an "a=oldcip:" /
"a=oldoip:" line unless `oldip_skip` says not to. `sdp_lines` (each starting with CRLF) is added
only together with flag 1 or 4, as OpenSIPS does. Every application/sdp body or multipart part is
edited; IPv6 addresses are refused.

Added lines go at the end of the SDP (before its trailing line end), in OpenSIPS's order:
sdp_lines, the nortpproxy line, a=direction, the old o= addresses, the old c= addresses.
"""

from __future__ import annotations

import logging
import re

from pysips.script.errors import FixupError
from pysips.sip.message import SipMessage

log = logging.getLogger("pysips.nathelper")

ADD_ADIRECTION = 0x01
FIX_MEDIP = 0x02
ADD_ANORTPPROXY = 0x04
FIX_ORGIP = 0x08
FORCE_NULL_ADDR = 0x10

FLAG_NAMES = {
    "add-dir-active": ADD_ADIRECTION,
    "rewrite-media-ip": FIX_MEDIP,
    "add-no-rtpproxy": ADD_ANORTPPROXY,
    "rewrite-origin-ip": FIX_ORGIP,
    "rewrite-null-ips": FORCE_NULL_ADDR,
}

SKIP_OLD_ORIGIN = 1
SKIP_OLD_MEDIA = 2


def parse_sdp_flags(value: object) -> int:
    text = str(value).strip()
    if text.isdigit() or text.lower().startswith("0x"):
        return int(text, 0)  # the 2.x numeric form
    flags = 0
    for name in text.split(","):
        name = name.strip()
        if name not in FLAG_NAMES:
            raise FixupError(f"fix_nated_sdp: unknown flag {name!r} ({', '.join(FLAG_NAMES)})")
        flags |= FLAG_NAMES[name]
    return flags


def parse_oldip_skip(value: object) -> int:
    skip = 0
    for ch in str(value or ""):
        if ch == "c":
            skip |= SKIP_OLD_MEDIA
        elif ch == "o":
            skip |= SKIP_OLD_ORIGIN
        elif ch != " ":
            raise FixupError(f"invalid old ip's fields to skip flag {ch!r} (use c and/or o)")
    return skip


_LINE_IP = re.compile(rb"(?m)^(?P<key>[co])=(?P<rest>[^\r\n]*)")
_IP_TOKEN = re.compile(rb"(?:^|[ \t])IP(?P<ver>[46])[ \t]+(?P<addr>[^ \t\r\n]+)")


class SdpFixError(Exception):
    pass


def _rewrite(
    sdp: bytes, key: bytes, new_ip: bytes, preserve: bool, force_null: bool
) -> tuple[bytes, list[bytes]]:
    """Every `key=` line's address replaced; the old-address lines to append."""
    out: list[bytes] = []
    old_lines: list[bytes] = []
    pos = 0
    found = False
    for match in _LINE_IP.finditer(sdp):
        if match.group("key") != key:
            continue
        token = _IP_TOKEN.search(match.group("rest"))
        if token is None:
            raise SdpFixError(f"no `IP[4|6]' in `{key.decode()}=' field")
        if token.group("ver") != b"4":
            raise SdpFixError(f"not an IPv4 address in '{key.decode()}=' SDP")
        found = True
        old = token.group("addr")
        if (old == b"0.0.0.0" and not force_null) or old == new_ip:
            continue
        start = match.start("rest") + token.start("addr")
        end = match.start("rest") + token.end("addr")
        out.append(sdp[pos:start])
        out.append(new_ip)
        pos = end
        if preserve:
            old_lines.append(b"\r\na=old" + (b"cip:" if key == b"c" else b"oip:") + old)
    if not found:
        raise SdpFixError(f"can't extract '{key.decode()}=' IP from the SDP")
    out.append(sdp[pos:])
    return b"".join(out), old_lines


def fix_sdp(
    sdp: bytes, flags: int, new_ip: str, nortpproxy: str, sdp_lines: str | None, oldip_skip: int
) -> bytes:
    """One SDP body, fixed; raises SdpFixError as OpenSIPS fails (-1)."""
    trimmed = sdp.rstrip(b" \t\r\n")
    tail = sdp[len(trimmed):]
    if not trimmed:
        return sdp
    appended: list[bytes] = []
    if flags & (ADD_ADIRECTION | ADD_ANORTPPROXY):
        if sdp_lines:
            appended.append(sdp_lines.encode("utf-8", "surrogateescape"))
        if flags & ADD_ANORTPPROXY and nortpproxy:
            appended.append(b"\r\n" + nortpproxy.encode("utf-8", "surrogateescape"))
        if flags & ADD_ADIRECTION:
            appended.append(b"\r\na=direction:active")
    force_null = bool(flags & FORCE_NULL_ADDR)
    ip = new_ip.encode("ascii", "replace")
    body = trimmed
    if flags & FIX_ORGIP:
        body, old = _rewrite(body, b"o", ip, not oldip_skip & SKIP_OLD_ORIGIN, force_null)
        appended.extend(old)
    if flags & FIX_MEDIP:
        body, old = _rewrite(body, b"c", ip, not oldip_skip & SKIP_OLD_MEDIA, force_null)
        appended.extend(old)
    return body + b"".join(appended) + tail


def _boundary(ctype: str) -> str | None:
    m = re.search(r'(?i)boundary\s*=\s*"?([^";]+)"?', ctype)
    return m.group(1) if m else None


def _part_is_sdp(headers: bytes) -> bool:
    for line in headers.split(b"\n"):
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() in (b"content-type", b"c"):
            return value.split(b";")[0].strip().lower() == b"application/sdp"
    return False


def fix_message_sdp(
    msg: SipMessage, flags: int, new_ip: str, nortpproxy: str, sdp_lines: str | None, oldip_skip: int
) -> int:
    body = msg.body
    ctype = (msg.header("content-type") or "").strip()
    media = ctype.split(";")[0].strip().lower()
    if not body:
        log.error("Unable to get bodies from message")
        return -1
    try:
        if media == "application/sdp":
            new = fix_sdp(body, flags, new_ip, nortpproxy, sdp_lines, oldip_skip)
        elif media.startswith("multipart/") and (boundary := _boundary(ctype)):
            delim = b"--" + boundary.encode("latin-1", "replace")
            chunks = body.split(delim)
            for i in range(1, len(chunks)):
                chunk = chunks[i]
                if chunk.startswith(b"--"):
                    break
                head_end = chunk.find(b"\r\n\r\n")
                if head_end < 0 or not _part_is_sdp(chunk[:head_end]):
                    continue
                content = chunk[head_end + 4:]
                # the CRLF before the next delimiter belongs to the delimiter (RFC 2046)
                core, crlf = (content[:-2], content[-2:]) if content.endswith(b"\r\n") else (content, b"")
                fixed = fix_sdp(core, flags, new_ip, nortpproxy, sdp_lines, oldip_skip)
                chunks[i] = chunk[:head_end + 4] + fixed + crlf
            new = delim.join(chunks)
        else:
            return 1  # no SDP: nothing to do
    except SdpFixError as exc:
        log.error("%s", exc)
        return -1
    if new != body:
        msg.set_body(new)
    return 1
