"""uac_auth(): answering the 401/407 of the picked branch from failure_route.

The request goes out again on a new branch with an Authorization / Proxy-Authorization header and
its CSeq one higher (RFC 3261 22.2: a new request of the same dialog). Replies go back upstream
with the caller's CSeq. For an initial request the call is marked so that its later requests are
raised too: through the dialog when there is one (its CSeq offset for the caller's requests),
else with an `aci=1` parameter in our Record-Route that loose_route() finds again."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pysips.core.services import DIALOGS, RECORD_ROUTE, TRANSACTIONS, UAC_CREDENTIALS
from pysips.script.context import MsgContext
from pysips.sip.digest_client import authorization, first_challenge
from pysips.sip.message import SipMessage

from .state import effective_cseq, restore_of, set_cseq

if TYPE_CHECKING:
    from .runtime import Uac

log = logging.getLogger("pysips.modules.uac")


def uac_auth(uac: Uac, ctx: MsgContext, algmask: int) -> int:
    services = ctx.process.services
    tm = services.get(TRANSACTIONS)
    t = ctx.transaction
    branch = tm.current_branch(ctx) if tm is not None else None
    if t is None or branch is None:
        log.critical("no current transaction found")
        return -1
    reply = ctx.reply
    if reply is None:
        log.error("cannot process a FAKED reply")
        return -1
    msg = ctx.msg
    if not isinstance(msg, SipMessage) or not isinstance(reply, SipMessage):
        return -1
    challenge = first_challenge(reply, algmask)
    if challenge is None:
        log.error("Unable to extract a compatible authentication challenge")
        return -1
    credentials = services.get(UAC_CREDENTIALS)
    if credentials is None:
        log.error("can't load UAC_AUTH API, needed for uac_auth(): load the uac_auth module")
        return -1
    cred = credentials.lookup(ctx, challenge.realm)
    if cred is None:
        log.debug("no credential for realm \"%s\"", challenge.realm)
        return -1
    uri = branch.ruri
    body = msg.body if isinstance(msg.body, bytes) else bytes(msg.body or b"")
    msg.append_header(authorization(challenge, cred.username, cred.password, msg.method, uri, body))
    ctx.new_ruri = uri

    set_cseq(msg, effective_cseq(msg) + 1)
    restore_of(ctx, uac.restore).cseq = True
    dialogs = services.get(DIALOGS)
    in_dialog = dialogs is not None and dialogs.current(ctx) is not None
    if in_dialog:
        assert dialogs is not None
        dialogs.shift_cseq(ctx)  # the dialog raises the party's later requests
    elif not msg.to_tag:
        rr = services.get(RECORD_ROUTE)
        if rr is None or rr.add_rr_param(ctx, f";{uac.config.cseq_param}=1") < 0:
            log.error("add_RR_param failed")
            return -1
    return 1


def route_auth_checker(uac: Uac, ctx: MsgContext, params: dict[str, str]) -> None:
    """loose_route() consumed our Route with `aci`: a request from the caller goes one higher."""
    if uac.config.cseq_param not in params:
        return
    rr = ctx.process.services.get(RECORD_ROUTE)
    if rr is None or rr.is_upstream(ctx):
        return  # the callee's requests were never shifted
    msg = ctx.msg
    if not isinstance(msg, SipMessage):
        return
    set_cseq(msg, effective_cseq(msg) + 1)
    restore_of(ctx, uac.restore).cseq = True
