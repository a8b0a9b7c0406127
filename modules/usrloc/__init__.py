"""usrloc: the user location table (OpenSIPS module `usrloc`).

Keeps the registered contacts of each address-of-record for registrar's save() and lookup(), in
memory and/or in an SQL table with OpenSIPS's `location` layout (see `working_mode_preset`, or the
2.x `db_mode`). Exports no script functions, as in OpenSIPS.

pysips addition: `handle_lost_tcp` (named as in Kamailio) removes the contacts registered over a
TCP/TLS/WS connection when that connection closes, so calls to a browser whose tab is gone fail
at once instead of waiting for the registration to expire.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import LOCATION, SHARED_STATE
from pysips.script.context import ProcessState
from pysips.script.errors import FixupError
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType

from .config import (
    DEFAULT_DB_URL,
    check_cluster_mode,
    check_db_mode,
    check_db_url,
    check_hash_size,
    check_preset,
    check_restart_persistency,
    check_sql_write_mode,
    config_from,
)
from .mi import MI_COMMANDS, STATS, register_table_stats
from .runtime import Usrloc, UsrlocError

__all__ = ["Usrloc", "UsrlocError", "exports"]


def _push_only(value: Any) -> Any:
    raise FixupError("contact_refresh_timer is not supported by pysips: "
                     "RFC 8599 push notification is not implemented")


def _init(mctx: ModuleInitContext, params: dict[str, Any]) -> Usrloc:
    # SHARED_STATE is there when the server runs worker processes (the core provides it)
    ul = Usrloc(config_from(params), mctx.flags, mctx.process.core, shared=mctx.get(SHARED_STATE))
    mctx.provide(LOCATION, ul)
    return ul


def _child_init(process: ProcessState, runtime: object) -> None:
    if isinstance(runtime, Usrloc):
        register_table_stats(process, runtime)


def _destroy(runtime: object) -> None:
    """SIGTERM/SIGINT/exit: write-back tables are flushed (db_mode 2), the database closed."""
    if isinstance(runtime, Usrloc):
        runtime.shutdown()



exports = ModuleExports(
    "usrloc",
    params=(
        ParamExport("nat_bflag", ParamType.BFLAG, doc="branch flag marking contacts behind NAT"),
        ParamExport("db_url", ParamType.STR, DEFAULT_DB_URL, check=check_db_url, doc="database URL"),
        ParamExport("db_mode", ParamType.INT, 0, check=check_db_mode,
                    doc="2.x: 0 memory, 1 write-through, 2 write-back, 3 database only"),
        ParamExport("working_mode_preset", ParamType.STR, check=check_preset,
                    doc="3.x: single-instance-no-db, single-instance-sql-write-through, "
                        "single-instance-sql-write-back, sql-only"),
        ParamExport("cluster_mode", ParamType.STR, check=check_cluster_mode, doc="none or sql-only"),
        ParamExport("restart_persistency", ParamType.STR, check=check_restart_persistency,
                    doc="none or load-from-sql"),
        ParamExport("sql_write_mode", ParamType.STR, check=check_sql_write_mode,
                    doc="none, write-through or write-back"),
        ParamExport("timer_interval", ParamType.INT, 60, doc="seconds between expiry/write-back runs"),
        ParamExport("use_domain", ParamType.INT, 0, doc="the AOR includes the domain (OpenSIPS: off)"),
        ParamExport("matching_mode", ParamType.INT, 0, doc="0 Contact URI, 1 Contact URI and Call-ID"),
        ParamExport("cseq_delay", ParamType.INT, 20,
                    doc="seconds a REGISTER with the same Call-ID and CSeq counts as a retransmission"),
        ParamExport("desc_time_order", ParamType.INT, 0,
                    doc="order an AOR's contacts by registration time (newest first) instead of q"),
        ParamExport("hash_size", ParamType.INT, 9, check=check_hash_size,
                    doc="2^n hash slots per table: shown by ul_dump and part of every contact id"),
        ParamExport("contact_refresh_timer", ParamType.INT, None, check=_push_only,
                    doc="RFC 8599 push notification refreshes: not implemented (a load error)"),
        ParamExport("handle_lost_tcp", ParamType.INT, 0,
                    doc="pysips: remove contacts of a TCP/TLS/WS connection when it closes"),
    ),
    provides=(LOCATION,),
    init=_init,
    child_init=_child_init,
    destroy=_destroy,
    mi_commands=MI_COMMANDS,
    stats=STATS,
    doc="user location",
)
