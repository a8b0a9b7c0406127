"""The state a compiled route runs against: one message and what the script did to it so far.

A MsgContext is made per received message (or per reply, per branch, per timer tick) and handed to
every closure of a route. Per-process state ($var, the loaded modules' runtime objects) is shared
through `process`; per-message/per-transaction state ($avp, flags, the new R-URI) lives here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pysips.script.services import ServiceRegistry

if TYPE_CHECKING:
    from pysips.sip.receive import ReceiveInfo

# Script values: OpenSIPS pseudo-variables hold a string, an integer, or nothing (NULL).
Value = str | int | None


class ProcessState:
    """What survives between messages in one worker: `$var`s and module runtime objects.

    `modules` maps a module name to whatever object that module keeps at run time (its tables,
    sockets, statistics); modules look themselves up here instead of using globals so that several
    scripts can be loaded side by side in tests.
    """

    __slots__ = ("core", "modules", "services", "vars")

    def __init__(self) -> None:
        self.vars: dict[str, Value] = {}
        self.modules: dict[str, Any] = {}
        # What modules offer each other (pysips.script.services): the only way one module reaches
        # another; `modules` above is each module's own slot.
        self.services = ServiceRegistry()
        # The engine (pysips.core.api.Core) once it runs; None while only checking a script.
        self.core: Any = None


class RouteType:
    """Bit values of route kinds, so a function's allowed kinds are one mask test."""

    REQUEST = 1
    FAILURE = 2
    ONREPLY = 4
    BRANCH = 8
    ERROR = 16
    LOCAL = 32
    STARTUP = 64
    TIMER = 128
    EVENT = 256
    ALL = 511


# Control flags of a script run (OpenSIPS action_flags): set by return/exit/drop/break and tested
# after every statement.
ACT_RETURN = 1
ACT_EXIT = 2
ACT_BREAK = 4
ACT_DROP = 8

# Per-message processing flags the core honours when it sends (force_rport, add_local_rport).
MSGFL_FORCE_RPORT = 1
MSGFL_ADD_LOCAL_RPORT = 2


class MsgContext:
    """One run of the script over one message.

    `msg` is the current message (the reply in an onreply_route, the request in the others); it is
    None in startup, timer and most event routes. `rcv` says where it came from.

    `new_ruri`/`dst_uri` are what the script set ($ru, $du, rewrite functions, lookup); the
    message's own R-URI stays untouched until it is forwarded. `branches` holds extra targets added by
    `append_branch`/`lookup` beyond the first (each a dict the tm module understands).

    `avps` maps a name to its values, newest first, as OpenSIPS returns them (`$avp(x)` is the last
    one added, `$avp(x)[1]` the one before). The tm module swaps in the transaction's AVPs when it
    runs a per-transaction route.
    """

    __slots__ = (
        "action_flags",
        "avps",
        "bflags",
        "branches",
        "dst_uri",
        "error_info",
        "event_params",
        "extra",
        "flags",
        "force_socket",
        "msg",
        "msg_flags",
        "new_ruri",
        "now",
        "params",
        "process",
        "rcv",
        "reply",
        "retcode",
        "route_depth",
        "route_type",
        "script_flags",
        "transaction",
    )

    def __init__(
        self,
        process: ProcessState,
        msg: Any = None,
        rcv: ReceiveInfo | None = None,
        route_type: int = RouteType.REQUEST,
        now: float = 0.0,
    ) -> None:
        self.process = process
        self.msg = msg
        self.rcv = rcv
        self.route_type = route_type
        self.now = now  # wall-clock time of the event, passed in (sans-I/O)
        self.flags = 0
        self.bflags = 0
        self.script_flags = 0
        self.avps: dict[str, list[str | int]] = {}
        self.params: tuple[Value, ...] = ()
        self.retcode = 1
        self.new_ruri: str | None = None
        self.dst_uri: str | None = None
        self.branches: list[dict[str, Any]] = []
        self.force_socket: Any = None
        self.transaction: Any = None  # set by tm when the message belongs to a transaction
        self.reply: Any = None  # the winning reply in a failure_route, for $(<reply>...) and $rs
        self.action_flags = 0
        self.msg_flags = 0  # MSGFL_* bits
        self.route_depth = 0
        self.extra: dict[str, Any] = {}  # per-message scratch space for modules, keyed by module
        # The named parameters of the event that started an event_route ($param(name)).
        self.event_params: dict[str, Value] | None = None
        # What went wrong, for an error_route ($err.class level info rcode rreason), set by the
        # core when it runs one; None otherwise.
        self.error_info: dict[str, Value] | None = None

    @property
    def exit_requested(self) -> bool:
        """The script ended (exit, drop, or a function/route returning 0)."""
        return bool(self.action_flags & ACT_EXIT)

    @property
    def dropped(self) -> bool:
        return bool(self.action_flags & ACT_DROP)
