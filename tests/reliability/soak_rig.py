"""A soak run: sipp calls at a fixed rate through the soak proxy (cfg/soak.cfg, the seed's routing
with its registrar), REGISTER refreshes beside them, and the proxy's RSS and open file descriptors
sampled every second. Shared by tests/reliability/test_soak.py (short, in CI) and
benchmarks/soak.py (long, by hand, with a PNG)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.integration.proxy_harness import LOCALHOST, Rig, SippResult
from tests.reliability.idle import open_fds, rss_kib

SOAK_CFG = Path(__file__).resolve().parent / "cfg" / "soak.cfg"


@dataclass
class Sample:
    t: float  # seconds since the calls started
    rss_kib: int
    fds: int


@dataclass
class SoakResult:
    rate: float
    seconds: float
    calls: SippResult
    samples: list[Sample]
    call_rate: list[tuple[float, float]]  # (t, calls/s) from sipp's per-second statistics
    registers_ok: int
    registers_failed: int
    warmup: float

    def _slope(self, values: list[tuple[float, float]]) -> float:
        """Least-squares slope per minute over the samples after the warm-up."""
        pts = [(t, v) for t, v in values if t >= self.warmup]
        if len(pts) < 3:
            return float("nan")
        n = len(pts)
        mt = sum(t for t, _ in pts) / n
        mv = sum(v for _, v in pts) / n
        den = sum((t - mt) ** 2 for t, _ in pts)
        return 60.0 * sum((t - mt) * (v - mv) for t, v in pts) / den if den else float("nan")

    @property
    def rss_slope_kib_per_min(self) -> float:
        return self._slope([(s.t, float(s.rss_kib)) for s in self.samples])

    @property
    def fd_slope_per_min(self) -> float:
        return self._slope([(s.t, float(s.fds)) for s in self.samples])

    def summary(self) -> str:
        rss = [s.rss_kib for s in self.samples]
        return (f"{self.seconds:.0f} s at {self.rate:g} calls/s: {self.calls.successful} calls ok, "
                f"{self.calls.failed} failed; REGISTER refreshes {self.registers_ok} ok, "
                f"{self.registers_failed} failed; RSS {min(rss)}-{max(rss)} KiB, slope after "
                f"{self.warmup:.0f} s warm-up {self.rss_slope_kib_per_min:+.0f} KiB/min; fds "
                f"{min(s.fds for s in self.samples)}-{max(s.fds for s in self.samples)}, slope "
                f"{self.fd_slope_per_min:+.2f}/min")


def _registers(port: int, stop: threading.Event, counts: dict[str, int], users: int = 100,
               per_second: float = 10.0) -> None:
    """REGISTER refreshes beside the calls: `users` AORs, one refresh every users/per_second s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCALHOST, 0))
        s.settimeout(2.0)
        me = s.getsockname()[1]
        i = 0
        while not stop.is_set():
            user = f"soak{i % users}"
            tag = uuid.uuid4().hex[:8]
            s.sendto((f"REGISTER sip:{LOCALHOST}:{port} SIP/2.0\r\n"
                      f"Via: SIP/2.0/UDP {LOCALHOST}:{me};branch=z9hG4bK{tag};rport\r\n"
                      f"From: <sip:{user}@{LOCALHOST}>;tag={tag}\r\nTo: <sip:{user}@{LOCALHOST}>\r\n"
                      f"Call-ID: reg-{user}\r\nCSeq: {i + 1} REGISTER\r\n"
                      f"Contact: <sip:{user}@{LOCALHOST}:{me}>\r\nExpires: 60\r\nMax-Forwards: 70\r\n"
                      "Content-Length: 0\r\n\r\n").encode(), (LOCALHOST, port))
            try:
                ok = s.recv(65535).startswith(b"SIP/2.0 200 ")
            except TimeoutError:
                ok = False
            counts["ok" if ok else "failed"] += 1
            i += 1
            stop.wait(1.0 / per_second)


def _call_rates(stats_csv: Path) -> list[tuple[float, float]]:
    """(seconds, calls/s) rows of sipp's periodic statistics (-fd 1)."""
    lines = [ln for ln in stats_csv.read_text(errors="replace").splitlines() if ln.strip()]
    if len(lines) < 2:
        return []
    header = lines[0].rstrip(";").split(";")
    out: list[tuple[float, float]] = []
    for line in lines[1:]:
        row = dict(zip(header, line.rstrip(";").split(";"), strict=False))
        try:
            t = float(row.get("ElapsedTime(C)", "0").split(":")[-1]) + 60 * float(
                row.get("ElapsedTime(C)", "0:0:0").split(":")[-2]) + 3600 * float(
                row.get("ElapsedTime(C)", "0:0:0").split(":")[0])
            done = float(row.get("SuccessfulCall(P)", "0")) + float(row.get("FailedCall(P)", "0"))
            period = float(row.get("ElapsedTime(P)", "0:0:1").split(":")[-1]) or 1.0
        except (ValueError, IndexError):
            continue
        out.append((t, done / period))
    return out


def run_soak(rig: Rig, rate: float, seconds: float, warmup: float, call_ms: int = 100) -> SoakResult:
    """Start the soak proxy in `rig`, run calls at `rate` for `seconds` with refreshes beside them."""
    rig.start_pysips(SOAK_CFG, CHILDREN=1, LOG_LEVEL=1)
    assert rig.proxy is not None and rig.proxy.proc is not None
    pid = rig.proxy.proc.pid
    uas = rig.start_uas("uas_call.xml", calls=10**9, trace_messages=False)
    time.sleep(0.3)
    stop = threading.Event()
    counts = {"ok": 0, "failed": 0}
    samples: list[Sample] = []
    started = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            samples.append(Sample(time.monotonic() - started, rss_kib(pid), open_fds(pid)))
            stop.wait(1.0)

    threads = [threading.Thread(target=sample, daemon=True),
               threading.Thread(target=_registers, args=(rig.ports.proxy, stop, counts), daemon=True)]
    for th in threads:
        th.start()
    try:
        calls = rig.run_uac("uac_call.xml", "callee", calls=max(1, round(rate * seconds)), rate=rate,
                            duration_ms=call_ms, timeout_s=seconds + 10, trace_messages=False,
                            extra=["-fd", "1"])
    finally:
        stop.set()
        for th in threads:
            th.join(5)
        uas.stop()
    uac_dir = sorted(rig.workdir.glob("*-uac"))[-1]
    rates = _call_rates(uac_dir / "stats.csv") if (uac_dir / "stats.csv").exists() else []
    return SoakResult(rate, seconds, calls, samples, rates, counts["ok"], counts["failed"], warmup)


def plot(result: SoakResult, png: Path) -> None:
    """RSS and calls/s over time, one PNG (matplotlib, from the test extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, rss_ax = plt.subplots(figsize=(10, 5))
    rss_ax.plot([s.t for s in result.samples], [s.rss_kib / 1024 for s in result.samples], color="tab:blue",
                label="proxy RSS (MiB)")
    rss_ax.set_xlabel("seconds")
    rss_ax.set_ylabel("RSS (MiB)", color="tab:blue")
    rss_ax.axvline(result.warmup, color="grey", linestyle=":", label="end of warm-up")
    rate_ax = rss_ax.twinx()
    rate_ax.plot([t for t, _ in result.call_rate], [r for _, r in result.call_rate], color="tab:orange",
                 label="calls/s (sipp)")
    rate_ax.set_ylabel("calls/s", color="tab:orange")
    rate_ax.set_ylim(bottom=0)
    fig.suptitle(f"pysips soak: {result.rate:g} calls/s for {result.seconds:.0f} s, "
                 f"{result.calls.failed} failed; RSS slope {result.rss_slope_kib_per_min:+.0f} KiB/min")
    fig.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
