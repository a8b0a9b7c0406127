"""mi_script: MI commands run from the script (OpenSIPS module `mi_script`).

`mi(command[, $ret[, $params_avp[, $values_avp]]])` runs an MI command of this process, as the MI
transports would: its parameters are the words after the command name (positional), or the
names and values held by two AVPs (named; the nth name with the nth value). The result goes to
`$ret` as JSON (a bare "OK" as the text OK); an MI error puts its message there. Returns 1 on
success, -1 when the command failed or does not exist, -2 for a bad call.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pysips.mi.runtime import mi_of
from pysips.script.context import MsgContext, RouteType
from pysips.script.exports import ArgKind, ArgSpec, FunctionExport, ModuleExports
from pysips.script.pv_base import PVAccessor

log = logging.getLogger("pysips.mi_script")


def _params(ctx: MsgContext, words: list[str], names: PVAccessor | None,
            values: PVAccessor | None) -> list[str] | dict[str, Any] | None:
    if names is None:
        return words or None
    if values is None:
        log.error("mi: parameter names given without their values")
        return None
    keys = [str(v) for v in names.get_all(ctx) if v is not None]
    vals = values.get_all(ctx)
    if len(keys) != len(vals):
        log.error("mi: %d parameter names but %d values", len(keys), len(vals))
        return None
    return {key: (str(val) if val is not None else None) for key, val in zip(keys, vals, strict=True)}


def w_mi(ctx: MsgContext, command: str, ret: PVAccessor | None = None, names: PVAccessor | None = None,
         values: PVAccessor | None = None) -> int:
    words = command.split()
    if not words:
        log.error("mi: no command given")
        return -2
    params = _params(ctx, words[1:], names, values)
    if names is not None and params is None:
        return -2
    request: dict[str, Any] = {"jsonrpc": "2.0", "method": words[0], "id": 1}
    if params:
        request["params"] = params
    response = mi_of(ctx.process).handle(request) or {}
    if "error" in response:
        error = response["error"]
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        log.error("mi: %s failed: %s", words[0], message)
        if ret is not None:
            ret.set(ctx, message)
        return -1
    result = response.get("result")
    if ret is not None:
        ret.set(ctx, result if isinstance(result, str) else json.dumps(result, separators=(",", ":")))
    return 1


exports = ModuleExports(
    name="mi_script",
    functions=(
        FunctionExport("mi", w_mi, (ArgSpec(ArgKind.STR, "command"),
                                    ArgSpec(ArgKind.VAR, "ret", optional=True),
                                    ArgSpec(ArgKind.VAR, "params_avp", optional=True),
                                    ArgSpec(ArgKind.VAR, "values_avp", optional=True)),
                       RouteType.ALL, doc="run an MI command of this process"),
    ),
    doc="MI commands run from the script.",
)
