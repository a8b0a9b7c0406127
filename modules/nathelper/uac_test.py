"""nat_uac_test(): is the sender behind a NAT? Flags as 3.x names or the 2.x number."""

from __future__ import annotations

from pysips.script.errors import FixupError
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.receive import ReceiveInfo

from .addresses import host_and_port, is_private, same_ip

PRIVATE_CONTACT = 1
DIFF_IP_SRC_VIA = 2
PRIVATE_VIA = 4
PRIVATE_SDP = 8
DIFF_PORT_SRC_VIA = 16
DIFF_IP_SRC_CONTACT = 32
DIFF_PORT_SRC_CONTACT = 64
CARRIER_GRADE_NAT = 128

NAMES = {
    "private-contact": PRIVATE_CONTACT, "diff-ip-src-via": DIFF_IP_SRC_VIA, "private-via": PRIVATE_VIA,
    "private-sdp": PRIVATE_SDP, "diff-port-src-via": DIFF_PORT_SRC_VIA,
    "diff-ip-src-contact": DIFF_IP_SRC_CONTACT, "diff-port-src-contact": DIFF_PORT_SRC_CONTACT,
    "carrier-grade-nat": CARRIER_GRADE_NAT,
}


def parse_flags(value: object) -> int:
    text = str(value).strip()
    if text.isdigit():
        mask = int(text)
        if mask > 255:
            raise FixupError(f"nat_uac_test: flags {mask} out of range (1..255)")
        return mask
    mask = 0
    for item in text.split(","):
        name = item.strip()
        if not name:
            continue
        bit = NAMES.get(name)
        if bit is None:
            raise FixupError(f"nat_uac_test: unknown test {name!r} (one of: {', '.join(NAMES)})")
        mask |= bit
    if not mask:
        raise FixupError("nat_uac_test: no test given")
    return mask


def _first_contact(msg: SipMessage) -> tuple[str, int] | None:
    contacts = msg.contacts()
    if isinstance(contacts, ParseError) or not contacts or contacts[0].star:
        return None
    return host_and_port(contacts[0].uri)


def nat_uac_test(msg: SipMessage, rcv: ReceiveInfo, flags: int) -> int:
    cgn = bool(flags & CARRIER_GRADE_NAT)
    via = msg.top_via
    if via is not None:
        if flags & DIFF_IP_SRC_VIA and not same_ip(via.host, rcv.src_ip):
            return 1
        if flags & PRIVATE_VIA and is_private(via.host, cgn):
            return 1
        if flags & DIFF_PORT_SRC_VIA and (via.port or 5060) != rcv.src_port:
            return 1
    if flags & (PRIVATE_CONTACT | DIFF_IP_SRC_CONTACT | DIFF_PORT_SRC_CONTACT):
        contact = _first_contact(msg)
        if contact is not None:
            host, port = contact
            if flags & PRIVATE_CONTACT and is_private(host, cgn):
                return 1
            if flags & DIFF_IP_SRC_CONTACT and not same_ip(host, rcv.src_ip):
                return 1
            if flags & DIFF_PORT_SRC_CONTACT and port != rcv.src_port:
                return 1
    if flags & PRIVATE_SDP:
        sdp = msg.sdp()
        if (sdp is not None and not isinstance(sdp, ParseError)
                and any(is_private(addr, cgn) for addr in sdp.addresses())):
            return 1
    return -1
