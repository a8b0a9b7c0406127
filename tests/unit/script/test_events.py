"""raise_event()/subscribe_event() and event_route delivery (OpenSIPS event interface)."""

from __future__ import annotations

import pytest
from test_compile_support import INVITE, calls, load, run

from pysips.script.context import ProcessState
from pysips.script.events import EventInterface, events_of

EVENT_ROUTES = """
event_route[E_SCRIPT] {
    $var(seen) = $var(seen) + 1;
    # strings are literal in assignments (OpenSIPS): each value goes to its own variable
    $var(g1) = $param(p1); $var(g2) = $param(p2); $var(g3) = $param(1);
    $var(g4) = $param(2); $var(g5) = $param(3); $var(g6) = $rm;
    $avp(leak) = "x";
}
event_route[E_OTHER] {
    $var(ran_other) = 1;
    $var(o1) = $param(1); $var(o2) = $param(2);
}
"""


def go(body: str, routes: str = EVENT_ROUTES) -> tuple[ProcessState, list[object]]:
    loaded = load("route {\n" + body + "\n}\n" + routes)
    process = ProcessState()
    loaded.init_modules(process)
    _, ctx = run(loaded, INVITE, process=process)
    return process, [c[1] for c in calls(ctx)]


def test_named_parameters_newest_avp_first_reach_event_route() -> None:
    _, got = go(
        '$avp(names) = "p1"; $avp(names) = "p2";'
        '$avp(vals) = 1; $avp(vals) = "two";'
        '$var(seen) = 0;'
        'if (raise_event("E_SCRIPT", $avp(names), $avp(vals))) t_rec("raised");'
        't_rec("$var(seen) $var(g1)|$var(g2)|$var(g3)|$var(g4)|$var(g5)|$var(g6) [$avp(leak)]");'
    )
    # search_first_avp order: the newest value goes with the newest name
    assert got == ["raised", "1 1|two|two|1|<null>|<null> [<null>]"]


def test_unnamed_and_without_values() -> None:
    _, got = go(
        '$avp(vals) = "a"; $avp(vals) = "b";'
        'raise_event("E_OTHER", , $avp(vals)); t_rec("$var(o1),$var(o2)");'
        'raise_event("E_OTHER"); t_rec("$var(o1),$var(o2)");'
    )
    assert got == ["b,a", "<null>,<null>"]


def test_raising_without_subscribers_succeeds_and_unknown_transport_fails() -> None:
    _, got = go(
        'if (raise_event("E_NOBODY")) t_rec("ok");'
        'if (!subscribe_event("E_NOBODY", "udp:127.0.0.1:9")) t_rec("no udp transport");'
        'if (!subscribe_event("E_NOBODY", "route:E_MISSING")) t_rec("no such route");'
    )
    assert got == ["ok", "no udp transport", "no such route"]


def test_subscribe_route_transport_and_expiry() -> None:
    clock = [1000.0]
    process = ProcessState()
    events = EventInterface(process, lambda: clock[0])
    process.events = events
    seen: list[object] = []
    events.add_event_route("E_A", lambda ctx: seen.append(("A", ctx.event_params)) or 1)
    events.publish("E_B")
    assert events.subscribe("E_B", "route:E_A", 10) == 1
    assert events.raise_event("E_B", [("k", "v")]) == 1
    clock[0] += 11
    assert events.raise_event("E_B", [("k", "w")]) == 1
    assert seen == [("A", {"k": "v"})]
    assert not events.has_subscribers("E_B")
    assert events.subscribe("E_UNPUBLISHED", "route:E_A", 0) == -1


def test_delivery_is_scheduled_not_nested() -> None:
    loaded = load('route { raise_event("E_OTHER"); t_rec("after raise: $var(o1)"); }\n' + EVENT_ROUTES)
    process = ProcessState()
    loaded.init_modules(process)
    queued: list[object] = []
    events = events_of(process)
    assert events is not None
    events.schedule = queued.append
    _, ctx = run(loaded, INVITE, process=process)
    assert [c[1] for c in calls(ctx)] == ["after raise: <null>"]
    assert len(queued) == 1
    queued[0]()  # type: ignore[operator]
    assert process.vars.get("o1") is None and process.vars.get("o2") is None
    assert process.vars["ran_other"] == 1


def test_attribute_args_must_be_avps() -> None:
    with pytest.raises(Exception, match="must be an AVP"):
        load('route { raise_event("E_X", $var(a), $var(b)); }\n')
