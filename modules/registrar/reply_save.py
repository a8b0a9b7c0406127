"""save() in an onreply_route: store the binding a REGISTER relayed upstream got (OpenSIPS
registrar save.c, the SIP_REPLY path).

The request is the transaction's (tm's `request_context`). Its first Contact and requested expiry
(Contact expires, else Expires, else default_expires) are looked up among the reply's Contacts:
by the URI in `mcontact_avp` when the script stored what it sent upstream there, else by the
request's Contact URI. When the upstream registrar answered with an expires for it, the binding
saved is `<request Contact URI>;expires=<that value>`; otherwise the request's own Contacts are.
No reply is sent (the upstream one is relayed). With `mcontact_avp`, the matched Contact of the
relayed reply is given back the URI the client registered.
"""

from __future__ import annotations

import copy
import logging

from pysips.core.services import TRANSACTIONS, TransactionInfo
from pysips.script.context import MsgContext
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage
from pysips.sip.nameaddr import Contact, parse_contacts
from pysips.sip.uri import SipUri, parse_uri

from .flags import NO_REPLY, SaveFlags
from .runtime import Registrar
from .save import save

log = logging.getLogger("pysips.registrar")


def _same_uri(a: str, b: str) -> bool:
    """RFC 3261 19.1.4, as far as bindings need it: scheme, user, host, port and transport."""
    ua, ub = parse_uri(a), parse_uri(b)
    if not isinstance(ua, SipUri) or not isinstance(ub, SipUri):
        return a == b
    return (ua.scheme.lower(), ua.user, ua.host.lower(), ua.port, ua.transport) == (
        ub.scheme.lower(), ub.user, ub.host.lower(), ub.port, ub.transport)


def _requested_expires(request: SipMessage, c: Contact, default: int) -> int:
    if "expires" in c.params:
        value = c.params.get("expires") or ""
        return int(value) if value.isdigit() else -1
    header = request.expires()
    return header if header is not None else default


def save_on_reply(reg: Registrar, ctx: MsgContext, domain: str, sflags: SaveFlags, aor: str | None) -> int:
    reply = ctx.msg
    transactions = ctx.process.services.get(TRANSACTIONS)
    if not isinstance(reply, SipMessage) or transactions is None or not transactions.has_transaction(ctx):
        log.error("Transaction not created on Register - can not save on reply")
        return -1
    # the REGISTER as it came in, with where it came from (tm's TransactionInfo)
    transaction: TransactionInfo = ctx.transaction
    rctx = copy.copy(ctx)
    rctx.msg, rctx.rcv = transaction.request, transaction.rcv
    request = rctx.msg
    if not isinstance(request, SipMessage):
        log.error("NULL request - can not save on reply")
        return -1
    request_contacts = request.contacts()
    reply_contacts = reply.contacts()
    if isinstance(request_contacts, ParseError) or isinstance(reply_contacts, ParseError):
        return -1
    first = next((c for c in request_contacts if not c.star), None)
    if first is None:
        return 1  # no Contact in the request: an interrogation
    requested = _requested_expires(request, first, reg.config.default_expires)
    if requested < 0:
        log.error("unable to get expires from [%s]", first.params.get("expires"))
        return -1
    sent = None
    if reg.config.mcontact_avp is not None:
        values = ctx.avps.get(reg.config.mcontact_avp)
        if values and str(values[0]):
            sent = str(values[0])
    binding_uri = sent or first.uri
    matched: Contact | None = None
    forced: list[Contact] | None = None
    if requested:
        for c in reply_contacts:
            if c.star or not _same_uri(binding_uri, c.uri):
                continue
            if c.params.get("expires"):
                matched = c
                parsed = parse_contacts([f"<{first.uri}>;expires={c.params['expires']}"])
                if isinstance(parsed, ParseError):
                    log.error("unable to build the binding for %s", first.uri)
                    return -1
                forced = parsed
                break
    flags = SaveFlags(sflags.flags | NO_REPLY, sflags.max_contacts, sflags.min_expires,
                      sflags.max_expires, sflags.matching_mode)
    ret = save(reg, rctx, domain, flags, aor, forced)
    if sent is not None and matched is not None:
        _restore_contact_uri(reply, matched.uri, first.uri)
    return ret


def _restore_contact_uri(reply: SipMessage, upstream_uri: str, client_uri: str) -> None:
    """In the reply relayed to the client, the Contact carries the URI the client registered."""
    old = upstream_uri.encode("utf-8", "surrogateescape")
    new = client_uri.encode("utf-8", "surrogateescape")
    for start, end in reply.header_spans("contact"):
        line = reply.lump_at(start, end) or reply.raw[start:end]
        at = line.find(old)
        if at >= 0:
            reply.set_lump(start, end, line[:at] + new + line[at + len(old):])
            return
