"""A worker's requests to the main process that wait for an answer (a stream send's result, a
shared change's acknowledgement), without stalling the worker: the script that asks is suspended
(pysips.core.suspend.wait) and resumed with the answer; outside script code nothing is awaited.

Answers come in the worker's channel in order with everything else; after one, the channel
stops its batch until the resumed script has run (Channel's `on_message` returns True), so the
script sees its answer before any message the main process sent after it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from pysips.core.suspend import in_script, wait

log = logging.getLogger("pysips.core.workers")

ANSWER_TIMEOUT_S = 2.0  # the main process answers at once; longer means it is gone
_NO_ANSWER = object()


class WorkerRpc:
    __slots__ = ("_ids", "_pending", "_send")

    def __init__(self, send: Callable[[Any], None]) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}

    def notify(self, *message: Any) -> None:
        """Sent, no answer wanted (request id 0)."""
        self._send((*message, 0))

    def call(self, default: Any, *message: Any) -> Any:
        """The main process's answer; `default` outside script code (not awaited) or when no
        answer comes in time."""
        if not in_script():
            self.notify(*message)
            return default
        req = next(self._ids)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[req] = future
        self._send((*message, req))
        # the bare future, not wait_for(): its resumption is the very next callback after the
        # answer, ahead of the channel's paused batch
        timer = loop.call_later(ANSWER_TIMEOUT_S, self._timed_out, req, message[0])
        try:
            answer = wait(future)
        finally:
            timer.cancel()
            self._pending.pop(req, None)
        return default if answer is _NO_ANSWER else answer

    def _timed_out(self, req: int, what: str) -> None:
        future = self._pending.get(req)
        if future is not None and not future.done():
            log.error("no answer from the main process to %s in %gs", what, ANSWER_TIMEOUT_S)
            future.set_result(_NO_ANSWER)

    def answered(self, req: int, value: Any) -> bool:
        """An answer came: True when a script waits for it (the channel then pauses its batch)."""
        future = self._pending.get(req)
        if future is None or future.done():
            return False
        future.set_result(value)
        return True
