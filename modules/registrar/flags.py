"""save() and lookup() flag strings: the 3.x names ("memory-only, max-contacts=5") and the 2.x
letters ("mc5", "p2", "m"), both parsed once at load time."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pysips.script.errors import FixupError

# save flags
MEMORY_ONLY = 1 << 0
NO_REPLY = 1 << 1
SOCKET_HEADER = 1 << 2
PATH_STRICT = 1 << 3
PATH_LAZY = 1 << 4
PATH_OFF = 1 << 5
PATH_RECEIVED = 1 << 6
FORCE_REG = 1 << 7
REQ_CT_ONLY = 1 << 8
PATH_ANY = PATH_STRICT | PATH_LAZY | PATH_OFF

SAVE_NAMES = {
    "memory-only": MEMORY_ONLY, "no-reply": NO_REPLY, "socket-header": SOCKET_HEADER,
    "path-strict": PATH_STRICT, "path-lazy": PATH_LAZY, "path-off": PATH_OFF,
    "path-received": PATH_RECEIVED, "force-registration": FORCE_REG,
    "only-request-contacts": REQ_CT_ONLY,
}
SAVE_LETTERS = {"m": MEMORY_ONLY, "r": NO_REPLY, "s": SOCKET_HEADER, "v": PATH_RECEIVED,
                "f": FORCE_REG, "o": REQ_CT_ONLY}
PATH_LETTERS = {"0": PATH_OFF, "1": PATH_LAZY, "2": PATH_STRICT}

# lookup flags
METHOD_FILTER = 1 << 0
NO_BRANCHES = 1 << 1
GLOBAL = 1 << 2
LATENCY_SORT = 1 << 3
BRANCH_AOR = 1 << 4
TO_BRANCHES_ONLY = 1 << 5
UA_ICASE = 1 << 6
UA_EXTENDED = 1 << 7

LOOKUP_NAMES = {
    "method-filtering": METHOD_FILTER, "no-branches": NO_BRANCHES, "global": GLOBAL,
    "sort-by-latency": LATENCY_SORT, "branch": BRANCH_AOR, "to-branches-only": TO_BRANCHES_ONLY,
    "case-insensitive": UA_ICASE, "extended-regexp": UA_EXTENDED,
}
LOOKUP_LETTERS = {"m": METHOD_FILTER, "b": NO_BRANCHES, "g": GLOBAL, "Y": LATENCY_SORT,
                  "r": BRANCH_AOR, "B": TO_BRANCHES_ONLY, "i": UA_ICASE, "e": UA_EXTENDED}


@dataclass(frozen=True, slots=True)
class SaveFlags:
    flags: int = 0
    max_contacts: int | None = None  # None: the module parameter applies
    min_expires: int | None = None
    max_expires: int | None = None
    matching_mode: int | None = None


@dataclass(frozen=True, slots=True)
class LookupFlags:
    flags: int = 0
    ua_regex: re.Pattern[str] | None = None
    max_latency: int = 0


def _int_value(name: str, value: str) -> int:
    if not value.strip().isdigit():
        raise FixupError(f"{name}: {value!r} is not a number")
    return int(value)


def _is_named(text: str, names: dict[str, int], kv: tuple[str, ...]) -> bool:
    """3.x syntax when every comma-separated item is a known name or key=value."""
    for item in text.split(","):
        word = item.strip()
        if word and word not in names and word.partition("=")[0].strip() not in kv:
            return False
    return True


_SAVE_KV = ("max-contacts", "min-expires", "max-expires", "matching-mode")


def parse_save_flags(text: object) -> SaveFlags:
    raw = "" if text is None else str(text).strip()
    if not raw:
        return SaveFlags()
    if _is_named(raw, SAVE_NAMES, _SAVE_KV):
        return _save_named(raw)
    return _save_letters(raw)


def _save_named(raw: str) -> SaveFlags:
    flags = 0
    values: dict[str, int | None] = {}
    for item in raw.split(","):
        word = item.strip()
        if not word:
            continue
        key, eq, value = word.partition("=")
        key = key.strip()
        if eq:
            if key == "matching-mode" and value.strip() not in ("0", "1"):
                raise FixupError(f"save(): matching-mode={value.strip()} is not supported (0 or 1)")
            values[key] = _int_value(key, value)
        else:
            flags |= SAVE_NAMES[key]
    return SaveFlags(flags, values.get("max-contacts"), values.get("min-expires"),
                     values.get("max-expires"), values.get("matching-mode"))


def _number_at(raw: str, i: int) -> tuple[int | None, int]:
    j = i
    while j < len(raw) and raw[j].isdigit():
        j += 1
    return (int(raw[i:j]) if j > i else None), j


def _save_letters(raw: str) -> SaveFlags:
    flags = 0
    max_contacts = min_exp = max_exp = mode = None
    i = 0
    while i < len(raw):
        ch = raw[i]
        i += 1
        if ch in SAVE_LETTERS:
            flags |= SAVE_LETTERS[ch]
        elif ch == "p":
            if i >= len(raw) or raw[i] not in PATH_LETTERS:
                raise FixupError(f"save(): flag 'p' must be followed by 0, 1 or 2 in {raw!r}")
            flags |= PATH_LETTERS[raw[i]]
            i += 1
        elif ch in "ceEM":
            number, i = _number_at(raw, i)
            if number is None:
                raise FixupError(f"save(): flag {ch!r} needs a number in {raw!r}")
            if ch == "c":
                max_contacts = number
            elif ch == "e":
                min_exp = number
            elif ch == "E":
                max_exp = number
            else:
                if number not in (0, 1):
                    raise FixupError(f"save(): matching mode {number} is not supported (0 or 1)")
                mode = number
        elif ch in " ,":
            continue
        else:
            known = ", ".join(SAVE_NAMES)
            raise FixupError(f"save(): unknown flag {ch!r} in {raw!r} (3.x names: {known})")
    return SaveFlags(flags, max_contacts, min_exp, max_exp, mode)


_LOOKUP_KV = ("ua-filtering", "max-ping-latency")


def parse_lookup_flags(text: object) -> LookupFlags:
    raw = "" if text is None else str(text).strip()
    if not raw:
        return LookupFlags()
    flags = 0
    ua: str | None = None
    latency = 0
    if _is_named(raw, LOOKUP_NAMES, _LOOKUP_KV):
        for item in raw.split(","):
            word = item.strip()
            if not word:
                continue
            key, _, value = word.partition("=")
            key = key.strip()
            if key == "ua-filtering":
                ua = value.strip()
            elif key == "max-ping-latency":
                latency = _int_value(key, value)
            else:
                flags |= LOOKUP_NAMES[key]
    else:
        i = 0
        while i < len(raw):
            ch = raw[i]
            i += 1
            if ch in LOOKUP_LETTERS:
                flags |= LOOKUP_LETTERS[ch]
            elif ch == "u":
                end = raw.find("/", i + 1) if i < len(raw) and raw[i] == "/" else -1
                if end < 0:
                    raise FixupError(f"lookup(): flag 'u' needs a /regex/ in {raw!r}")
                ua = raw[i : end + 1]
                i = end + 1
            elif ch == "y":
                number, i = _number_at(raw, i)
                latency = number or 0
            elif ch in " ,":
                continue
            else:
                known = ", ".join(LOOKUP_NAMES)
                raise FixupError(f"lookup(): unknown flag {ch!r} in {raw!r} (3.x names: {known})")
    if flags & GLOBAL:
        raise FixupError("lookup(): the 'global' flag needs federated user location, not supported")
    regex = _ua_regex(ua, flags) if ua is not None else None
    return LookupFlags(flags, regex, latency)


def _ua_regex(text: str, flags: int) -> re.Pattern[str]:
    body = text
    icase = bool(flags & UA_ICASE)
    if len(body) >= 2 and body[0] == "/":
        end = body.rfind("/")
        if end <= 0:
            raise FixupError(f"ua-filtering: expected /regex/, got {text!r}")
        icase = icase or "i" in body[end + 1 :]
        body = body[1:end]
    try:
        return re.compile(body, re.IGNORECASE if icase else 0)
    except re.error as exc:
        raise FixupError(f"ua-filtering: bad regex {body!r}: {exc}") from None


# ------------------------------------------------------------------ the 3.x spelling of 2.x letters

LETTERS_NOTE = ("flags {raw!r} are OpenSIPS 2.x letters; OpenSIPS 3.x takes only names and does not "
                "start with letters (\"Unknown flag\"); pysips reads them as {fixed!r}")


def save_letters_used(text: object) -> bool:
    raw = "" if text is None else str(text).strip()
    return bool(raw) and not _is_named(raw, SAVE_NAMES, _SAVE_KV)


def lookup_letters_used(text: object) -> bool:
    raw = "" if text is None else str(text).strip()
    return bool(raw) and not _is_named(raw, LOOKUP_NAMES, _LOOKUP_KV)


def save_flags_3x(parsed: SaveFlags) -> str:
    """The 3.x names for what a save() flag string asked."""
    items = [name for name, bit in SAVE_NAMES.items() if parsed.flags & bit]
    for key, value in (("max-contacts", parsed.max_contacts), ("min-expires", parsed.min_expires),
                       ("max-expires", parsed.max_expires), ("matching-mode", parsed.matching_mode)):
        if value is not None:
            items.append(f"{key}={value}")
    return ", ".join(items)


def lookup_flags_3x(parsed: LookupFlags) -> str:
    """The 3.x names for what a lookup() flag string asked."""
    items = [name for name, bit in LOOKUP_NAMES.items() if parsed.flags & bit]
    if parsed.ua_regex is not None:
        items.append(f"ua-filtering=/{parsed.ua_regex.pattern}/")
    if parsed.max_latency:
        items.append(f"max-ping-latency={parsed.max_latency}")
    return ", ".join(items)
