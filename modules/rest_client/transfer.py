"""One HTTP transfer for rest_get/rest_post/rest_put, on httpx's asyncio client.

httpx is the HTTP client: pure Python, asyncio-native (the script waits through
pysips.core.suspend.wait, so only the calling message waits), with separate connect and
transfer timeouts and connection reuse, which is what libcurl gives OpenSIPS. The request looks
like curl's: no User-Agent, `Accept: */*`, no compression asked for, redirects not followed, a
body without a given type sent as application/x-www-form-urlencoded. Outcomes map to OpenSIPS's
return codes: 1 done (whatever the HTTP status), -1 connection refused, -2 connect timeout, -3
transfer timeout (status and partial body kept), -10 anything else (max_transfer_size exceeded,
a bad URL...).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger("pysips.modules.rest_client")

OK = 1
CONNECT_REFUSED = -1
CONNECT_TIMEOUT = -2
TRANSFER_TIMEOUT = -3
INTERNAL_ERROR = -10
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class RestConfig:
    connection_timeout: float = 20.0
    curl_timeout: float = 20.0
    max_transfer_size: int = 10240  # KB, 0: no limit
    verify_peer: bool = True
    verify_host: bool = True
    ca_path: str | None = None


@dataclass(slots=True)
class Outcome:
    code: int
    status: int = 0
    body: bytes = b""
    content_type: str = ""


@dataclass(slots=True)
class _Progress:
    connected: bool = False
    status: int = 0
    content_type: str = ""
    body: bytearray = field(default_factory=bytearray)


class RestTransfers:
    """The HTTP client of one process (one per event loop, created on first use)."""

    __slots__ = ("_client", "_loop", "config")

    def __init__(self, config: RestConfig) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _verify(self) -> Any:
        cfg = self.config
        if not cfg.verify_peer:
            return False
        if cfg.ca_path:
            import ssl

            context = ssl.create_default_context(capath=cfg.ca_path)
            context.check_hostname = cfg.verify_host
            return context
        return True

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            cfg = self.config
            timeout = httpx.Timeout(cfg.curl_timeout, connect=cfg.connection_timeout)
            self._client = httpx.AsyncClient(timeout=timeout, verify=self._verify(),
                                             follow_redirects=False)
            for name in ("user-agent", "accept-encoding"):
                self._client.headers.pop(name, None)
            self._loop = loop
        return self._client

    async def transfer(self, method: str, url: str, body: bytes | None, content_type: str | None,
                       headers: list[tuple[str, str]]) -> Outcome:
        progress = _Progress()

        async def trace(event: str, info: dict[str, Any]) -> None:
            if event.startswith("connection.connect_tcp.complete"):
                progress.connected = True

        request_headers = list(headers)
        if body is not None:
            request_headers.append(("Content-Type", content_type or FORM))
        try:
            async with asyncio.timeout(self.config.curl_timeout):
                await self._run(method, url, body, request_headers, progress, trace)
        except TimeoutError:
            return self._timed_out(url, progress)
        except httpx.ConnectTimeout:
            log.error("connect timeout on %s (%ss)", url, self.config.connection_timeout)
            return Outcome(CONNECT_TIMEOUT)
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
            return self._timed_out(url, progress)
        except httpx.ConnectError as exc:
            log.error("connect refused for %s (%s)", url, exc)
            return Outcome(CONNECT_REFUSED)
        except _TooLarge:
            log.error("max download size exceeded (%d KB, per 'max_transfer_size'), aborting"
                      " transfer", self.config.max_transfer_size)
            return Outcome(INTERNAL_ERROR, progress.status)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            log.error("HTTP transfer to %s failed: %s", url, exc)
            return Outcome(INTERNAL_ERROR, progress.status)
        return Outcome(OK, progress.status, bytes(progress.body), progress.content_type)

    def _timed_out(self, url: str, progress: _Progress) -> Outcome:
        if not progress.connected:
            log.error("connect timeout on %s (%ss)", url, self.config.connection_timeout)
            return Outcome(CONNECT_TIMEOUT)
        log.error("connected, but transfer timed out for %s (%ss)", url, self.config.curl_timeout)
        return Outcome(TRANSFER_TIMEOUT, progress.status, bytes(progress.body), progress.content_type)

    async def _run(self, method: str, url: str, body: bytes | None,
                   headers: list[tuple[str, str]], progress: _Progress, trace: Any) -> None:
        limit = self.config.max_transfer_size * 1024
        request = self.client().build_request(method, url, content=body, headers=headers,
                                              extensions={"trace": trace})
        response = await self.client().send(request, stream=True)
        try:
            progress.status = response.status_code
            progress.content_type = response.headers.get("content-type", "")
            async for chunk in response.aiter_raw():
                progress.body += chunk
                if limit and len(progress.body) > limit:
                    raise _TooLarge
        finally:
            await response.aclose()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class _TooLarge(Exception):
    pass
