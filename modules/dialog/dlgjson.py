"""A dialog as OpenSIPS writes it for the script ($DLG_json, $DLG_ctx_json, get_dialogs_by_val(),
get_dialogs_by_profile()): its own hand-made JSON, every number but the values' quoted, only `"`
escaped in names and values, the callees' and caller's "sdp" the SDP sent to them (none here)."""

from __future__ import annotations

from typing import Any

from .model import Dialog


def _text(value: str) -> str:
    return value.replace('"', '\\"')


def _leg(tag: str, contact: str, cseq: int, route_set: list[str], bind_addr: str) -> str:
    return (f'{{"tag":"{tag}","contact":"{contact}","cseq":"{cseq}","route_set":"{",".join(route_set)}",'
            f'"bind_addr":"{bind_addr}","sdp":""}}')


def dialog_json(dialogs: Any, dlg: Dialog, with_context: bool) -> str:
    from .mi import flag_list

    timeout = int(dialogs._wall()) + dialogs.remaining(dlg) if dlg.expires_at else 0
    parts = [
        f'{{"ID":"{dlg.db_id}","state":"{dlg.state}","user_flags":"{flag_list(dialogs, dlg.user_flags)}",'
        f'"callid":"{dlg.callid}","timestart":"{dlg.start_ts}","timeout":"{timeout}",'
        f'"from_uri":"{dlg.from_uri}","to_uri":"{dlg.to_uri}"',
        # a leg's "cseq" is that of the requests sent towards it (OpenSIPS's r_cseq)
        ',"caller":' + _leg(dlg.caller.tag, dlg.caller.contact, dlg.callee.cseq, dlg.caller.route_set,
                            dlg.caller.bind_addr),
        ',"callees":[',
    ]
    if dlg.callee.tag:
        parts.append(_leg(dlg.callee.tag, dlg.callee.contact, dlg.caller.cseq, dlg.callee.route_set,
                          dlg.callee.bind_addr))
    parts.append("]")
    if with_context and dlg.vals:
        values = []
        for name, value in reversed(dlg.vals.items()):  # newest first, as OpenSIPS keeps them
            shown = str(value) if isinstance(value, int) else f'"{_text(value)}"'
            values.append(f'"{_text(name)}":{shown}')
        parts.append(',"values":{' + ",".join(values) + "}")
    if with_context and dlg.profiles:
        grouped: dict[str, list[str]] = {}
        for name, value in reversed(dlg.profiles):
            grouped.setdefault(name, []).append(value)
        items = [f'"{name}":[' + ",".join(f'"{v}"' for v in values_of) + "]"
                 for name, values_of in grouped.items()]
        parts.append(',"profiles":{' + ",".join(items) + "}")
    parts.append("}")
    return "".join(parts)
