"""dialog's MI commands, in OpenSIPS 3.6's shapes: dlg_list, dlg_list_ctx, dlg_end_dlg,
profile_get_size, profile_list_dlgs."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from pysips.mi import MICall, MIError, command

from .model import Dialog, parse_did

_NOT_FOUND = "Requested Dialog not found"


def _dialogs(call: MICall) -> Any:
    from .runtime import Dialogs

    found = call.process.modules.get("dialog")
    if not isinstance(found, Dialogs):
        raise MIError(500, "dialog is not initialised")
    return found


def _date(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def dialog_object(dialogs: Any, dlg: Dialog, with_context: bool) -> dict[str, Any]:
    """One dialog as OpenSIPS's internal_mi_print_dlg writes it (keys in its order)."""
    out: dict[str, Any] = {"ID": dlg.did, "db_id": str(dlg.db_id), "state": dlg.state,
                           "user_flags": flag_list(dialogs, dlg.user_flags), "timestart": dlg.start_ts}
    if dlg.start_ts:
        out["datestart"] = _date(dlg.start_ts)
    timeout = int(dialogs._wall()) + dialogs.remaining(dlg) if dlg.expires_at else 0
    out["timeout"] = timeout
    if timeout:
        out["dateout"] = _date(timeout)
    out["callid"] = dlg.callid
    out["from_uri"] = dlg.from_uri
    out["to_uri"] = dlg.to_uri
    caller, callee = dlg.caller, dlg.callee
    out["caller_tag"] = caller.tag
    out["caller_contact"] = caller.contact
    out["callee_cseq"] = str(callee.cseq)  # the last CSeq the callee sent (0: none yet)
    out["caller_route_set"] = ",".join(caller.route_set)
    out["caller_bind_addr"] = caller.bind_addr
    if dlg.caller_sdp:
        out["caller_sdp"] = dlg.caller_sdp.decode("utf-8", "replace")
    callees = []
    if callee.tag:
        entry: dict[str, Any] = {"callee_tag": callee.tag, "callee_contact": callee.contact,
                                 "caller_cseq": str(caller.cseq),
                                 "callee_route_set": ",".join(callee.route_set),
                                 "callee_bind_addr": callee.bind_addr or None}
        if dlg.callee_sdp:
            entry["callee_sdp"] = dlg.callee_sdp.decode("utf-8", "replace")
        callees.append(entry)
    out["CALLEES"] = callees
    if with_context:
        context: dict[str, Any] = {}
        # OpenSIPS keeps values and profile links newest first
        if dlg.vals:
            context["values"] = [{name: value} for name, value in reversed(dlg.vals.items())]
        if dlg.profiles:
            context["profiles"] = [{name: value} for name, value in reversed(dlg.profiles)]
        out["context"] = context
    return out


def flag_list(dialogs: Any, flags: int) -> str:
    """The names of the set dialog flags, space-separated, the last declared first (OpenSIPS's
    bitmask_to_flag_list walks its flag list, newest entry first)."""
    from pysips.script.flags import FlagKind

    names = []
    for bit in range(31, -1, -1):
        if flags & (1 << bit):
            name = dialogs.flag_names.name_of(FlagKind.DIALOG, bit) if dialogs.flag_names else None
            names.append(name if name is not None else str(bit))
    return " ".join(names)


def _list(call: MICall, with_context: bool) -> Any:
    dialogs = _dialogs(call)
    everything = list(dialogs.all())
    if call.has("callid"):
        callid = call.get_str("callid")
        from_tag = call.get_str("from_tag") if call.has("from_tag") else None
        for dlg in everything:
            if dlg.callid == callid and (from_tag is None or dlg.caller.tag == from_tag):
                return {"Dialog": dialog_object(dialogs, dlg, with_context)}
        raise MIError(404, "No such dialog")
    result: dict[str, Any] = {}
    if call.has("index"):
        index, counter = call.get_int("index"), call.get_int("counter")
        result["count"] = len(everything)
        everything = everything[index:index + counter]
    result["Dialogs"] = [dialog_object(dialogs, dlg, with_context) for dlg in everything]
    return result


def mi_dlg_list(call: MICall) -> Any:
    return _list(call, False)


def mi_dlg_list_ctx(call: MICall) -> Any:
    return _list(call, True)


def find_dialog(dialogs: Any, dialog_id: str) -> Dialog | None:
    """dlg_end_dlg's dialog_id: the numeric db_id, the ID ("3a1.5f") or a Call-ID."""
    if dialog_id.isdigit():
        found: Dialog | None = dialogs.by_db_id(int(dialog_id))
        if found is not None:
            return found
    if parse_did(dialog_id) is not None:
        found = dialogs.by_did(dialog_id)
        if found is not None:
            return found
    same = dialogs.by_callid.get(dialog_id)
    return same[0] if same else None


def mi_dlg_end_dlg(call: MICall) -> Any:
    dialogs = _dialogs(call)
    dlg = find_dialog(dialogs, call.get_str("dialog_id"))
    if dlg is None:
        raise MIError(404, _NOT_FOUND)
    headers: tuple[str, ...] = ()
    if call.has("extra_hdrs"):
        headers = tuple(h for h in call.get_str("extra_hdrs").replace("\r\n", "\n").split("\n") if h.strip())
    dialogs.terminate(dlg, "MI Termination", headers)
    return "OK"


def _profile(call: MICall) -> Any:
    profile = _dialogs(call).profile(call.get_str("profile"))
    if profile is None:
        raise MIError(404, "Profile not found")
    return profile


def mi_profile_get_size(call: MICall) -> Any:
    profile = _profile(call)
    value = call.get_str("value") if call.has("value") else None
    # this process's dialogs: with workers the MI asks each of them and adds the answers up
    return {"Profile": {"name": profile.name, "value": value, "count": profile.size(value, local_only=True),
                        "shared": "no", "replicated": "no"}}


def mi_profile_list_dlgs(call: MICall) -> Any:
    dialogs = _dialogs(call)
    profile = _profile(call)
    value = call.get_str("value") if call.has("value") else None
    seen: list[Dialog] = []
    for dlg, _ in profile.dialogs(value):
        if dlg not in seen:
            seen.append(dlg)
    return {"Dialogs": [dialog_object(dialogs, dlg, False) for dlg in seen]}


def mi_dlg_db_sync(call: MICall) -> Any:
    dialogs = _dialogs(call)
    if dialogs.db is None:
        raise MIError(500, "Operation failed")  # no database in db_mode 0
    dialogs.db.sync_from_db()
    return "OK"


_LIST = {(): mi_dlg_list, ("callid",): mi_dlg_list, ("callid", "from_tag"): mi_dlg_list,
         ("index", "counter"): mi_dlg_list}
_LIST_CTX = {(): mi_dlg_list_ctx, ("callid",): mi_dlg_list_ctx, ("callid", "from_tag"): mi_dlg_list_ctx,
             ("index", "counter"): mi_dlg_list_ctx}

COMMANDS = (
    command("dlg_list", "list the dialogs", _LIST, "dialog"),
    command("dlg_list_ctx", "list the dialogs with their values and profiles", _LIST_CTX, "dialog"),
    command("dlg_end_dlg", "end a dialog with BYE both ways",
            {("dialog_id",): mi_dlg_end_dlg, ("dialog_id", "extra_hdrs"): mi_dlg_end_dlg}, "dialog"),
    command("dlg_db_sync", "reload the dialogs from the database",
            {(): mi_dlg_db_sync}, "dialog"),
    command("profile_get_size", "how many dialogs a profile holds",
            {("profile",): mi_profile_get_size, ("profile", "value"): mi_profile_get_size}, "dialog"),
    command("profile_list_dlgs", "the dialogs of a profile",
            {("profile",): mi_profile_list_dlgs, ("profile", "value"): mi_profile_list_dlgs}, "dialog"),
)
# every worker process keeps its own dialogs: with workers, MI asks them all and merges the answers
COMMANDS = tuple(dataclasses.replace(cmd, per_worker=True) for cmd in COMMANDS)
