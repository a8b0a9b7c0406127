"""uac: acting as a client on behalf of the caller (OpenSIPS 3.6 uac).

uac_replace_from/to() rewrite From/To and restore them (restore_mode none/manual/auto, through
the dialog or Record-Route parameters); uac_restore_from/to() for manual mode; uac_auth() answers
a 401/407 from failure_route with the credentials of uac_auth; uac_inc_cseq() raises the CSeq.
See docs/uac.md."""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.services import DIALOGS, RECORD_ROUTE, TRANSACTIONS, UAC_CREDENTIALS
from pysips.script.context import MsgContext, RouteType
from pysips.script.errors import FixupError
from pysips.script.exports import (
    ArgKind,
    ArgSpec,
    FixupContext,
    FunctionExport,
    ModuleExports,
    ModuleInitContext,
    ParamExport,
    ParamType,
    check_bool,
)
from pysips.sip import digest
from pysips.sip.headers import is_token
from pysips.sip.message import SipMessage

from .auth import uac_auth
from .replace import RESTORE_MODES, replace_uri, restore_from_route
from .runtime import Uac, UacConfig
from .state import effective_cseq, restore_of, set_cseq

log = logging.getLogger("pysips.modules.uac")


def _uac(ctx: MsgContext) -> Uac:
    found: Uac = ctx.process.modules["uac"]
    return found


def _fix_algorithms(value: Any, fctx: FixupContext) -> int:
    mask = 0
    for item in str(value).split(","):
        name = item.strip()
        if not name:
            continue
        alg = digest.BY_NAME.get(name.lower())
        if alg is None or alg not in digest.SUPPORTED:
            raise FixupError(f"Unsupported algorithm type: \"{name}\"", fctx.pos)
        mask |= 1 << alg
    return mask


def w_uac_auth(ctx: MsgContext, algmask: int | None = None) -> int:
    return uac_auth(_uac(ctx), ctx, algmask or 0)


def w_replace_from(ctx: MsgContext, display: str | None, uri: str) -> int:
    return _replace(ctx, "From", display, uri)


def w_replace_to(ctx: MsgContext, display: str | None, uri: str) -> int:
    return _replace(ctx, "To", display, uri)


def quote_display(display: str) -> str:
    """A display name goes in as written when quoted already or a token, else inside quotes."""
    if (len(display) >= 2 and display[0] == '"' and display[-1] == '"') or is_token(display):
        return display
    return f'"{display}"'


def _replace(ctx: MsgContext, name: str, display: str | None, uri: str) -> int:
    # display None (argument left out): only the URI changes; "" removes the display name
    key = f"uac.replaced.{name}"
    if ctx.route_type == RouteType.REQUEST and ctx.extra.get(key):
        log.error("scripting bug: uac_replace_%s() already called!", name.lower())
        return -1
    if ctx.route_type == RouteType.REQUEST:
        ctx.extra[key] = True
    shown = quote_display(display) if display else display
    return replace_uri(_uac(ctx), ctx, name, shown, uri)


def w_restore_from(ctx: MsgContext) -> int:
    return 1 if restore_from_route(_uac(ctx), ctx, to=False) else -1


def w_restore_to(ctx: MsgContext) -> int:
    return 1 if restore_from_route(_uac(ctx), ctx, to=True) else -1


def w_uac_inc_cseq(ctx: MsgContext, value: int) -> int:
    msg = ctx.msg
    if ctx.transaction is None:
        log.critical("no current transaction found")
        return -1
    if not isinstance(msg, SipMessage):
        return -1
    set_cseq(msg, effective_cseq(msg) + value)
    restore_of(ctx, _uac(ctx).restore).cseq = True
    return 1


def _check_restore_mode(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in RESTORE_MODES:
        raise FixupError(f"unsupported value '{value}' for restore_mode")
    return text


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Uac:
    config = UacConfig(
        from_param=str(params.get("rr_from_store_param") or "vsf"),
        to_param=str(params.get("rr_to_store_param") or "vst"),
        restore_mode=RESTORE_MODES[str(params.get("restore_mode") or "auto").lower()],
        passwd=str(params.get("restore_passwd") or ""),
        force_dialog=bool(params.get("force_dialog")),
    )
    uac = Uac(config)
    tm = ictx.require(TRANSACTIONS)
    tm.on_created(uac.transaction_created)
    tm.on_reply_in(uac.reply_in)
    tm.on_deleted(uac.deleted)
    rr = ictx.get(RECORD_ROUTE)
    if rr is not None:
        rr.on_loose_route(uac.loose_route)
    dialogs = ictx.get(DIALOGS)
    if dialogs is not None:
        dialogs.on_within(uac.dialog_request)
    elif config.force_dialog:
        raise FixupError("cannot force dialog. dialog module not loaded")
    return uac


_ROUTES = RouteType.REQUEST | RouteType.BRANCH | RouteType.FAILURE
_DISPLAY_URI = (ArgSpec(ArgKind.STR, "display", optional=True), ArgSpec(ArgKind.STR, "uri"))

exports = ModuleExports(
    "uac",
    functions=(
        FunctionExport("uac_replace_from", w_replace_from, _DISPLAY_URI, _ROUTES,
                       doc="rewrite the From URI (and display name)"),
        FunctionExport("uac_replace_to", w_replace_to, _DISPLAY_URI, _ROUTES,
                       doc="rewrite the To URI (and display name)"),
        FunctionExport("uac_restore_from", w_restore_from, (), _ROUTES,
                       doc="put back the original From (manual restore mode)"),
        FunctionExport("uac_restore_to", w_restore_to, (), _ROUTES,
                       doc="put back the original To (manual restore mode)"),
        FunctionExport("uac_auth", w_uac_auth,
                       (ArgSpec(ArgKind.STR, "algorithms", optional=True, fixup=_fix_algorithms),), _ROUTES,
                       doc="answer the 401/407 of the picked branch with uac_auth's credentials"),
        FunctionExport("uac_inc_cseq", w_uac_inc_cseq, (ArgSpec(ArgKind.INT, "value"),), _ROUTES,
                       doc="raise the CSeq of the request (replies get the original back)"),
    ),
    params=(
        ParamExport("rr_from_store_param", ParamType.STR, "vsf",
                    doc="Record-Route parameter / dialog value of the original From"),
        ParamExport("rr_to_store_param", ParamType.STR, "vst",
                    doc="Record-Route parameter / dialog value of the original To"),
        ParamExport("restore_mode", ParamType.STR, "auto", check=_check_restore_mode,
                    doc="none, manual or auto"),
        ParamExport("restore_passwd", ParamType.STR, "", doc="key XORed into the Record-Route parameter"),
        ParamExport("force_dialog", ParamType.INT, 0, check=check_bool,
                    doc="create a dialog when replacing in auto mode"),
    ),
    requires=(TRANSACTIONS,),
    uses=(RECORD_ROUTE, DIALOGS, UAC_CREDENTIALS),
    init=_init,
    doc="From/To replacement with restore, uac_auth() answering challenges",
)
