"""E_DLG_STATE_CHANGED: the dialog module's event (OpenSIPS 3.6 publishes this one only), raised on
every change of a dialog's state, to event_route[E_DLG_STATE_CHANGED] and to the subscribers of
the event transports (event_datagram ...). Its parameters, in OpenSIPS's order: id (the did),
db_id, callid, from_tag, to_tag (strings), old_state, new_state (integers). A dialog made has no
event (it starts in state 1); 1->2 on a provisional reply, ->3 on the 2xx, 3->4 on the ACK, ->5
when it ends (BYE, timeout, failure, MI)."""

from __future__ import annotations

from typing import Any

from pysips.script.events import EventInterface, EventParam

STATE_CHANGED = "E_DLG_STATE_CHANGED"


class DialogEvents:
    __slots__ = ("early_tags", "interface")

    def __init__(self, interface: EventInterface | None) -> None:
        self.interface = interface
        # did -> the callee tag of the last provisional reply, until the dialog has its own
        self.early_tags: dict[str, str] = {}
        if interface is not None:
            interface.publish(STATE_CHANGED)

    def state_changed(self, dlg: Any, old_state: int, to_tag: str | None = None) -> None:
        """`to_tag`: the callee's tag when the dialog does not hold it yet (an early dialog: the
        provisional reply's, which OpenSIPS reports)."""
        events = self.interface
        if events is None or old_state == dlg.state or not events.has_subscribers(STATE_CHANGED):
            return
        if to_tag is not None:
            self.early_tags[dlg.did] = to_tag
        elif not dlg.callee.tag:
            to_tag = self.early_tags.get(dlg.did)
        if dlg.state == 5 or dlg.callee.tag:
            self.early_tags.pop(dlg.did, None)
        params: list[EventParam] = [
            ("id", dlg.did), ("db_id", str(dlg.db_id)), ("callid", dlg.callid),
            ("from_tag", dlg.caller.tag), ("to_tag", to_tag if to_tag is not None else dlg.callee.tag),
            ("old_state", old_state), ("new_state", dlg.state),
        ]
        events.raise_event(STATE_CHANGED, params)
