"""uac_registrant's MI commands in OpenSIPS 3.6's shapes: reg_list, reg_reload, reg_enable,
reg_disable, reg_force_register."""

from __future__ import annotations

import time
from typing import Any

from pysips.mi import MICall, MIError, command

from .records import STATE_NAMES, Registrant

MODULE = "uac_registrant"
_KEY = ("aor", "contact", "registrar")


def _registrants(call: MICall) -> Any:
    from .runtime import Registrants

    found = call.process.modules.get(MODULE)
    if not isinstance(found, Registrants):
        raise MIError(500, "uac_registrant is not initialised")
    return found


def _ctime(ts: float) -> str:
    # as ctime(3) without its newline; the epoch for "never"
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(ts))


def record_object(rec: Registrant) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AOR": rec.aor,
        "expires": rec.expires,
        "state": STATE_NAMES[rec.state],
        "enabled": "yes" if rec.enabled else "no",
        "last_register_sent": _ctime(rec.last_register_sent),
        "registration_t_out": _ctime(rec.registration_timeout),
        "registrar": rec.registrar,
        "binding": rec.binding,
    }
    if rec.binding_params:
        out["binding_params"] = rec.binding_params
    if rec.third_party:
        out["third_party_registrant"] = rec.third_party
    if rec.socket:
        out["socket"] = rec.socket
    if rec.proxy:
        out["proxy"] = rec.proxy
    return out


def _one(call: MICall) -> Registrant:
    regs = _registrants(call)
    rec: Registrant | None = regs.find(*(call.get_str(name) for name in _KEY))
    if rec is None:
        raise MIError(404, "No such registrant")
    return rec


def mi_reg_list(call: MICall) -> Any:
    if call.has("aor"):
        return record_object(_one(call))
    return {"Records": [record_object(r) for r in _registrants(call).records]}


def mi_reg_reload(call: MICall) -> Any:
    regs = _registrants(call)
    if call.has("aor"):
        wanted = tuple(call.get_str(name) for name in _KEY)
        fresh = next((r for r in regs.load() if r.key == wanted), None)
        if fresh is None:
            raise MIError(404, "No such registrant in database")
        regs.records = [r for r in regs.records if r.key != wanted] + [fresh]
        return "OK"
    regs.reload()
    return "OK"


def mi_reg_enable(call: MICall) -> Any:
    rec = _one(call)
    regs = _registrants(call)
    regs.enable(rec)
    regs.store_state(rec)
    return "OK"


def mi_reg_disable(call: MICall) -> Any:
    rec = _one(call)
    regs = _registrants(call)
    regs.disable(rec)
    regs.store_state(rec)
    return "OK"


def mi_reg_force_register(call: MICall) -> Any:
    rec = _one(call)
    if not rec.enabled:
        raise MIError(404, "No such registrant")
    _registrants(call).force_register(rec)
    return "OK"


COMMANDS = (
    command("reg_list", "the registrant records and their state",
            {(): mi_reg_list, _KEY: mi_reg_list}, MODULE),
    command("reg_reload", "reload the registrant records from the database",
            {(): mi_reg_reload, _KEY: mi_reg_reload}, MODULE),
    command("reg_enable", "enable a registrant (REGISTER at once)", {_KEY: mi_reg_enable}, MODULE),
    command("reg_disable", "disable a registrant (unREGISTER at once)", {_KEY: mi_reg_disable}, MODULE),
    command("reg_force_register", "register a registrant again now", {_KEY: mi_reg_force_register}, MODULE),
)
