"""OpenSIPS's error info and error_route: what went wrong, and the route that gets to answer it.

A module function (or the core) that meets an error the script should hear about calls
`set_error()`; the compiled call site sees `ctx.error_info` set right after the call and runs the
script's `error_route` through `run_error_route()`, which resets the info when the route ends. The
error_route reads the info as `$err.class`, `$err.level`, `$err.info`, `$err.rcode`, `$err.rreason`.

As in OpenSIPS (action.c run_action_list): no error_route runs from an onreply_route or a
local_route, nor from inside the error_route itself; `exit`/`drop` in the error_route (or a function
there returning 0) end the whole script, anything else lets the interrupted route go on.
"""

from __future__ import annotations

from collections.abc import Callable

from pysips.script.context import MsgContext, RouteType

# Error classes (OpenSIPS errinfo.h OSER_EC_*)
EC_PARSER = 1
EC_PMEMORY = 2
EC_SMEMORY = 3
EC_ASSERT = 4

# Severity levels (OSER_EL_*); parse errors are MEDIUM
EL_CRITIC = 1
EL_HIGH = 2
EL_MEDIUM = 3
EL_NORMAL = 4
EL_LOW = 5

# The suggested reply OpenSIPS's parsers attach to a header they cannot parse.
BAD_HEADERS = "bad headers"

_IN_ERROR_ROUTE = "core.in_error_route"  # ctx.extra marker while the error_route runs
# Route types an error never interrupts: replies and locally generated requests (OpenSIPS).
_NO_ERROR_ROUTE = RouteType.ONREPLY | RouteType.LOCAL

RouteRunner = Callable[[MsgContext], int]


def set_error(ctx: MsgContext, eclass: int, level: int, info: str, rcode: int = 0, rreason: str = "") -> None:
    """Record an error for the error_route. A later error replaces an earlier one, as in OpenSIPS."""
    # OpenSIPS reads an unset suggested reply as 0 and ""
    ctx.error_info = {"class": eclass, "level": level, "info": info, "rcode": rcode, "rreason": rreason}


def set_parse_error(ctx: MsgContext, info: str, rcode: int = 400, rreason: str = BAD_HEADERS) -> None:
    """A header a function needs does not parse (class parser, level medium, 400 "bad headers")."""
    set_error(ctx, EC_PARSER, EL_MEDIUM, info, rcode, rreason)


def run_error_route(ctx: MsgContext, route: RouteRunner) -> None:
    """Called where `ctx.error_info` is set and the script has an error_route: runs it once.

    `return` inside it ends only the error_route; `exit`/`drop` stay in ctx.action_flags and so end
    the interrupted route too. The error info is reset afterwards either way.
    """
    if ctx.route_type & _NO_ERROR_ROUTE:
        return
    extra = ctx.extra
    if _IN_ERROR_ROUTE in extra:
        return
    extra[_IN_ERROR_ROUTE] = True
    saved_params = ctx.params
    saved_retcode = ctx.retcode
    ctx.params = ()
    try:
        route(ctx)
    finally:
        ctx.params = saved_params
        ctx.retcode = saved_retcode
        ctx.error_info = None
        del extra[_IN_ERROR_ROUTE]


def run_top_error_route(ctx: MsgContext, route: RouteRunner) -> int:
    """The error_route as the only route of a message (one that failed to parse): the core sets
    ctx.error_info and ctx.route_type ERROR before calling this."""
    run_error_route(ctx, route)
    return 1


# Where a request failed the core's parse (pysips.sip ParseError reasons start with the part they
# are about): OpenSIPS's $err.info wording for it.
_PARSE_INFO = (
    ("from", "error parsing From header"),
    ("missing from", "error parsing From header"),
    ("to", "error parsing To header"),
    ("missing to", "error parsing To header"),
    ("via", "error parsing Via"),
    ("missing via", "error parsing Via"),
    ("missing cseq", "error parsing CSeq"),
    ("request-uri", "error parsing Request-URI"),
    ("malformed request-line", "error parsing Request-URI"),
)


def parse_failure_info(reason: str) -> str:
    """$err.info for a message the core could not parse, from the parser's reason."""
    lowered = reason.lower()
    for prefix, info in _PARSE_INFO:
        if lowered.startswith(prefix) and (len(lowered) == len(prefix) or not lowered[len(prefix)].isalpha()):
            return info
    return "error parsing headers"
