"""uac's per-process state and the tm/rr/dialog callbacks that restore replies and sequential
requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pysips.core.services import BranchInfo, LooseRouteMatch, TransactionInfo
from pysips.script.context import MsgContext
from pysips.sip.message import SipMessage

from .auth import route_auth_checker
from .replace import AUTO_RESTORE, dialog_checker, route_checker
from .state import PENDING, TxRestore, restore_reply


@dataclass(frozen=True, slots=True)
class UacConfig:
    from_param: str = "vsf"
    to_param: str = "vst"
    cseq_param: str = "aci"
    restore_mode: int = AUTO_RESTORE
    passwd: str = ""
    force_dialog: bool = False


@dataclass(slots=True)
class Uac:
    config: UacConfig
    restore: dict[str, TxRestore] = field(default_factory=dict)  # transaction id -> what to put back

    # ------------------------------------------------------------------ tm

    def transaction_created(self, ctx: MsgContext, t: TransactionInfo) -> None:
        pending = ctx.extra.pop(PENDING, None)
        if isinstance(pending, TxRestore):
            self.restore[t.id] = pending

    def reply_in(self, t: TransactionInfo, branch: BranchInfo, reply: SipMessage) -> None:
        found = self.restore.get(t.id)
        if found is not None:
            restore_reply(found, t.request, reply)

    def deleted(self, t: TransactionInfo) -> None:
        self.restore.pop(t.id, None)

    # ------------------------------------------------------------------ sequential requests

    def loose_route(self, ctx: MsgContext, match: LooseRouteMatch) -> None:
        route_auth_checker(self, ctx, match.params)
        if self.config.restore_mode == AUTO_RESTORE:
            route_checker(self, ctx, match.params)

    def dialog_request(self, ctx: MsgContext, dlg: Any, direction: int) -> None:
        if self.config.restore_mode == AUTO_RESTORE:
            dialog_checker(self, ctx, dlg, direction)
