"""The grace period between SIGTERM and the end of the process.

OpenSIPS stops at once on SIGTERM: transactions in flight are forgotten, and a caller whose INVITE
was relayed a moment before never hears its answer. pysips drains first, for at most
`--shutdown-grace` seconds (0: stop at once, as OpenSIPS):
- replies, ACKs, CANCELs and requests inside a dialog (a To tag) are still handled, so calls set
  up before the signal complete and their BYEs are relayed;
- a new out-of-dialog request is answered "503 Service Unavailable" (statelessly, without running
  the script), so its sender tries another server (RFC 3263 section 4.3) instead of timing out;
- the drain ends when no transaction waits for its final reply and nothing has arrived for
  `QUIET_S` (an ACK and BYE sent right after a 200 come within it); a server found idle when the
  signal comes (nothing unanswered, nothing arriving for `IDLE_PROBE_S`) stops at once.
A second SIGTERM/SIGINT ends the drain at once. Then listeners close and each module's destroy
runs (usrloc's write-back, acc's connections).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI reads DEFAULT_GRACE_S without loading the engine
    from pysips.core.engine import Engine
    from pysips.sip.message import SipMessage
    from pysips.sip.receive import ReceiveInfo

log = logging.getLogger("pysips.core")

# long enough for a call's INVITE to be answered by a callee that answers at once, short enough
# for a supervisor's stop timeout
DEFAULT_GRACE_S = 2.0
QUIET_S = 0.5  # nothing received for this long (and nothing unanswered): the drain is over
IDLE_PROBE_S = 0.05  # ... or, when nothing at all happened since the signal, this long
POLL_S = 0.02


def refuse_new_requests(engine: Engine) -> Callable[[SipMessage, ReceiveInfo], bool]:
    """The request hook of a draining server: out-of-dialog requests other than ACK/CANCEL get
    a stateless 503 and go no further; everything else goes on to tm and the script."""
    from pysips.script.context import MsgContext, RouteType

    def hook(msg: SipMessage, rcv: ReceiveInfo) -> bool:
        if msg.method in ("ACK", "CANCEL") or msg.to.tag:
            return False
        ctx = MsgContext(engine.process, msg, rcv, RouteType.REQUEST, engine.wall_time())
        engine.send_reply(ctx, engine.build_reply(ctx, 503, "Service Unavailable"))
        return True

    return hook


async def drain(engine: Engine, grace: float, hurry: asyncio.Event) -> None:
    """Serve what is in flight for at most `grace` seconds (see the module docstring)."""
    if grace <= 0:
        return
    from pysips.core.services import TRANSACTIONS

    loop = asyncio.get_running_loop()
    transactions = engine.process.services.get(TRANSACTIONS)
    engine.hooks.request.append(refuse_new_requests(engine))
    started = last_activity = loop.time()
    seen = engine.stats["received"]
    quiet = IDLE_PROBE_S
    log.log(25, "draining for up to %gs: new requests are answered 503", grace)
    while not hurry.is_set():
        now = loop.time()
        received = engine.stats["received"]
        unanswered = transactions.unanswered_count() if transactions is not None else 0
        if received != seen or unanswered:
            seen = received
            last_activity = now
            quiet = QUIET_S
        elif now - last_activity >= quiet:
            return
        if now - started >= grace:
            log.warning("stopping with %d transaction(s) still unanswered after %gs", unanswered, grace)
            return
        await asyncio.sleep(POLL_S)
