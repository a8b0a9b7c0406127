"""The real sipp (UDP) as a third endpoint: one call from `e2e_uac_to_browser.xml` through pysips,
with `rtp_stream` sending a PCMU tone, judged by sipp itself (exit code, its statistics file).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from pathlib import Path
from typing import Any

from tests.integration.e2e.rtp import tone_payloads
from tests.integration.e2e.stack import HOST

SCENARIO = Path(__file__).resolve().parents[1] / "sipp" / "e2e_uac_to_browser.xml"
SIP_PORT = 5070  # the namespace is fresh: fixed ports cannot collide
MEDIA_PORT = 16000
_TRACE_SPLIT = re.compile(r"^-{20,} [0-9-]+ [0-9:.]+\n", re.M)
_INVITE_CSEQ = re.compile(r"^CSeq:\s*\d+\s+INVITE\s*$", re.M | re.I)


def _headers(message: str, name: str) -> list[str]:
    head = message.partition("\n\n")[0]
    return [m.strip() for m in re.findall(rf"^{name}:(.*)$", head, re.M | re.I)]


def _answer_summary(message: str) -> dict[str, Any]:
    """What the test judges in the 200 to the INVITE: who answered, the route set, the media."""
    sdp = message.partition("\n\n")[2].splitlines()
    return {
        "contact": _headers(message, "Contact"),
        "record_route": _headers(message, "Record-Route"),
        "sdp_media": [ln for ln in sdp if ln.startswith(("c=", "m="))],
        "sdp_ice_or_crypto": [ln for ln in sdp if ln.startswith(("a=ice", "a=candidate", "a=fingerprint"))],
    }


def _last_csv_row(path: Path) -> dict[str, str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return {}
    return dict(zip(lines[0].rstrip(";").split(";"), lines[-1].rstrip(";").split(";"), strict=False))


class SippUac:
    """`sipp -sf e2e_uac_to_browser.xml -m 1 -d HOLD_MS -s USER PROXY` in its own folder."""

    def __init__(
        self, workdir: Path, user: str, proxy: tuple[str, int], hold_ms: int, timeout_s: float
    ) -> None:
        binary = shutil.which("sipp")
        if binary is None:
            raise RuntimeError("sipp is not installed")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        # rtp_stream loops this file: raw mu-law, sent as payload type 0 in 160-byte packets
        (workdir / "rtp.ulaw").write_bytes(b"".join(tone_payloads()))
        self.argv = [
            binary, "-sf", str(SCENARIO), "-i", HOST, "-p", str(SIP_PORT), "-t", "u1",
            "-mi", HOST, "-mp", str(MEDIA_PORT), "-s", user, "-m", "1", "-d", str(hold_ms),
            "-nostdin", "-timeout", f"{timeout_s:g}s", "-timeout_error",
            "-trace_msg", "-message_file", "messages.log", "-trace_err", "-error_file", "errors.log",
            "-trace_stat", "-stf", "stats.csv", f"{proxy[0]}:{proxy[1]}",
        ]
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=self.workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=(self.workdir / "sipp.out").open("wb"),
            stderr=asyncio.subprocess.STDOUT,
        )

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    def received(self) -> list[str]:
        """Every SIP message sipp received, in order (its -trace_msg file)."""
        path = self.workdir / "messages.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        found = []
        for block in _TRACE_SPLIT.split(text):
            head, _, message = block.partition("\n\n")
            if "message received" in head:
                found.append(message.replace("\r\n", "\n").strip())
        return found

    def report(self) -> dict[str, Any]:
        stats = _last_csv_row(self.workdir / "stats.csv")
        errors = self.workdir / "errors.log"
        received = self.received()
        answers = [m for m in received if m.startswith("SIP/2.0 200") and _INVITE_CSEQ.search(m)]
        return {
            "exit_code": None if self.proc is None else self.proc.returncode,
            "successful": int(stats.get("SuccessfulCall(C)", "0") or 0),
            "failed": int(stats.get("FailedCall(C)", "0") or 0),
            "received": [f"{m.partition(chr(10))[0]} ({', '.join(_headers(m, 'CSeq'))})" for m in received],
            # the 200 to the INVITE: the headers and SDP lines the test judges
            "answer": _answer_summary(answers[0]) if answers else {},
            "errors": errors.read_text(errors="replace")[-1500:] if errors.exists() else "",
        }
