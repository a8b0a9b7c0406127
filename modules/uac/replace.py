"""uac_replace_from/to() and the restoring of the original From/To (OpenSIPS 3.6 uac).

The header's URI (and display name) is rewritten on the request. Unless restore_mode is "none",
the replies of that transaction go back with the caller's own From/To, and the original is kept
for the call's later requests: as dialog values when the call has a dialog (or force_dialog), else
in our Record-Route as a parameter (`vsf`/`vst`) holding the original XOR the new URI, base64 with
'-' padding, XORed with restore_passwd. In "auto" mode the sequential requests are fixed when
loose_route() or the dialog matches them: the caller's requests carry the new URI, the callee's
the original one; in "manual" mode the script calls uac_restore_from/to()."""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any

from pysips.core.services import DIALOGS, RECORD_ROUTE
from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

from .state import restore_of, split_name_addr

if TYPE_CHECKING:
    from .runtime import Uac

log = logging.getLogger("pysips.modules.uac")

NO_RESTORE = 0
MANUAL_RESTORE = 1
AUTO_RESTORE = 2
RESTORE_MODES = {"none": NO_RESTORE, "manual": MANUAL_RESTORE, "auto": AUTO_RESTORE}

# dialog values holding the new URIs (the originals are under rr_from/to_store_param), OpenSIPS's names
FROM_NEW_VAL = "739823"
TO_NEW_VAL = "739824"

DIR_DOWNSTREAM = 1
DIR_UPSTREAM = 2


def _parts(name_addr: str) -> tuple[str, str, bool]:
    """(display, uri, enclosed in <>) of the name-addr part of a From/To value."""
    lt = name_addr.find("<")
    if lt < 0:
        return "", name_addr.strip(), False
    gt = name_addr.find(">", lt)
    return name_addr[:lt].strip(), name_addr[lt + 1 : gt if gt > 0 else len(name_addr)], True


def _xor(data: bytes, key: bytes) -> bytes:
    out = bytearray(data)
    for i in range(min(len(out), len(key))):
        out[i] ^= key[i]
    return bytes(out)


def _mask(data: bytes, passwd: bytes) -> bytes:
    if not passwd:
        return data
    return bytes(b ^ passwd[i % len(passwd)] for i, b in enumerate(data))


def encode_store(original: str, new_quoted: str, passwd: str) -> str:
    """The Record-Route value: original XOR "<new>" (the longer one carries the tail)."""
    old_b, new_b = original.encode("utf-8", "surrogateescape"), new_quoted.encode("utf-8", "surrogateescape")
    mixed = _xor(old_b, new_b) if len(old_b) > len(new_b) else _xor(new_b, old_b)
    return base64.b64encode(_mask(mixed, passwd.encode())).decode().replace("=", "-")


def decode_store(value: str, seen: str, passwd: str) -> str | None:
    """The other URI of the pair, from the parameter and the one the request carries."""
    try:
        mixed = _mask(base64.b64decode(value.replace("-", "=")), passwd.encode())
    except ValueError:
        log.error("invalid base64 string\"%s\"", value)
        return None
    seen_b = seen.encode("utf-8", "surrogateescape")
    if len(mixed) < len(seen_b):
        log.error("new URI shorter than old URI")
        return None
    out = _xor(mixed, seen_b)
    if len(mixed) == len(seen_b):
        out = out.rstrip(b"\x00")
    if not out:
        log.error("new URI got 0 len")
        return None
    return out.decode("utf-8", "surrogateescape")


def replace_uri(uac: Uac, ctx: MsgContext, name: str, display: str | None, uri: str) -> int:
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not msg.is_request:
        return -1
    mode = uac.config.restore_mode
    if mode == AUTO_RESTORE and uri and msg.to_tag:
        log.error("decline FROM/TO replacing in sequential request in auto mode (has TO tag)")
        return -1
    value = msg.current_header(name)
    if value is None:
        log.error("failed to find/parse %s hdr", name.upper())
        return -1
    name_addr, params = split_name_addr(value)
    old_display, old_uri, _ = _parts(name_addr)
    new_display = old_display if display is None else display
    new_uri = f"<{uri}>" if uri else f"<{old_uri}>"
    msg.replace_header(f"{name}: {new_display + ' ' if new_display else ''}{new_uri}{params}")
    if not uri or mode == NO_RESTORE:
        return 1
    to = name == "To"
    services = ctx.process.services
    dialogs = services.get(DIALOGS)
    dlg = dialogs.current(ctx) if dialogs is not None else None
    if dlg is None and dialogs is not None and uac.config.force_dialog and dialogs.create(ctx, 0) > 0:
        dlg = dialogs.current(ctx)
    store = uac.config.to_param if to else uac.config.from_param
    if dlg is not None and dialogs is not None:
        dialogs.store_value(ctx, store, old_uri)
        dialogs.store_value(ctx, TO_NEW_VAL if to else FROM_NEW_VAL, new_uri)
    else:
        rr = services.get(RECORD_ROUTE)
        encoded = encode_store(old_uri, new_uri, uac.config.passwd)
        if rr is None or rr.add_rr_param(ctx, f";{store}={encoded}") < 0:
            log.error("add_RR_param failed")
            return -1
    restore_of(ctx, uac.restore).headers[name] = split_name_addr(str(msg.header(name)))[0]
    return 1


def _swap_uri(value: str, replacement: str, expand: bool) -> str:
    """`value` with its URI replaced: with the <> around it when `expand` (the replacement has
    its own), else only the URI itself."""
    name_addr, params = split_name_addr(value)
    display, _, enclosed = _parts(name_addr)
    prefix = f"{display} " if display else ""
    if enclosed and not expand:
        return f"{prefix}<{replacement}>{params}"
    return f"{prefix}{replacement}{params}"


def restore_from_route(uac: Uac, ctx: MsgContext, to: bool) -> bool:
    """uac_restore_from/to() and the auto mode: put back the URI the Route parameter holds."""
    msg = ctx.msg
    rr = ctx.process.services.get(RECORD_ROUTE)
    if not isinstance(msg, SipMessage) or rr is None:
        return False
    params = rr.route_params(ctx) or ""
    store = uac.config.to_param if to else uac.config.from_param
    value = _route_param(params, store)
    if value is None:
        return False
    upstream = rr.is_upstream(ctx)
    # the caller writes the original in From (To when To was replaced); the callee writes the new
    name = ("From" if upstream else "To") if to else ("To" if upstream else "From")
    current = msg.current_header(name)
    if current is None:
        return False
    _, seen, enclosed = _parts(split_name_addr(current)[0])
    # the callee's URI is the replacement, "<new>": compare with its angle brackets
    seen_text = f"<{seen}>" if upstream and enclosed else seen
    other = decode_store(value, seen_text, uac.config.passwd)
    if other is None:
        return False
    msg.replace_header(f"{name}: {_swap_uri(current, other, expand=not upstream)}")
    restore_of(ctx, uac.restore).headers[name] = split_name_addr(str(msg.header(name)))[0]
    return True


def _route_param(params: str, name: str) -> str | None:
    for item in params.split(";"):
        key, _, val = item.partition("=")
        if key.strip().lower() == name.lower():
            return val.strip()
    return None


def route_checker(uac: Uac, ctx: MsgContext, params: dict[str, str]) -> None:
    """Auto mode, no dialog: loose_route() consumed our Route; restore what it carries."""
    if uac.config.from_param in params:
        restore_from_route(uac, ctx, to=False)
    if uac.config.to_param in params:
        restore_from_route(uac, ctx, to=True)


def dialog_checker(uac: Uac, ctx: MsgContext, dlg: Any, direction: int) -> None:
    """Auto mode with a dialog: a request inside it gets the URIs its receiver knows."""
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return
    vals = dlg.vals
    for to in (False, True):
        new_val = vals.get(TO_NEW_VAL if to else FROM_NEW_VAL)
        if new_val is None:
            continue
        downstream = direction == DIR_DOWNSTREAM
        name = ("To" if downstream else "From") if to else ("From" if downstream else "To")
        original = vals.get(uac.config.to_param if to else uac.config.from_param)
        replacement = str(new_val) if downstream else original
        current = msg.current_header(name)
        if replacement is None or current is None:
            continue
        msg.replace_header(f"{name}: {_swap_uri(current, str(replacement), expand=downstream)}")
        restore_of(ctx, uac.restore).headers[name] = split_name_addr(str(msg.header(name)))[0]
