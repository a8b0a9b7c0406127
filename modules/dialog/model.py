"""One dialog (OpenSIPS dlg_cell): its identity, its two legs, its state and what the script
attached to it (values, profiles, flags). Pure data and the state rules; no I/O.

States and their numbers are OpenSIPS's (`$DLG_status`, `dlg_list`'s "state", the `dialog`
table): 1 unconfirmed (INVITE seen, no reply yet), 2 early (a provisional reply), 3 confirmed
without ACK (2xx), 4 confirmed (ACK seen), 5 deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNCONFIRMED = 1
EARLY = 2
CONFIRMED_NA = 3
CONFIRMED = 4
DELETED = 5

# Internal flags (OpenSIPS DLG_FLAG_*: the same bits, as in the table's `flags` column).
FLAG_BYEONTIMEOUT = 1 << 3
FLAG_PING_CALLER = 1 << 5
FLAG_PING_CALLEE = 1 << 6
FLAG_FROM_DB = 1 << 7
FLAG_REINVITE_PING_CALLER = 1 << 11
FLAG_REINVITE_PING_CALLEE = 1 << 12
FLAG_END_ON_RACE_CONDITION = 1 << 15
# "auto-prack" (newer OpenSIPS): the dialog PRACKs the callee's reliable provisional replies
# itself. 3.6 has no such bit; the first free one after DLG_FLAG_SYNCED.
FLAG_AUTO_PRACK = 1 << 20

# create_dialog() flags: the 2.x letters and the later names (as SIPssert's scripts spell them).
LETTER_FLAGS = {
    "P": FLAG_PING_CALLER,
    "p": FLAG_PING_CALLEE,
    "B": FLAG_BYEONTIMEOUT,
    "R": FLAG_REINVITE_PING_CALLER,
    "r": FLAG_REINVITE_PING_CALLEE,
    "E": FLAG_END_ON_RACE_CONDITION,
}
NAMED_FLAGS = {
    "options-ping-caller": FLAG_PING_CALLER,
    "options-ping-callee": FLAG_PING_CALLEE,
    "bye-on-timeout": FLAG_BYEONTIMEOUT,
    "reinvite-ping-caller": FLAG_REINVITE_PING_CALLER,
    "reinvite-ping-callee": FLAG_REINVITE_PING_CALLEE,
    "end-on-race-condition": FLAG_END_ON_RACE_CONDITION,
    "auto-prack": FLAG_AUTO_PRACK,
}

# module_flags bit topology_hiding sets (OpenSIPS TOPOH_ONGOING): the dialog's own Record-Route
# is absent and the callee's route set is every Record-Route of its reply
MODULE_FLAG_TOPOH = 1 << 1

# $DLG_dir
DIR_NONE = 0
DIR_DOWNSTREAM = 1
DIR_UPSTREAM = 2


class FlagError(ValueError):
    pass


def parse_create_flags(text: str) -> int:
    """create_dialog()'s flags: "Pp B" letters, or comma-separated names; unknown ones refused
    (OpenSIPS skips an unknown letter with a debug line; a misspelt name is better caught at load)."""
    text = text.strip()
    flags = 0
    if not text:
        return 0
    if "-" in text or "," in text or text.lower() in NAMED_FLAGS:
        for name in (part.strip().lower() for part in text.split(",")):
            if not name:
                continue
            if name not in NAMED_FLAGS:
                raise FlagError(f"unknown create_dialog flag {name!r}")
            flags |= NAMED_FLAGS[name]
    else:
        for letter in text:
            if letter in LETTER_FLAGS:
                flags |= LETTER_FLAGS[letter]
            elif not letter.isspace():
                raise FlagError(f"unknown create_dialog flag {letter!r}")
    # OPTIONS and re-INVITE pinging of the same party exclude each other: re-INVITE wins.
    if flags & FLAG_REINVITE_PING_CALLER:
        flags &= ~FLAG_PING_CALLER
    if flags & FLAG_REINVITE_PING_CALLEE:
        flags &= ~FLAG_PING_CALLEE
    return flags


def reverse_hex(number: int) -> str:
    """OpenSIPS's int2reverse_hex: the hex digits of `number`, least significant first."""
    if number == 0:
        return "0"
    digits = []
    while number:
        digits.append("0123456789abcdef"[number & 0xF])
        number >>= 4
    return "".join(digits)


def parse_reverse_hex(text: str) -> int | None:
    if not text or len(text) > 8:
        return None
    value = 0
    for shift, char in enumerate(text.lower()):
        digit = "0123456789abcdef".find(char)
        if digit < 0:
            return None
        value |= digit << (4 * shift)
    return value


def parse_did(did: str) -> tuple[int, int] | None:
    """"3a1.5f" -> (h_entry, h_id)."""
    entry, sep, ident = did.partition(".")
    if not sep:
        return None
    h_entry = parse_reverse_hex(entry)
    h_id = parse_reverse_hex(ident)
    if h_entry is None or h_id is None:
        return None
    return h_entry, h_id


@dataclass(slots=True)
class Leg:
    """One side of the call as seen from the proxy: the party's tag, Contact, the route set
    towards it, the last CSeq of its requests and the socket we talk to it from."""

    tag: str = ""
    contact: str = ""
    route_set: list[str] = field(default_factory=list)  # Route values towards this party, in order
    cseq: int = 0  # the last CSeq of a request this party sent
    # Requests we generated in this party's CSeq space (pings, BYEs towards the other party):
    # its later requests are relayed with their CSeq raised by as many, and the replies lowered
    # back, so the other party sees one increasing sequence (OpenSIPS's cseq maps).
    gen_offset: int = 0
    bind_addr: str = ""  # our socket, "udp:IP:PORT"
    # (CSeq as received, shift it was relayed with) of this party's last INVITE: its ACK gets
    # the same shift, whatever we generated since (the initial INVITE's ACK: none).
    invite_shift: tuple[int, int] = (0, 0)
    # RFC 3262, for a callee's early leg: the last reliable provisional reply (RSeq, CSeq number,
    # method: what a PRACK's RAck names) and the highest RSeq we PRACKed ourselves.
    reliable: tuple[int, int, str] | None = None
    rseq_pracked: int = 0
    # the provisional reply an early leg was learnt from, until a request needs its Contact and
    # route set (parsed then: most early dialogs never carry a request)
    learnt_from: Any = None

    def next_generated_cseq(self) -> int:
        """The CSeq of a request we send in this party's name."""
        self.gen_offset += 1
        return self.cseq + self.gen_offset


@dataclass(slots=True, eq=False)  # a dialog is itself: compared by identity
class Dialog:
    h_entry: int
    h_id: int
    callid: str
    from_uri: str
    to_uri: str
    caller: Leg
    callee: Leg = field(default_factory=Leg)
    state: int = UNCONFIRMED
    flags: int = 0  # FLAG_* (create_dialog's)
    user_flags: int = 0  # $DLG_flags / set_dlg_flag
    # other modules' bits (OpenSIPS mod_flags: topology_hiding's), kept in the table's module_flags
    module_flags: int = 0
    start_ts: int = 0  # wall-clock seconds of the confirmation (0 before)
    created_ts: float = 0.0
    timeout: int = 0  # lifetime in seconds once confirmed ($DLG_timeout)
    expires_at: float = 0.0  # engine clock; 0: no timer running
    timer: Any = None  # the engine timer handle
    vals: dict[str, str | int] = field(default_factory=dict)
    profiles: list[tuple[str, str]] = field(default_factory=list)  # (profile, value or "")
    end_reason: str | None = None
    del_delay: int = 0  # $DLG_del_delay: seconds it stays listed once deleted (0: delete_delay)
    caller_sdp: bytes = b""  # the SDP of the INVITE and of the 2xx (dlg_list's caller_sdp/callee_sdp)
    callee_sdp: bytes = b""
    _did: str = ""

    def __post_init__(self) -> None:
        self._did = f"{reverse_hex(self.h_entry)}.{reverse_hex(self.h_id)}"
    # script routes (pysips.script.exports.RouteRef) run on answer, hangup and timeout
    routes: dict[str, Any] = field(default_factory=dict)
    ping_pending: dict[str, bool] = field(default_factory=dict)  # leg -> waiting for a ping answer
    # Early dialogs (RFC 3261 12.1: one per To tag of a provisional reply): the callee's tag ->
    # its leg (Contact, route set, reliable provisional), until the 2xx picks the callee.
    early_legs: dict[str, Leg] = field(default_factory=dict)
    last_early_tag: str = ""  # the To tag of the latest provisional with one
    db_dirty: bool = True
    db_stored: bool = False

    @property
    def did(self) -> str:
        return self._did

    @property
    def db_id(self) -> int:
        return (self.h_entry << 32) + self.h_id

    @property
    def confirmed(self) -> bool:
        return self.state in (CONFIRMED_NA, CONFIRMED)

    @property
    def ended(self) -> bool:
        return self.state == DELETED

    def direction_of(self, from_tag: str | None, to_tag: str | None) -> int:
        """DIR_DOWNSTREAM for a request from the caller, DIR_UPSTREAM from the callee, DIR_NONE
        when the tags are not this dialog's (OpenSIPS match_dialog on the tags)."""
        if from_tag == self.caller.tag and self._is_callee_tag(to_tag):
            return DIR_DOWNSTREAM
        if to_tag == self.caller.tag and self._is_callee_tag(from_tag):
            return DIR_UPSTREAM
        return DIR_NONE

    def _is_callee_tag(self, tag: str | None) -> bool:
        """The callee's tag once confirmed; before, one of the early dialogs' tags (a request
        with another To tag, like the ACK of a 407 its UA gave a new branch, is not this
        dialog's); with no callee tag known at all, only a request without one."""
        if self.callee.tag:
            return tag == self.callee.tag
        if self.early_legs:
            return tag in self.early_legs
        return not tag
