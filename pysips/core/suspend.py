"""Script code that waits on the network without stalling the worker.

Every message's script (main route, and the tm work that runs onreply, failure and branch routes
from replies and timers) runs in its own greenlet, started by `spawn()`. A module function that
must wait for a reply from the network (rtpengine's NG, later SQL, HTTP, caches) calls
`wait(awaitable)`: inside a script greenlet this switches back to the event loop with the future,
and the loop switches into the greenlet again with the result when the future completes. The
script, its MsgContext and every Python frame between the route and the module call stay as they
were; the route simply continues. Other messages are processed meanwhile.

Outside a script greenlet (a unit test calling a route directly, a tool without an event loop)
`wait()` runs the awaitable to completion on a private event loop, as a blocking call would; with
an event loop running in this thread and no script greenlet it raises, because blocking there
would stall every message.

The asyncio side lives here, in pysips.core: pysips.sip and pysips.script stay free of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

log = logging.getLogger("pysips.core")

T = TypeVar("T")


_DONE = object()  # what a script greenlet hands its parent when its job ended
_POOL_MAX = 256  # idle greenlets kept for reuse; more are simply freed


class ScriptGreenlet(greenlet):
    """A greenlet running script code: the only kind `wait()` may switch out of.

    Creating a greenlet costs about ten times a switch, so they are pooled: each one loops over
    jobs, handing `_DONE` to its parent after each and waiting there for the next."""

    def __init__(self) -> None:
        super().__init__(self._serve)
        self.deadline: float | None = None  # loop time after which wait() gives up (async timeout)

    def _serve(self, fn: Callable[..., object], args: tuple[Any, ...]) -> None:
        while True:
            self.deadline = None
            try:
                fn(*args)
            except Exception:
                # resumed code has no caller to raise to: it costs this one message, logged
                log.exception("error in script code run by %r", fn)
            fn = args = None  # type: ignore[assignment]  # nothing of the job outlives it
            parent = self.parent
            assert parent is not None  # spawn() and _resume() always set it
            fn, args = parent.switch(_DONE)


class _Suspended:
    """What a script greenlet hands its parent when it waits: the future to resume it on."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future


class _State:
    __slots__ = ("fallback_loop", "idle", "waiting")

    def __init__(self) -> None:
        self.waiting = 0
        self.idle: list[ScriptGreenlet] = []
        self.fallback_loop: asyncio.AbstractEventLoop | None = None


_state = _State()


def in_script() -> bool:
    """True inside a script greenlet (where `wait()` suspends instead of blocking)."""
    return isinstance(getcurrent(), ScriptGreenlet)


def suspended_count() -> int:
    """How many script greenlets are waiting now (for statistics and tests)."""
    return _state.waiting


def spawn(fn: Callable[..., object], *args: Any) -> bool:
    """Runs `fn(*args)` in a script greenlet. True when it finished; False when it waits (it then
    ends later, from the event loop). Exceptions are logged, never raised."""
    idle = _state.idle
    child = idle.pop() if idle else ScriptGreenlet()
    child.parent = getcurrent()
    return _step(child, child.switch(fn, args))


def _step(child: ScriptGreenlet, value: object) -> bool:
    if value is _DONE:
        if len(_state.idle) < _POOL_MAX:
            _state.idle.append(child)
        return True
    if not isinstance(value, _Suspended):
        log.error("a script greenlet switched out without waiting on a future: %r", value)
        return False
    _state.waiting += 1
    value.future.add_done_callback(lambda done: _resume(child, done))
    return False


def _resume(child: ScriptGreenlet, done: asyncio.Future[Any]) -> None:
    _state.waiting -= 1
    # The greenlet that spawned it may be gone or waiting itself: whoever resumes it is the
    # parent it switches back to when it waits again or ends.
    child.parent = getcurrent()
    _step(child, child.switch(done))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def wait(awaitable: Awaitable[T]) -> T:
    """The result of `awaitable` (a coroutine, Task or Future), raising its exception.

    In a script greenlet with the event loop running, the script is suspended until it completes
    and other messages are processed meanwhile. Without an event loop it is run to completion on a
    private loop (unit tests, tools). Called on the event loop outside a script greenlet it raises
    RuntimeError: waiting there would stall the worker."""
    loop = _running_loop()
    current = getcurrent()
    if loop is None:
        return _run_blocking(awaitable)
    if not isinstance(current, ScriptGreenlet) or current.parent is None:
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError("wait() called on the event loop outside script code: it would stall the worker")
    deadline = current.deadline
    if deadline is not None and deadline <= loop.time():
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise TimeoutError("the script's time to wait ran out")
    future = asyncio.ensure_future(awaitable)
    timer = loop.call_at(deadline, future.cancel) if deadline is not None else None
    done = current.parent.switch(_Suspended(future))
    assert done is future
    if timer is not None:
        timer.cancel()
        if future.cancelled():
            raise TimeoutError("the script's time to wait ran out")
    result: T = future.result()
    return result


def call_with_deadline(seconds: float, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, every wait() in it cut short (TimeoutError) once `seconds` have passed: the
    timeout of OpenSIPS's async(). Outside script code it is a plain call."""
    current = getcurrent()
    loop = _running_loop()
    if not isinstance(current, ScriptGreenlet) or loop is None:
        return fn(*args)
    saved = current.deadline
    deadline = loop.time() + seconds
    current.deadline = deadline if saved is None else min(saved, deadline)
    try:
        return fn(*args)
    finally:
        current.deadline = saved


def _run_blocking(awaitable: Awaitable[T]) -> T:
    loop = _state.fallback_loop
    if loop is None or loop.is_closed():
        loop = _state.fallback_loop = asyncio.new_event_loop()
    return loop.run_until_complete(awaitable)


def fallback_loop() -> asyncio.AbstractEventLoop | None:
    """The private loop `wait()` runs awaitables on when no event loop is running, once used."""
    return _state.fallback_loop
