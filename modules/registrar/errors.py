"""Why a registration was refused: the reply code, its reason, and OpenSIPS's P-Registrar-Error text."""

from __future__ import annotations


class RegError(Exception):
    __slots__ = ("code", "headers", "info", "reason")

    def __init__(self, code: int, info: str, headers: tuple[str, ...] = ()) -> None:
        super().__init__(info)
        self.code = code
        self.reason = _REASONS.get(code, "Server Internal Error")
        self.info = info
        self.headers = headers


_REASONS = {
    400: "Bad Request",
    420: "Bad Extension",
    423: "Interval Too Brief",
    500: "Server Internal Error",
    503: "Service Unavailable",
}

# P-Registrar-Error texts, as OpenSIPS words them (clients and tests match on them)
INTERNAL = "Server Internal Error"
INV_CSEQ = "Invalid CSeq number"
AOR_LEN = "Address Of Record too long"
AOR_PARSE = "Error while parsing AOR"
INV_EXP = "Invalid expires param in contact"
INV_Q = "Invalid q param in contact"
PARSE = "Message parse error"
PARSE_CONT = "Contact parse error"
STAR_EXP = "* used in contact and expires is not zero"
STAR_CONT = "* used in contact and more than 1 contact"
TOO_MANY = "Too many registered contacts"
CONTACT_LEN = "Contact/received too long"
PARSE_PATH = "Path parse error"
PATH_UNSUP = "No support for found Path indicated"
UL_INS_C = "usrloc_contact_insert failed"
UL_UPD_C = "usrloc_contact_update failed"
UL_DEL_C = "usrloc_contact_delete failed"
INTERVAL_BRIEF = "Interval too brief"
