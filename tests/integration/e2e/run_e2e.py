"""End-to-end driver: a browser (JsSIP over WSS, DTLS-SRTP, ICE) and a UDP phone (plain RTP) call
each other through pysips running examples/residential.cfg, with rtpengine bridging the media.

Run it inside its own network namespace, where Chromium offers loopback ICE candidates:
    unshare -n sh -c 'ip link set lo up && python3 -m tests.integration.e2e.run_e2e --workdir DIR'
It prints one JSON object (also written to DIR/result.json) and exits 0 when it ran to the end;
judging the numbers is the caller's job (tests/integration/test_e2e_browser.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from pysips.devcert import make_dev_certificate
from tests.integration.e2e.cdp import BASE_FLAGS, E2E_FLAGS, Browser, Page
from tests.integration.e2e.phone import Call, Phone
from tests.integration.e2e.sipp_uac import SippUac
from tests.integration.e2e.stack import (
    EXAMPLE,
    HOST,
    PageServer,
    Pysips,
    RtpEngine,
    SipPorts,
    render_config,
    script_ports,
)

BROWSER_USER = "alice"
BROWSER_AOR = f"sip:{BROWSER_USER}@{HOST}"
PHONE_USER = "bob"


def _ng_state(engine: RtpEngine, call_id: str) -> dict[str, Any]:
    """What the daemon says about a call: 'ok' with packet totals, or its error reason."""
    reply = engine.query(call_id)
    if reply.get("result") != "ok":
        return {"result": reply.get("result"), "error": reply.get("error-reason")}
    packets = 0
    for tag in reply.get("tags", {}).values():
        for media in tag.get("medias", []):
            for stream in media.get("streams", []):
                packets += int(stream.get("stats", {}).get("packets", 0))
    return {"result": "ok", "relayed_packets": packets}


async def _wait_gone(engine: RtpEngine, call_id: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state = _ng_state(engine, call_id)
    while state["result"] == "ok" and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        state = _ng_state(engine, call_id)
    return state


async def _media_phase(page: Page, engine: RtpEngine, call: Call, seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    stats = await page.evaluate("e2e.stats()")
    return {
        "call_id": call.call_id,
        "phone_sent": call.rtp.sent,
        "phone_received": call.rtp.counter.received,
        "phone_received_audible": call.rtp.counter.audible,
        "phone_rtp_sources": sorted(f"{h}:{p}" for h, p in call.rtp.counter.sources),
        "phone_remote_media": f"{call.remote_media[0]}:{call.remote_media[1]}",
        "browser": stats,
        "rtpengine_during": _ng_state(engine, call.call_id),
    }


async def browser_calls_phone(page: Page, phone: Phone, engine: RtpEngine, seconds: float) -> dict[str, Any]:
    started = time.monotonic()
    js_call = asyncio.ensure_future(page.evaluate(f"e2e.call('sip:{PHONE_USER}@{HOST}')", timeout=25))
    try:
        call = await asyncio.wait_for(phone.incoming.get(), 15)
        call_id = await js_call
    except BaseException:
        js_call.cancel()
        raise
    result: dict[str, Any] = {
        "setup_seconds": round(time.monotonic() - started, 2),
        "browser_call_id": call_id,
    }
    result.update(await _media_phase(page, engine, call, seconds))
    result["hangup_cause"] = await page.evaluate("e2e.hangup()", timeout=10)
    await asyncio.wait_for(call.ended.wait(), 10)
    result["phone_ended_by"] = call.ended_by
    result["rtpengine_after_bye"] = await _wait_gone(engine, call.call_id)
    result["rtpengine_commands"] = engine.commands_for(call.call_id)
    return result


async def phone_calls_browser(page: Page, phone: Phone, engine: RtpEngine, seconds: float) -> dict[str, Any]:
    started = time.monotonic()

    async def browser_answers() -> str:
        await page.wait_for("e2e.incomingCount() > 0", timeout=15)
        value: str = await page.evaluate("e2e.answer()", timeout=20)
        return value

    answering = asyncio.ensure_future(browser_answers())
    try:
        call = await phone.call(BROWSER_AOR, timeout=20)
        call_id = await asyncio.wait_for(answering, 20)
    except BaseException:
        answering.cancel()
        raise
    result: dict[str, Any] = {
        "setup_seconds": round(time.monotonic() - started, 2),
        "browser_call_id": call_id,
    }
    result.update(await _media_phase(page, engine, call, seconds))
    result["bye_status"] = await phone.hangup(call)
    result["browser_ended_by"] = await page.evaluate("e2e.ended()", timeout=10)
    result["rtpengine_after_bye"] = await _wait_gone(engine, call.call_id)
    result["rtpengine_commands"] = engine.commands_for(call.call_id)
    return result


async def sipp_calls_browser(
    page: Page, engine: RtpEngine, workdir: Path, proxy: tuple[str, int], hold_seconds: float
) -> dict[str, Any]:
    """Issue 6: the real sipp (UDP) calls the browser's AOR; lookup() finds its WSS contact."""
    started = time.monotonic()
    log_before = len(await page.evaluate("e2e.log()"))
    uac = SippUac(workdir / "sipp-uac", BROWSER_USER, proxy, int(hold_seconds * 1000), hold_seconds + 15)
    await uac.start()
    result: dict[str, Any] = {}
    try:
        await page.wait_for("e2e.incomingCount() > 0", timeout=15)
        result["browser_call_id"] = await page.evaluate("e2e.answer()", timeout=15)
        result["setup_seconds"] = round(time.monotonic() - started, 2)
        # sipp holds the call hold_seconds after its ACK; sample media before its BYE
        await asyncio.sleep(max(hold_seconds - 0.6, 0.5))
        result["browser"] = await page.evaluate("e2e.stats()")
        result["rtpengine_during"] = _ng_state(engine, result["browser_call_id"])
        result["browser_ended_by"] = await page.evaluate("e2e.ended()", timeout=10)
        await uac.wait(10)
    finally:
        uac.kill()
        result.update({"sipp": uac.report(), "sipp_argv": uac.argv})
    events = (await page.evaluate("e2e.log()"))[log_before:]
    result["browser_events"] = [line.split(" ", 1)[1] for line in events]
    result["rtpengine_after_bye"] = await _wait_gone(engine, result["browser_call_id"])
    result["rtpengine_commands"] = engine.commands_for(result["browser_call_id"])
    return result


def _failure(exc: BaseException) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}


async def run(
    workdir: Path,
    source: Path,
    seconds: float,
    log_level: int | None = None,
    sipp_hold: float = 2.0,
    port_shift: int = 0,
    browser_transport: str = "wss",
) -> dict[str, Any]:
    started = time.monotonic()
    result: dict[str, Any] = {"ok": False, "workdir": str(workdir)}
    cleanups: list[Any] = []
    browser: Browser | None = None
    phone: Phone | None = None
    page: Page | None = None
    try:
        cert, key = make_dev_certificate(workdir / "certs")
        ports, ng_port = script_ports(source)
        if port_shift:
            # the seed's SIP listeners moved off 5060/5061/8080/8443: browsers still register to and
            # call URIs without a port, which are ours on any port we listen on (OpenSIPS 3.x)
            ports = SipPorts(ports.udp + port_shift, ports.tls + port_shift, ports.ws + port_shift,
                             ports.wss + port_shift)
        result["sip_ports"] = {"udp": ports.udp, "tls": ports.tls, "ws": ports.ws, "wss": ports.wss}
        result["browser_transport"] = browser_transport
        engine = RtpEngine(workdir, ng_port)
        cleanups.append(engine.stop)
        cfg = workdir / "residential.cfg"
        cfg.write_text(render_config(source, ports, engine.sock, cert, key, workdir / "opensips_fifo"))
        server = Pysips(cfg, workdir / "pysips.log", log_level)
        cleanups.append(server.stop)
        server.wait_listening([ports.ws, ports.wss, ports.tls])
        pages = PageServer()
        cleanups.append(pages.stop)

        browser = await Browser.launch(
            workdir / "chromium-profile", workdir / "chromium.log", BASE_FLAGS + E2E_FLAGS
        )
        page = await browser.open_page(pages.url)
        await page.wait_for("typeof window.e2e === 'object'", timeout=15)
        ws_port = ports.wss if browser_transport == "wss" else ports.ws
        await page.evaluate(
            f"e2e.register('{browser_transport}://{HOST}:{ws_port}', '{BROWSER_AOR}')", timeout=15
        )
        phone = Phone(PHONE_USER, (HOST, ports.udp), HOST)
        await phone.start()
        result["phone_register_status"] = await phone.register()
        result["startup_seconds"] = round(time.monotonic() - started, 2)

        # each direction reports on its own, so one failing still shows how the other does
        errors = 0
        for leg, scenario in (
            ("browser_to_phone", browser_calls_phone),
            ("phone_to_browser", phone_calls_browser),
        ):
            try:
                result[leg] = await scenario(page, phone, engine, seconds)
            except Exception as exc:
                errors += 1
                result[leg] = _failure(exc)
        try:
            result["sipp_to_browser"] = await sipp_calls_browser(
                page, engine, workdir, (HOST, ports.udp), sipp_hold
            )
        except Exception as exc:
            errors += 1
            result["sipp_to_browser"] = _failure(exc)
        result["ok"] = errors == 0
    except BaseException as exc:  # the JSON result carries the failure; the caller asserts
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()[-3000:]
    finally:
        if page is not None:
            with contextlib.suppress(BaseException):
                result["browser_log"] = await asyncio.wait_for(page.evaluate("e2e.log()"), 3)
        if browser is not None:
            result["browser_console"] = browser.console[-40:]
            await browser.close()
        if phone is not None:
            result["phone_trace"] = phone.trace[-60:]
            (workdir / "phone-sip.txt").write_bytes(b"\n".join(phone.wire))
            phone.close()
        for stop in reversed(cleanups):
            with contextlib.suppress(Exception):
                stop()
        result["total_seconds"] = round(time.monotonic() - started, 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--cfg", type=Path, default=EXAMPLE, help="script to render (default: the example)")
    parser.add_argument("--media-seconds", type=float, default=3.0)
    parser.add_argument("--sipp-hold", type=float, default=2.0, help="seconds sipp holds its call")
    parser.add_argument("--timeout", type=float, default=80.0)
    parser.add_argument("--log-level", type=int, help="pysips log level, overriding the script (debugging)")
    parser.add_argument("--port-shift", type=int, default=0,
                        help="move the script's SIP listeners by this many ports (0: as written)")
    parser.add_argument("--browser-transport", choices=("wss", "ws"), default="wss",
                        help="the WebSocket listener the browser registers through")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    async def bounded() -> dict[str, Any]:
        try:
            return await asyncio.wait_for(
                run(args.workdir, args.cfg, args.media_seconds, args.log_level, args.sipp_hold,
                    args.port_shift, args.browser_transport),
                args.timeout,
            )
        except TimeoutError:
            return {
                "ok": False,
                "error": f"driver timed out after {args.timeout} s",
                "workdir": str(args.workdir),
            }

    result = asyncio.run(bounded())
    text = json.dumps(result, indent=1, default=str)
    (args.workdir / "result.json").write_text(text)
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
