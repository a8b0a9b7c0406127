"""Headless Chromium driven over the Chrome DevTools Protocol with the `websockets` package.

Chromium is started with `--remote-debugging-port=0` and prints the browser endpoint
(`DevTools listening on ws://...`) on stderr; a page target is created and attached in flat mode,
so every page command is a message on the one browser connection tagged with its session id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"
# Measured on Chromium 156 (DESIGN.md): these plus a fresh profile run WebRTC with fake audio.
BASE_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
# Loopback ICE candidates (the test runs in a network namespace that has only `lo`), the test's
# WSS certificate.
# self-signed WSS certificate; remote audio is played out (so its energy is measured) without a click.
E2E_FLAGS = [
    "--allow-loopback-in-peer-connection",
    "--ignore-certificate-errors",
    "--autoplay-policy=no-user-gesture-required",
]


class CdpError(RuntimeError):
    pass


class Browser:
    def __init__(
        self, proc: asyncio.subprocess.Process, ws: ClientConnection, log_task: asyncio.Task[None]
    ) -> None:
        self.proc = proc
        self._ws = ws
        self._log_task = log_task
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.console: list[str] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def launch(cls, profile: Path, log_path: Path, flags: list[str]) -> Browser:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            *flags,
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stderr is not None
        log = log_path.open("wb")
        url = ""
        try:
            async with asyncio.timeout(20):
                while not url:
                    line = await proc.stderr.readline()
                    if not line:
                        raise CdpError(f"chromium exited before DevTools listened (see {log_path})")
                    log.write(line)
                    text = line.decode(errors="replace").strip()
                    if text.startswith("DevTools listening on "):
                        url = text.removeprefix("DevTools listening on ")
        except BaseException:
            log.close()
            kill_group(proc.pid)
            raise
        log.flush()
        ws = await connect(url, max_size=None, open_timeout=10)
        task = asyncio.get_running_loop().create_task(_drain(proc.stderr, log))
        return cls(proc, ws, task)

    async def _read(self) -> None:
        async for raw in self._ws:
            msg = json.loads(raw)
            if "id" in msg:
                future = self._waiting.pop(msg["id"], None)
                if future is not None and not future.done():
                    future.set_result(msg)
            elif msg.get("method") == "Runtime.consoleAPICalled":
                args = msg["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
            elif msg.get("method") == "Runtime.exceptionThrown":
                details = msg["params"]["exceptionDetails"]
                self.console.append(
                    "EXCEPTION " + str(details.get("exception", {}).get("description", details))
                )

    async def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        await self._ws.send(json.dumps(message))
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def open_page(self, url: str) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, attached["sessionId"])
        await self.send("Runtime.enable", session=page.session)
        await self.send("Page.enable", session=page.session)
        await self.send("Page.navigate", {"url": url}, session=page.session)
        return page

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("Browser.close"), 3)
        with contextlib.suppress(Exception):
            await self._ws.close()
        self._reader.cancel()
        kill_group(self.proc.pid)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 5)
        self._log_task.cancel()


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    async def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """Value of a JavaScript expression; promises are awaited, exceptions raised as CdpError."""
        result = await self.browser.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "awaitPromise": True,
                "returnByValue": True,
            },
            session=self.session,
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"{expression[:80]}: {text}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Polls a JavaScript expression until it is truthy."""
        async with asyncio.timeout(timeout):
            while True:
                value = await self.evaluate(expression)
                if value:
                    return value
                await asyncio.sleep(0.1)


async def _drain(stream: asyncio.StreamReader, log: Any) -> None:
    try:
        while line := await stream.readline():
            log.write(line)
    finally:
        log.close()


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
