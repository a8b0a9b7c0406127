"""The SIP message layer, sans-I/O: parsing, headers, URIs, SDP, building and editing messages."""

from pysips.sip.errors import ParseError
from pysips.sip.headers import CSeq
from pysips.sip.message import SipMessage, parse_message
from pysips.sip.nameaddr import Contact, NameAddr
from pysips.sip.receive import ReceiveInfo
from pysips.sip.uri import SipUri, parse_uri
from pysips.sip.via import Via

__all__ = [
    "CSeq",
    "Contact",
    "NameAddr",
    "ParseError",
    "ReceiveInfo",
    "SipMessage",
    "SipUri",
    "Via",
    "parse_message",
    "parse_uri",
]
