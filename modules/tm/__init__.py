"""tm: stateful proxying (OpenSIPS tm module).

Transactions, forking, reply selection, CANCEL, the failure/branch/onreply routes and the
final-response timers. See docs/tm.md and `runtime.Tm` for what other modules can use.
"""

from __future__ import annotations

from typing import Any

from pysips.core.services import RECORD_ROUTE, TRANSACTIONS
from pysips.script.ast import RouteKind
from pysips.script.context import ProcessState
from pysips.script.exports import ModuleExports, ModuleInitContext

from .config import PARAMS, TmConfig
from .functions import FUNCTIONS
from .mi import COMMANDS as MI_COMMANDS
from .pvars import PVARS
from .runtime import Tm
from .stats import STATS


def _init(ictx: ModuleInitContext, params: dict[str, Any]) -> Tm:
    tm = Tm(ictx.process, TmConfig.from_params(params))
    tm.routes = ictx.get(RECORD_ROUTE)
    ictx.provide(TRANSACTIONS, tm)
    core_params = ictx.script.core if ictx.script is not None else {}
    local = ictx.script.route(RouteKind.LOCAL) if ictx.script is not None else None
    tm.local_route = local.run if local is not None else None
    tm.use_dns_failover = not core_params.get("disable_dns_failover")
    ictx.process.transactions = tm  # async() creates its transaction through tm
    if ictx.process.core is not None:
        tm.attach(ictx.process.core)
    return tm


def _child_init(process: ProcessState, runtime: object) -> None:
    if isinstance(runtime, Tm) and process.core is not None:
        runtime.attach(process.core)


exports = ModuleExports(
    name="tm",
    functions=FUNCTIONS,
    params=PARAMS,
    pvars=PVARS,
    provides=(TRANSACTIONS,),
    uses=(RECORD_ROUTE,),
    init=_init,
    child_init=_child_init,
    stats=STATS,
    mi_commands=MI_COMMANDS,
    doc="Stateful SIP proxying: transactions, forking, failure routes, CANCEL, timers.",
)
