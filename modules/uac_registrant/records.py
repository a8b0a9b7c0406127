"""A registrant record (a row of the `registrant` table) and its registration state."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# OpenSIPS's states, in its order (reg_list prints the names)
NOT_REGISTERED = 0
REGISTERING = 1
AUTHENTICATING = 2
REGISTERED = 3
REGISTER_TIMEOUT = 4
INTERNAL_ERROR = 5
WRONG_CREDENTIALS = 6
REGISTRAR_ERROR = 7
UNREGISTERING = 8
AUTHENTICATING_UNREGISTER = 9

STATE_NAMES = (
    "NOT_REGISTERED_STATE", "REGISTERING_STATE", "AUTHENTICATING_STATE", "REGISTERED_STATE",
    "REGISTER_TIMEOUT_STATE", "INTERNAL_ERROR_STATE", "WRONG_CREDENTIALS_STATE",
    "REGISTRAR_ERROR_STATE", "UNREGISTERING_STATE", "AUTHENTICATING_UNREGISTER_STATE",
)
FAILED_STATES = (REGISTER_TIMEOUT, INTERNAL_ERROR, WRONG_CREDENTIALS, REGISTRAR_ERROR)
WAITING_STATES = (REGISTERING, AUTHENTICATING, UNREGISTERING, AUTHENTICATING_UNREGISTER)


@dataclass(slots=True)
class Registrant:
    registrar: str  # the R-URI of the REGISTERs
    aor: str  # To
    binding: str  # the Contact URI
    proxy: str = ""  # outbound proxy
    third_party: str = ""  # From, when not the AOR
    username: str = ""
    password: str = ""
    binding_params: str = ""  # ";reg-id=1;+sip.instance=..." appended to the Contact
    expires: int = 3600  # granted by the registrar (starts as wanted)
    wanted_expires: int = 3600
    socket: str = ""  # forced_socket
    enabled: bool = True
    state: int = NOT_REGISTERED
    call_id: str = ""
    from_tag: str = ""
    cseq: int = 0
    last_register_sent: float = 0.0  # wall clock
    registration_timeout: float = 0.0  # wall clock: refresh or retry from then on

    @property
    def key(self) -> tuple[str, str, str]:
        """How MI commands name a record: aor, contact, registrar."""
        return (self.aor, self.binding, self.registrar)

    def new_call_id(self, now_text: str) -> None:
        """A new Call-ID and From tag (at start and after a failure), from the AOR and the time:
        the MD5 of both in hex, its first 27 characters the Call-ID, the last 5 the tag."""
        digest = hashlib.md5(f"{self.aor}{now_text}".encode(), usedforsecurity=False).hexdigest()
        self.call_id = digest[:27]
        self.from_tag = digest[27:]
        self.cseq = 0

    def next_cseq(self) -> int:
        self.cseq += 1
        return self.cseq
