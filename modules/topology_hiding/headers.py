"""Header surgery topology hiding does on requests and replies, as lumps (no I/O).

Deletions use set_lump() so that they win over an edit another layer made on the same header
(the engine's received/rport fix of the top Via); the restored Vias and Record-Routes of a reply
are inserted before its first header, in that order, as OpenSIPS anchors them.
"""

from __future__ import annotations

from pysips.core.api import Socket
from pysips.core.via_fix import first_via_line, replace_top_via
from pysips.sip.headers import split_commas
from pysips.sip.message import SipMessage
from pysips.sip.receive import ReceiveInfo
from pysips.sip.uri import SipUri

from .encoding import HiddenInfo, encode_info

# topology_hiding() flags: OpenSIPS's bits (they travel in the encoded contact as a number)
ONGOING = 1 << 1
KEEP_USER = 1 << 2
HIDE_CALLID = 1 << 3
DID_IN_USER = 1 << 4
KEEP_ADV_A = 1 << 5
KEEP_ADV_B = 1 << 6
FLAG_LETTERS = {"U": KEEP_USER, "C": HIDE_CALLID, "D": DID_IN_USER, "a": KEEP_ADV_A, "A": KEEP_ADV_B}


def delete_all(msg: SipMessage, name: str) -> None:
    for start, end in msg.header_spans(name):
        msg.set_lump(start, end, b"")


def route_entries(msg: SipMessage, reverse: bool = False) -> list[str]:
    """The Record-Route entries of a message as written (name-addr and params), top first."""
    entries = [e.strip() for value in msg.headers("record-route") for e in split_commas(value) if e.strip()]
    return list(reversed(entries)) if reverse else entries


def restored_vias(request: SipMessage, rcv: ReceiveInfo, force_rport: bool) -> bytes:
    """The request's Via lines as the reply going back to its sender must carry them. As OpenSIPS
    rebuilds them: with rport asked for (or force_rport()), the top Via gets received and rport
    right after host:port (replacing any it had); otherwise the lines are copied as received."""
    lines = request.raw_header_bytes("via")
    via = request.top_via
    if not lines or via is None:
        return b"".join(lines)
    if not (force_rport or via.rport is not None):
        return b"".join(lines)
    head, sep, params_text = via.text.partition(";")
    params = [p for p in params_text.split(";") if p] if sep else []
    kept = [p for p in params if p.split("=", 1)[0].strip().lower() not in ("received", "rport")]
    new_text = ";".join([head.rstrip(), f"received={rcv.src_ip}", f"rport={rcv.src_port}", *kept])
    first = first_via_line(request) or lines[0]
    fixed = replace_top_via(first, via.text, new_text)
    if fixed is None:
        fixed = f"Via: {new_text}\r\n".encode("utf-8", "surrogateescape")
    return fixed + b"".join(lines[1:])


def socket_address(sock: Socket) -> str:
    """host[:port][;transport=x] as OpenSIPS substitutes the sending socket (SUBST_SND_ALL)."""
    text = sock.host_for_headers
    if sock.advertised_port is not None or sock.port != 5060:
        text += f":{sock.port_for_headers}"
    if sock.proto != "udp":
        text += f";transport={sock.proto}"
    return text


def _first_contact(msg: SipMessage) -> tuple[str, str, dict[str, str | None], dict[str, str | None]] | None:
    """(uri, user, uri params, header params) of the first Contact, None without one."""
    contacts = msg.contacts()
    if not isinstance(contacts, list) or not contacts or contacts[0].star:
        return None
    contact = contacts[0]
    parsed = contact.parsed_uri()
    if not isinstance(parsed, SipUri):
        return contact.uri, "", {}, dict(contact.params)
    return contact.uri, parsed.user or "", dict(parsed.params), dict(contact.params)


def _params(values: dict[str, str | None], names: tuple[str, ...]) -> str:
    out = []
    for name in names:
        for key, value in values.items():
            if key.lower() == name.lower():
                out.append(f";{key}" if value is None else f";{key}={value}")
    return "".join(out)


def replace_contact(msg: SipMessage, value: str) -> bool:
    """The first Contact header's value replaced by `value` (its name kept as written)."""
    spans = msg.header_spans("contact")
    if not spans:
        return False
    start, end = spans[0]
    name = msg.raw[start:end].split(b":", 1)[0].rstrip()
    msg.set_lump(start, end, name + b": " + value.encode("utf-8", "surrogateescape") + b"\r\n")
    return True


def hidden_contact(msg: SipMessage, *, flags: int, routes: str | None, user: str | None, out: Socket,
                   bind: str, param: str, password: str, scheme: str,
                   uri_params: tuple[str, ...], hdr_params: tuple[str, ...]) -> str | None:
    """Dialog-less mode: "<sip:[user@]OURADDR;thinfo=...>" for `msg`, None when it has no Contact.
    `routes` None: the message's own Record-Routes (reversed in a reply)."""
    first = _first_contact(msg)
    if first is None:
        return None
    uri, contact_user, cparams, hparams = first
    if routes is None:
        routes = ",".join(route_entries(msg, reverse=not msg.is_request))
    if not user and flags & KEEP_USER:
        user = contact_user
    encoded = encode_info(HiddenInfo(routes, uri, flags, bind), password, scheme)
    who = f"{user}@" if user else ""
    return (f"<sip:{who}{socket_address(out)};{param}={encoded}{_params(cparams, uri_params)}>"
            f"{_params(hparams, hdr_params)}")


def dialog_contact(msg: SipMessage, *, did: str, flags: int, user: str | None, out: Socket, rr_param: str,
                   uri_params: tuple[str, ...], hdr_params: tuple[str, ...]) -> str | None:
    """Dialog mode: "<sip:[user@]OURADDR;did=...>" or, with "D", "<sip:user.did.E.I@OURADDR>"."""
    first = _first_contact(msg)
    if first is None:
        return None
    _uri, contact_user, cparams, hparams = first
    # as OpenSIPS: in dialog mode a username (given or the party's) shows only with "U"
    user = (user or contact_user) if flags & KEEP_USER else ""
    suffix = ""
    if flags & DID_IN_USER:
        user = f"{user or 'X'}.{rr_param}.{did}"
    else:
        suffix = f";{rr_param}={did}"
    who = f"{user}@" if user else ""
    return (f"<sip:{who}{socket_address(out)}{suffix}{_params(cparams, uri_params)}>"
            f"{_params(hparams, hdr_params)}")
