"""mi_fifo: the management interface over a named pipe (OpenSIPS `mi_fifo`), as opensips-cli's
default `fifo` communication uses it.

A client writes `:reply_name:{"jsonrpc":"2.0","method":...}` to `fifo_name`; the JSON-RPC reply
goes to the FIFO `reply_dir`/reply_name, which the client created. Parameters: fifo_name
(/tmp/opensips_fifo), fifo_mode (0660), fifo_user/fifo_group (name or id), reply_dir (/tmp/),
pretty_printing. The FIFO is created again if someone deletes it (checked every 30 s).
"""

from __future__ import annotations

import asyncio
import grp
import pwd
from typing import Any

from pysips.mi import mi_of
from pysips.mi.jsonrpc import encode
from pysips.script.errors import FixupError
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType

from .fifo import FifoConfig, FifoError, FifoServer

__all__ = ["FifoError", "FifoServer", "exports"]


def _user_id(value: Any) -> int:
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise FixupError(f"unknown user {text!r}") from None


def _group_id(value: Any) -> int:
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        raise FixupError(f"unknown group {text!r}") from None


def _check_mode(value: Any) -> int:
    mode = int(value)
    if not 0 <= mode <= 0o7777:
        raise FixupError(f"bad fifo_mode {value!r}")
    return mode


def _not_implemented(value: Any) -> Any:
    raise FixupError("MI tracing (proto_hep) is not implemented in pysips")


def config_from(params: dict[str, Any]) -> FifoConfig:
    reply_dir = str(params.get("reply_dir") or "/tmp/")
    return FifoConfig(
        name=str(params.get("fifo_name") or "/tmp/opensips_fifo"),
        mode=int(params.get("fifo_mode", 0o660)),
        uid=_user_id(params["fifo_user"]) if params.get("fifo_user") is not None else -1,
        gid=_group_id(params["fifo_group"]) if params.get("fifo_group") is not None else -1,
        reply_dir=reply_dir,
        pretty=bool(params.get("pretty_printing")),
    )


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> FifoServer:
    config = config_from(params)
    mi = mi_of(mctx.process)

    def dispatch(request: object) -> bytes | None:
        response = mi.handle(request)
        return None if response is None else encode(response, config.pretty)

    server = FifoServer(config, dispatch)
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    server.start(loop)
    mi.add_role("MI FIFO")
    return server



def _destroy(server: object) -> None:
    """SIGTERM/SIGINT/exit: the listening endpoint closes (and its file goes) while the loop runs."""
    if isinstance(server, FifoServer):
        server.close()


exports = ModuleExports(
    "mi_fifo",
    params=(
        ParamExport("fifo_name", ParamType.STR, "/tmp/opensips_fifo", doc="the FIFO commands are read from"),
        ParamExport("fifo_mode", ParamType.INT, 0o660, check=_check_mode, doc="its permissions"),
        ParamExport("fifo_user", ParamType.INT_OR_STR, None, check=_user_id, doc="its owner (name or uid)"),
        ParamExport("fifo_group", ParamType.INT_OR_STR, None, check=_group_id, doc="its group (name or gid)"),
        ParamExport("reply_dir", ParamType.STR, "/tmp/", doc="where the clients' reply FIFOs are"),
        ParamExport("pretty_printing", ParamType.INT, 0, doc="indent the JSON replies"),
        ParamExport("trace_destination", ParamType.STR, None, check=_not_implemented,
                    doc="not implemented: a load error"),
        ParamExport("trace_bwlist", ParamType.STR, None, check=_not_implemented,
                    doc="not implemented: a load error"),
    ),
    init=_init,
    main_process_only=True,  # one MI endpoint, in the main process, with workers
    destroy=_destroy,
    doc="JSON-RPC management interface over a FIFO file",
)
