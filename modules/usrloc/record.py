"""The bindings of one address-of-record (OpenSIPS urecord) and how a new Contact is matched."""

from __future__ import annotations

from .contact import UContact

MATCH_CONTACT = 0  # the Contact URI alone (RFC 3261)
MATCH_CONTACT_CALLID = 1  # URI and Call-ID

# get_contact results besides a contact
NOT_FOUND = 1
BAD_CSEQ = -1  # same Call-ID with an older (or, with no grace, equal) CSeq: out of order
RETRANSMISSION = -2  # same Call-ID and CSeq within cseq_delay: answer, change nothing


class URecord:
    __slots__ = ("aor", "aorhash", "contacts", "label", "next_clabel", "time_order")

    def __init__(self, aor: str, time_order: bool = False) -> None:
        self.aor = aor
        # contact-id parts (labels.py), set when the record first hands out an id
        self.aorhash = 0
        self.label: int | None = None
        self.next_clabel = 0
        # by q, highest first, then oldest first; or most recent first (desc_time_order)
        self.contacts: list[UContact] = []
        self.time_order = time_order

    def add(self, contact: UContact) -> None:
        contacts = self.contacts
        if self.time_order:
            i = 0
            while i < len(contacts) and contacts[i].last_modified > contact.last_modified:
                i += 1
            contacts.insert(i, contact)
            return
        # after every contact with the same or a higher q: equal q keep their arrival order
        # (OpenSIPS's mem_insert_ucontact)
        i = 0
        while i < len(contacts) and contacts[i].q >= contact.q:
            i += 1
        contacts.insert(i, contact)

    def resort(self, contact: UContact) -> None:
        self.contacts.remove(contact)
        self.add(contact)

    def remove(self, contact: UContact) -> None:
        if contact in self.contacts:
            self.contacts.remove(contact)

    def valid(self, now: float) -> list[UContact]:
        return [c for c in self.contacts if c.is_valid(now)]

    def match(self, uri: str, callid: str, instance: str | None, reg_id: int, mode: int) -> UContact | None:
        # RFC 5626 section 6: a binding with the same instance and reg-id is the same flow,
        # whatever its Contact URI (a browser reconnecting gets a new source port).
        if instance is not None and reg_id:
            for c in self.contacts:
                if c.reg_id == reg_id and c.instance == instance:
                    return c
        for c in self.contacts:
            if c.uri == uri and (mode != MATCH_CONTACT_CALLID or c.callid == callid):
                return c
        return None


def check_cseq(found: UContact, callid: str, cseq: int, allow_dup: bool, cseq_delay: int,
               now: float) -> int:
    """0 when the update may proceed, else BAD_CSEQ or RETRANSMISSION (RFC 3261 10.3 step 7)."""
    if found.callid != callid:
        return 0
    adjusted = cseq + 1 if allow_dup else cseq
    if adjusted > found.cseq:
        return 0
    if adjusted == found.cseq and found.last_modified + cseq_delay > now:
        return RETRANSMISSION
    return BAD_CSEQ
