"""One registered binding (OpenSIPS ucontact) and the method bits of the `methods` column."""

from __future__ import annotations

# ucontact flags (the `flags` column)
FL_MEM = 1  # kept in memory only: never written to the database
FL_EXTRA_HOP = 2

# write-back states
CLEAN = 0
NEW = 1  # not in the database yet
DIRTY = 2  # changed since the last flush

Q_UNSPECIFIED = -1.0

# OpenSIPS METHOD_* bits, so the `methods` column means the same to both servers
METHOD_BITS: dict[str, int] = {
    "INVITE": 1, "CANCEL": 2, "ACK": 4, "BYE": 8, "INFO": 16, "OPTIONS": 32, "UPDATE": 64,
    "REGISTER": 128, "MESSAGE": 256, "SUBSCRIBE": 512, "NOTIFY": 1024, "PRACK": 2048,
    "REFER": 4096, "PUBLISH": 8192,
}
METHOD_OTHER = 16384
ALL_METHODS = 0xFFFFFFFF


def method_bit(method: str) -> int:
    return METHOD_BITS.get(method.upper(), METHOD_OTHER)


# Allow values -> masks: a fleet of phones sends a handful of distinct Allow headers, so every
# REGISTER after the first of its kind skips the split (bounded: odd values are not kept forever)
_MASKS: dict[str, int | None] = {}
_MASKS_MAX = 256


def methods_mask(text: str) -> int | None:
    """An Allow header value (or the `methods` contact parameter) as a mask; None if empty."""
    try:
        return _MASKS[text]
    except KeyError:
        pass
    mask = 0
    for part in text.replace('"', "").split(","):
        name = part.strip()
        if name:
            mask |= method_bit(name)
    if len(_MASKS) < _MASKS_MAX:
        _MASKS[text] = mask or None
    return mask or None


class UContact:
    """A binding of an address-of-record. Times are wall-clock seconds; `expires` 0 means never."""

    __slots__ = (
        "aor",
        "attr",
        "callid",
        "cflags",
        "conn_id",
        "contact_id",
        "cseq",
        "expires",
        "flags",
        "instance",
        "last_modified",
        "methods",
        "path",
        "q",
        "received",
        "reg_id",
        "socket",
        "state",
        "uri",
        "user_agent",
    )

    def __init__(
        self,
        aor: str,
        uri: str,
        expires: int,
        *,
        q: float = Q_UNSPECIFIED,
        callid: str = "",
        cseq: int = 0,
        flags: int = 0,
        cflags: int = 0,
        user_agent: str = "",
        received: str | None = None,
        path: str | None = None,
        socket: str | None = None,
        methods: int | None = None,
        instance: str | None = None,
        reg_id: int = 0,
        conn_id: int = 0,
        last_modified: float = 0.0,
        contact_id: int = 0,
        attr: str | None = None,
    ) -> None:
        self.aor = aor
        self.attr = attr  # registrar's attr_avp value, stored with the binding
        self.uri = uri
        self.expires = expires
        self.q = q
        self.callid = callid
        self.cseq = cseq
        self.flags = flags
        self.cflags = cflags
        self.user_agent = user_agent
        self.received = received
        self.path = path
        self.socket = socket
        self.methods = methods
        self.instance = instance
        self.reg_id = reg_id
        self.conn_id = conn_id
        self.last_modified = last_modified
        self.contact_id = contact_id
        self.state = NEW

    def is_valid(self, now: float) -> bool:
        """Not expired (OpenSIPS VALID_CONTACT)."""
        return self.expires == 0 or self.expires > now

    def remaining(self, now: float) -> int:
        return 0 if self.expires == 0 else max(0, self.expires - int(now))

    def allows(self, method: str) -> bool:
        return self.methods is None or bool(self.methods & method_bit(method))

    def update_from(self, other: UContact) -> None:
        """Take the binding data of a refreshing registration; identity (ids) stays."""
        self.uri = other.uri
        self.expires = other.expires
        self.q = other.q
        self.callid = other.callid
        self.cseq = other.cseq
        self.flags = other.flags
        self.cflags = other.cflags
        self.user_agent = other.user_agent
        self.received = other.received
        self.path = other.path
        self.socket = other.socket
        self.methods = other.methods
        self.instance = other.instance
        self.attr = other.attr
        self.reg_id = other.reg_id
        self.conn_id = other.conn_id
        self.last_modified = other.last_modified

    def __repr__(self) -> str:
        return f"<UContact {self.aor} {self.uri} expires={self.expires} q={self.q}>"
