"""uac_registrant: pysips registering itself to upstream registrars (OpenSIPS 3.6 uac_registrant).

The records come from the `registrant` table (OpenSIPS 3.6 schema, `pysips db create
uac_registrant`); a timer sends each enabled record's REGISTER through tm's UAC, answers a 401/407
with the record's username/password (the digest rules of pysips.sip.digest_client), refreshes
`timer_interval` seconds before the granted expiry and retries failures after `expires` (or
`failure_retry_interval`) seconds. MI: reg_list, reg_reload, reg_enable, reg_disable,
reg_force_register. See docs/uac.md."""

from __future__ import annotations

import logging
from typing import Any

from pysips.core.services import TRANSACTIONS, UAC_CREDENTIALS
from pysips.script.context import ProcessState
from pysips.script.errors import FixupError
from pysips.script.exports import ModuleExports, ModuleInitContext, ParamExport, ParamType

from .mi import COMMANDS
from .runtime import RegistrantConfig, Registrants

log = logging.getLogger("pysips.modules.uac_registrant")

# OpenSIPS's default when neither db_url nor db_default_url is set
DEFAULT_DB_URL = "mysql://opensips:opensipsrw@localhost/opensips"

# modparam name -> the table column it renames (OpenSIPS's column parameters)
COLUMN_PARAMS = {
    "registrar_column": "registrar", "proxy_column": "proxy", "aor_column": "aor",
    "third_party_registrant_column": "third_party_registrant", "username_column": "username",
    "password_column": "password", "binding_URI_column": "binding_URI",
    "binding_params_column": "binding_params", "expiry_column": "expiry",
    "forced_socket_column": "forced_socket", "cluster_shtag_column": "cluster_shtag",
    "state_column": "state",
}


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Registrants:
    default_expires = int(params["default_expires"])
    if default_expires < 15:
        raise FixupError(f"default_expires to short: [{default_expires}]<15")
    interval = int(params["timer_interval"])
    if interval < 10:
        raise FixupError(f"timer_interval to short: [{interval}]<10")
    hash_size = int(params["hash_size"])
    if not 1 <= hash_size <= 20:
        raise FixupError(f"Wrong hash size: 20<[{hash_size}]<1")
    if interval < (1 << hash_size):
        raise FixupError(f"timer_interval=[{interval}] MUST be at least as big as "
                         f"reg_hsize=[{1 << hash_size}]")
    if int(params.get("enable_clustering") or 0):
        raise FixupError("enable_clustering: clustering is not implemented in pysips")
    db_url = params.get("db_url") or DEFAULT_DB_URL
    columns = {col: str(params[name]) for name, col in COLUMN_PARAMS.items() if params.get(name)}
    config = RegistrantConfig(str(db_url), str(params["table_name"]), columns, interval, hash_size,
                              int(params["failure_retry_interval"]), default_expires)
    regs = Registrants(ictx.process, ictx.require(TRANSACTIONS), config)
    if ictx.process.core is not None:
        regs.records = regs.load()
    return regs


def _child_init(process: ProcessState, regs: Registrants) -> None:
    regs.start()


def _destroy(regs: Registrants) -> None:
    regs.stop()


exports = ModuleExports(
    "uac_registrant",
    params=(
        ParamExport("db_url", ParamType.STR, None, doc="database holding the registrant table"),
        ParamExport("table_name", ParamType.STR, "registrant", doc="the registrant table"),
        ParamExport("hash_size", ParamType.INT, 1, doc="records are checked in 2^hash_size buckets"),
        ParamExport("timer_interval", ParamType.INT, 100, doc="seconds between two looks at a record"),
        ParamExport("failure_retry_interval", ParamType.INT, 0, doc="retry a failed registration after (s)"),
        ParamExport("default_expires", ParamType.INT, 3600, doc="expiry when the row has none"),
        ParamExport("enable_clustering", ParamType.INT, 0, doc="not implemented (load error when set)"),
        *(ParamExport(name, ParamType.STR, None, doc=f"column holding {col}")
          for name, col in COLUMN_PARAMS.items()),
    ),
    requires=(TRANSACTIONS, UAC_CREDENTIALS),
    init=_init,
    child_init=_child_init,
    destroy=_destroy,
    mi_commands=COMMANDS,
    doc="registering pysips to upstream registrars from the registrant table",
)
