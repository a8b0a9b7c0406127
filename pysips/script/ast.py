"""The typed syntax tree of an OpenSIPS script.

The parser (parse.py) builds it from the Lark tree; the compiler (compile.py) turns it into closures.
Every node carries the position of its first token so that load-time errors name file, line and
column. Nodes are frozen: the tree is a value, built once per load.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Pos:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Pos("<none>", 0, 0)


# ---------------------------------------------------------------------------------------------
# Top level
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocketSpec:
    """`proto:host:port` as written in `listen=`/`socket=` (and in `force_send_socket`-like params).

    `host` may be `*`, a name, an IPv4 address or an IPv6 address without brackets. `port` is None
    when omitted. `advertised_*` come from `as host:port`; `use_workers` and `anycast` from their
    suffixes.
    """

    proto: str | None
    host: str
    port: int | None
    advertised_host: str | None = None
    advertised_port: int | None = None
    use_workers: int | None = None
    anycast: bool = False
    tag: str | None = None
    pos: Pos = NOWHERE
    # Additions (parser): the spec as written; the ports after the first of a list or range
    # (`udp:*:5060-5062`, `ipsec:h:6100,5100`); other suffix flags as written (`frag`,
    # `reuse_port`, `accept_subdomain`, `proxy_protocol`...); `tos N`.
    raw: str = ""
    more_ports: tuple[int, ...] = ()
    flags: tuple[str, ...] = ()
    tos: int | None = None


@dataclass(frozen=True, slots=True)
class IPNet:
    """An IP address or network literal (`10.0.0.0/8`, `::1`), in parameters and expressions."""

    address: str
    prefix: int | None = None
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class ScalingProfile:
    """`auto_scaling_profile = NAME scale up to MAX on UP% for N cycles [within M]
    [scale down to MIN on DOWN% for K cycles]` (OpenSIPS 3.x). `up_cycles_checked` is M, or N
    when `within` is left out; the down fields are 0 without a `scale down` part."""

    name: str
    max_procs: int
    up_threshold: int
    up_cycles_needed: int
    up_cycles_checked: int
    min_procs: int = 0
    down_threshold: int = 0
    down_cycles_checked: int = 0


@dataclass(frozen=True, slots=True)
class WorkerCount:
    """`udp_workers=4 use_auto_scaling_profile NAME` (also tcp_/timer_workers)."""

    count: int
    scaling_profile: str


# A global parameter's value as written: number, string, yes/no (bool), socket, IP, a bare
# identifier (e.g. `log_facility=LOG_LOCAL0`), or a list of those (e.g. `alias=a.com b.com`).
ParamValue = (
    int | str | bool | SocketSpec | IPNet | ScalingProfile | WorkerCount | tuple["ParamValue", ...]
)


@dataclass(frozen=True, slots=True)
class GlobalParam:
    name: str
    value: ParamValue
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class LoadModule:
    path: str  # as written: "tm.so", "/usr/lib/opensips/modules/tm.so", "tm"
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class ModParam:
    module: str  # a name or a regular expression ("registrar|nathelper")
    name: str
    value: int | str
    pos: Pos = NOWHERE


class RouteKind(enum.Enum):
    REQUEST = "route"
    BRANCH = "branch_route"
    FAILURE = "failure_route"
    ONREPLY = "onreply_route"
    LOCAL = "local_route"
    ERROR = "error_route"
    STARTUP = "startup_route"
    TIMER = "timer_route"
    EVENT = "event_route"


@dataclass(frozen=True, slots=True)
class Route:
    """A route block. `name` is None for the main `route{}` and the global `onreply_route{}`.

    Numeric names (`route[1]`) are kept as their decimal string. `args` holds what follows the name
    inside the brackets: the interval of a timer_route, the `sync`/`async` mode of an event_route.
    """

    kind: RouteKind
    name: str | None
    body: Block
    args: tuple[int | str, ...] = ()
    pos: Pos = NOWHERE


TopItem = GlobalParam | LoadModule | ModParam | Route


@dataclass(frozen=True, slots=True)
class Script:
    """Top-level items in source order (with include_file/import_file already spliced in)."""

    items: tuple[TopItem, ...]
    files: tuple[str, ...] = ()  # every file read, the main one first
    # Addition (parser): things OpenSIPS accepts but that are probably mistakes (a stray character
    # its lexer skips, an import_file read twice...), for `pysips -c` to show.
    warnings: tuple[SyntaxProblem, ...] = ()

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(i for i in self.items if isinstance(i, Route))


# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transform:
    """One transformation of a chain: `{s.select,1,#}` is Transform("s.select", (IntLit 1, StrLit "#")).

    Arguments are literals or pseudo-variables, as OpenSIPS allows.
    """

    name: str
    args: tuple[Expr, ...] = ()
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class PVar:
    """A pseudo-variable reference.

    `$ru` -> PVar("ru"); `$hdr(Via)[0]` -> PVar("hdr", subname="Via", index=IntLit(0));
    `$(avp(x)[*])` -> index="*"; `$(<reply>hdr(X))` -> context="reply";
    `$(ru{uri.user})` -> transforms=(Transform("uri.user"),); `$var($var(n))` -> subname is a PVar.
    `$json(a/b)` keeps "a/b" as the subname text.
    """

    name: str
    subname: str | PVar | None = None
    index: Expr | str | None = None  # an expression, or "*" for every value
    context: str | None = None
    transforms: tuple[Transform, ...] = ()
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class IntLit:
    value: int
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class StrLit:
    """A string with no pseudo-variables in it (escapes already resolved)."""

    value: str
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class StrTemplate:
    """A quoted string that mixes text and pseudo-variables: "$fu to $tu"."""

    parts: tuple[str | PVar, ...]
    pos: Pos = NOWHERE
    # Addition (parser): the whole string with escapes resolved, for parameters that OpenSIPS does
    # not expand (regular expressions, subst patterns).
    text: str = ""


@dataclass(frozen=True, slots=True)
class NullLit:
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Myself:
    """The `myself` keyword on the right of `==`/`!=`."""

    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class CoreKeyword:
    """A core keyword operand: method, uri, from_uri, to_uri, src_ip, src_port, dst_ip, dst_port,
    proto, af, status, msg:len, retcode ... Compared with `==`, `!=`, `=~` and the like."""

    name: str
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Ident:
    """A bare word used as a value: `WS`, `INET`, flag names in `setflag(SRC_WS)`, `L_ERR`."""

    name: str
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class BinOp:
    """`op` is one of: || && == != < <= > >= =~ !~ + - * / % | & ^ << >>."""

    op: str
    left: Expr
    right: Expr
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class UnOp:
    """`op` is `!` (logical not), `~` (bitwise not) or `-` (negation)."""

    op: str
    operand: Expr
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Call:
    """A module or core function call, as a statement or in a condition: `t_relay("0x04")`.

    An argument left out (`f(, "x")`, `f("a",)`) is a NullLit, as OpenSIPS passes NULL for it.
    """

    name: str
    args: tuple[Expr, ...] = ()
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class RouteCall:
    """`route(name, args...)`; inside the called route the arguments are `$param(1)`..."""

    name: str
    args: tuple[Expr, ...] = ()
    pos: Pos = NOWHERE
    # Addition (parser): `route("relay_$var(kind)")` picks the route at run time; `name` then holds
    # the text as written.
    name_template: StrTemplate | None = None


Expr = (
    PVar
    | IntLit
    | StrLit
    | StrTemplate
    | NullLit
    | Myself
    | CoreKeyword
    | Ident
    | IPNet
    | BinOp
    | UnOp
    | Call
    | RouteCall
)


# ---------------------------------------------------------------------------------------------
# Statements
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    stmts: tuple[Stmt, ...] = ()
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class ExprStmt:
    """A call (module function or route) used as a statement."""

    expr: Expr
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Assign:
    """`target op value`; op is one of = += -= *= /= %= |= &= := (`:=` also assigns, replacing all
    values of an AVP). `$x = NULL` is a NullLit value (deletes)."""

    target: PVar
    op: str
    value: Expr
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: Block
    orelse: Block | None = None  # `else if` is an orelse Block holding one If
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Case:
    """`case VALUE:` followed by statements; falls through to the next case unless `break`."""

    value: Expr
    body: tuple[Stmt, ...]
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Switch:
    subject: Expr
    cases: tuple[Case, ...]
    default: tuple[Stmt, ...] | None = None
    default_index: int = -1  # where `default:` stands among the cases (fall-through order)
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class While:
    cond: Expr
    body: Block
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class ForEach:
    """`for ($var(v) in $(avp(list)[*])) { ... }`."""

    var: PVar
    iterable: PVar
    body: Block
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Return:
    value: Expr | None = None  # `return;` returns 1, as OpenSIPS does
    pos: Pos = NOWHERE
    # Addition (parser): `return(code, v1, v2)` also hands values back to the caller ($return(0)...).
    extra: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Exit:
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Drop:
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Break:
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Async:
    """`async(func(args), resume_route [, timeout])`."""

    call: Call
    resume_route: str
    timeout: Expr | None = None
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Launch:
    """`launch(func(args) [, report_route [, route_param]])`."""

    call: Call
    report_route: str | None = None
    report_param: Expr | None = None
    pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Assert:
    cond: Expr
    message: Expr | None = None
    pos: Pos = NOWHERE


Stmt = (
    ExprStmt
    | Assign
    | If
    | Switch
    | While
    | ForEach
    | Return
    | Exit
    | Drop
    | Break
    | Async
    | Launch
    | Assert
    | Block
)


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """One syntax error, reported as `file:line:col: message` followed by the offending line."""

    pos: Pos
    message: str
    source_line: str = ""
    notes: tuple[str, ...] = field(default=())

    def format(self) -> str:
        text = f"{self.pos}: {self.message}"
        if self.source_line:
            caret = " " * max(self.pos.col - 1, 0) + "^"
            text += f"\n    {self.source_line}\n    {caret}"
        return text
