"""Rig for driving a SIP proxy process with real sipp peers on 127.0.0.1.

A test asks a `Rig` for free ports, renders a proxy config from a template, starts the proxy
(any command line: pysips or Kamailio), starts sipp UAS processes in the background and runs a
sipp UAC in the foreground. Every process the rig starts is killed when the rig closes, whatever
happened, and the logs of a failed run are gathered into the assertion message.

The call cases shared by the Kamailio reference tests and the pysips tests live in `CASES`.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.procs import log_tail, spawn, stop_group

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
CFG_DIR = Path(__file__).resolve().parent / "cfg"
REPO_ROOT = Path(__file__).resolve().parents[2]
KAMAILIO_CFG = REPO_ROOT / "benchmarks" / "kamailio" / "residential-equivalent.cfg"
LOCALHOST = "127.0.0.1"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"

# tm timers used by the integration configs: short, so the 408 case stays quick.
FR_TIMEOUT_S = 2
FR_INV_TIMEOUT_S = 3


# ---------------------------------------------------------------------------------------------
# ports and templates


_handed_out: set[int] = set()


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1, never handed out twice in this process."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOCALHOST, 0))
            port = int(udp.getsockname()[1])
            if port in _handed_out or port + 1 in _handed_out:
                continue
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    tcp.bind((LOCALHOST, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port on 127.0.0.1 after 200 attempts")


_PLACEHOLDER = re.compile(r"@@[A-Z][A-Z0-9_]*@@")


class TemplateError(ValueError):
    pass


def render_template(template: Path, values: Mapping[str, object], out: Path) -> Path:
    """Replace every @@NAME@@ of `template` by values[NAME]; an unfilled placeholder is an error.

    @@ markers are used because both `$x` and `{x}` mean something in routing scripts.
    """
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", str(value))
    left = _PLACEHOLDER.search(text)
    if left is not None:
        line_no = text[: left.start()].count("\n") + 1
        raise TemplateError(f"{template}: placeholder {left.group()} left unfilled at line {line_no}")
    out.write_text(text)
    return out


@dataclass(frozen=True, slots=True)
class Ports:
    proxy: int
    uas: int
    uas2: int
    uac: int

    @classmethod
    def allocate(cls) -> Ports:
        return cls(proxy=free_port(), uas=free_port(), uas2=free_port(), uac=free_port())

    def template_values(self, **extra: object) -> dict[str, object]:
        values: dict[str, object] = {
            "PROXY_PORT": self.proxy,
            "UAS_PORT": self.uas,
            "UAS2_PORT": self.uas2,
            "FR_TIMEOUT": FR_TIMEOUT_S,
            "FR_INV_TIMEOUT": FR_INV_TIMEOUT_S,
            "FR_TIMEOUT_MS": FR_TIMEOUT_S * 1000,
            "FR_INV_TIMEOUT_MS": FR_INV_TIMEOUT_S * 1000,
            # One Kamailio worker in the tests: with two, a 180 and a 200 sent back to back can be
            # relayed in the other order, and the scenarios check the order (pysips has one process).
            "CHILDREN": 1,
            "LOG_LEVEL": 2,
        }
        values.update(extra)
        return values


# ---------------------------------------------------------------------------------------------
# processes


def mi_datagram(port: int, method: str, params: object = None, timeout: float = 5.0) -> Any:
    """One JSON-RPC MI command over mi_datagram on 127.0.0.1:port: its result, or its error."""
    body: dict[str, object] = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        body["params"] = params
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(json.dumps(body).encode(), (LOCALHOST, port))
        answer = json.loads(sock.recv(65535))
    return answer.get("result", answer.get("error"))


def options_probe(port: int, timeout: float = 0.3) -> str | None:
    """Send one OPTIONS to the proxy; return the first line of any answer, or None."""
    tag = uuid.uuid4().hex[:10]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        local_port = sock.getsockname()[1]
        request = (
            f"OPTIONS sip:{LOCALHOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOCALHOST}:{local_port};branch=z9hG4bK{tag};rport\r\n"
            f"From: <sip:probe@{LOCALHOST}:{local_port}>;tag={tag}\r\n"
            f"To: <sip:{LOCALHOST}:{port}>\r\n"
            f"Call-ID: probe-{tag}@{LOCALHOST}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        sock.settimeout(timeout)
        sock.sendto(request, (LOCALHOST, port))
        try:
            data = sock.recv(65535)
        except (TimeoutError, ConnectionRefusedError):
            return None
    return data.split(b"\r\n", 1)[0].decode("utf-8", "replace")


@dataclass(slots=True)
class ProxyProcess:
    """A proxy started from `argv`, logging to `log_path`, ready once it answers an OPTIONS."""

    name: str
    argv: Sequence[str]
    port: int
    log_path: Path
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 10.0) -> None:
        self.proc = spawn(self.argv, self.cwd, self.log_path)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before answering OPTIONS\n"
                    + log_tail(self.log_path)
                )
            if options_probe(self.port) is not None:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} gave no answer to OPTIONS on UDP {self.port} "
                           f"within {ready_timeout}s\n" + log_tail(self.log_path))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)

    def log(self) -> str:
        return log_tail(self.log_path)


def kamailio_argv(cfg: Path, runtime_dir: Path) -> list[str]:
    """Kamailio in the foreground (-DD keeps the creator attached, workers still fork), logs on stderr."""
    return [KAMAILIO, "-f", str(cfg), "-DD", "-E", "-m", "256", "-M", "16", "-Y", str(runtime_dir)]


def pysips_argv(cfg: Path) -> list[str]:
    exe = shutil.which("pysips")
    return [exe, "-f", str(cfg)] if exe else ["python3", "-m", "pysips.cli", "-f", str(cfg)]


# ---------------------------------------------------------------------------------------------
# sipp


@dataclass(slots=True)
class SippResult:
    role: str
    argv: list[str]
    exit_code: int | None
    successful: int
    failed: int
    stats: dict[str, str]
    counts: dict[str, int]
    error_log: str
    output: str
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.failed == 0 and not self.timed_out

    def count(self, index: int, kind: str) -> int:
        """-trace_counts cell for scenario message `index`, e.g. count(4, "Retrans")."""
        for key, value in self.counts.items():
            if key.startswith(f"{index}_") and key.endswith(f"_{kind}"):
                return value
        raise KeyError(f"no {kind} count for message {index}: {sorted(self.counts)}")

    def describe(self) -> str:
        return (
            f"sipp {self.role}: exit={self.exit_code} successful={self.successful} "
            f"failed={self.failed} timed_out={self.timed_out}\n  argv: {' '.join(self.argv)}\n"
            f"  errors: {self.error_log[-3000:] or '(none)'}\n  output tail: {self.output[-1500:]}"
        )


def _last_csv_row(path: Path) -> dict[str, str]:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if len(lines) < 2:
        return {}
    header = lines[0].rstrip(";").split(";")
    row = lines[-1].rstrip(";").split(";")
    return dict(zip(header, row, strict=False))


@dataclass(slots=True)
class SippProcess:
    """One sipp run in its own working directory (sipp writes its trace files to the cwd)."""

    role: str
    argv: list[str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(self.argv, self.workdir, self.workdir / "sipp.out")

    def wait(self, timeout: float) -> SippResult:
        assert self.proc is not None
        timed_out = False
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_group(self.proc)
        return self.result(timed_out)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)

    def result(self, timed_out: bool = False) -> SippResult:
        stats: dict[str, str] = {}
        stat_file = self.workdir / "stats.csv"
        if stat_file.exists():
            stats = _last_csv_row(stat_file)
        counts: dict[str, int] = {}
        for path in self.workdir.glob("*_counts.csv"):
            for key, value in _last_csv_row(path).items():
                if value.strip().isdigit():
                    counts[key] = int(value)
        error_file = self.workdir / "errors.log"
        error_log = error_file.read_text(errors="replace") if error_file.exists() else ""
        output_file = self.workdir / "sipp.out"
        output = output_file.read_text(errors="replace") if output_file.exists() else ""
        return SippResult(
            role=self.role,
            argv=self.argv,
            exit_code=None if self.proc is None else self.proc.returncode,
            successful=int(stats.get("SuccessfulCall(C)", "0") or 0),
            failed=int(stats.get("FailedCall(C)", "0") or 0),
            stats=stats,
            counts=counts,
            error_log=error_log,
            output=output,
            timed_out=timed_out,
        )


def sipp_argv(
    scenario: str | Path,
    local_port: int,
    *,
    remote: tuple[str, int] | None = None,
    service: str | None = None,
    calls: int = 1,
    rate: float | None = None,
    duration_ms: int | None = None,
    timeout_s: float | None = None,
    extra: Sequence[str] = (),
    trace_messages: bool = False,
) -> list[str]:
    scenario_path = Path(scenario) if Path(scenario).is_absolute() else SIPP_DIR / str(scenario)
    argv = [
        SIPP, "-sf", str(scenario_path), "-i", LOCALHOST, "-p", str(local_port), "-t", "u1",
        "-m", str(calls), "-nostdin", "-trace_err", "-error_file", "errors.log",
        "-trace_stat", "-stf", "stats.csv", "-trace_counts", "-trace_screen",
        "-max_recv_loops", "10000", "-max_sched_loops", "10000",
    ]
    if timeout_s is not None:
        # -timeout ends sipp; -timeout_error turns that into a non-zero exit
        argv += ["-timeout", f"{timeout_s}s", "-timeout_error"]
    if service is not None:
        argv += ["-s", service]
    if rate is not None:
        argv += ["-r", f"{rate:g}", "-rp", "1000"]
    if duration_ms is not None:
        argv += ["-d", str(duration_ms)]
    if trace_messages:
        argv += ["-trace_msg", "-message_file", "messages.log"]
    argv += list(extra)
    if remote is not None:
        argv.append(f"{remote[0]}:{remote[1]}")
    return argv


# ---------------------------------------------------------------------------------------------
# the rig


@dataclass(slots=True)
class Rig:
    """Owns a scratch directory and every process started through it; `close()` kills them all."""

    workdir: Path
    ports: Ports = field(default_factory=Ports.allocate)
    proxy: ProxyProcess | None = None
    _sipps: list[SippProcess] = field(default_factory=list)
    _counter: int = 0

    def _next_dir(self, role: str) -> Path:
        self._counter += 1
        return self.workdir / f"{self._counter:02d}-{role}"

    def start_proxy(self, name: str, argv: Sequence[str], ready_timeout: float = 10.0) -> ProxyProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proxy = ProxyProcess(name=name, argv=argv, port=self.ports.proxy,
                                  log_path=self.workdir / f"{name}.log", cwd=self.workdir)
        self.proxy.start(ready_timeout)
        return self.proxy

    def start_kamailio(self, template: Path = KAMAILIO_CFG, **values: object) -> ProxyProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = render_template(template, self.ports.template_values(**values), self.workdir / "kamailio.cfg")
        runtime = self.workdir / "kamailio-run"
        runtime.mkdir(parents=True, exist_ok=True)
        return self.start_proxy("kamailio", kamailio_argv(cfg, runtime))

    def start_pysips_script(self, text: str, file_name: str = "pysips.cfg") -> ProxyProcess:
        """pysips on a script given as finished text (written to `file_name` in the workdir)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / file_name
        cfg.write_text(text)
        return self.start_proxy("pysips", pysips_argv(cfg))

    def start_pysips(self, template: Path, **values: object) -> ProxyProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = render_template(template, self.ports.template_values(**values), self.workdir / "pysips.cfg")
        return self.start_proxy("pysips", pysips_argv(cfg))

    def start_uas(self, scenario: str, port: int | None = None, *, calls: int = 1,
                  duration_ms: int | None = None, extra: Sequence[str] = (),
                  trace_messages: bool = True) -> SippProcess:
        argv = sipp_argv(scenario, port or self.ports.uas, calls=calls, duration_ms=duration_ms,
                         extra=extra, trace_messages=trace_messages)
        sipp = SippProcess(role=f"uas {scenario}", argv=argv, workdir=self._next_dir("uas"))
        self._sipps.append(sipp)
        sipp.start()
        return sipp

    def run_uac(self, scenario: str, service: str = "callee", *, calls: int = 1,
                rate: float | None = None, duration_ms: int | None = None, timeout_s: float = 20.0,
                extra: Sequence[str] = (), trace_messages: bool = True) -> SippResult:
        assert self.proxy is not None, "start a proxy first"
        argv = sipp_argv(scenario, self.ports.uac, remote=(LOCALHOST, self.ports.proxy), service=service,
                         calls=calls, rate=rate, duration_ms=duration_ms, timeout_s=timeout_s,
                         extra=extra, trace_messages=trace_messages)
        sipp = SippProcess(role=f"uac {scenario}", argv=argv, workdir=self._next_dir("uac"))
        self._sipps.append(sipp)
        sipp.start()
        return sipp.wait(timeout=timeout_s + 10)

    def report(self, *results: SippResult) -> str:
        """Everything useful to read when a case fails."""
        parts = [r.describe() for r in results]
        if self.proxy is not None:
            parts.append(self.proxy.log())
        for sipp in self._sipps:
            parts.append(log_tail(sipp.workdir / "messages.log", 4000))
        return "\n".join(parts)

    def close(self) -> None:
        for sipp in self._sipps:
            sipp.stop()
        if self.proxy is not None:
            self.proxy.stop()


@contextlib.contextmanager
def rig_in(workdir: Path) -> Iterator[Rig]:
    rig = Rig(workdir=workdir)
    try:
        yield rig
    finally:
        rig.close()


# ---------------------------------------------------------------------------------------------
# the call cases, proxy-independent


@dataclass(frozen=True, slots=True)
class UasSpec:
    scenario: str
    second_port: bool = False  # listen on Ports.uas2 instead of Ports.uas
    duration_ms: int | None = None  # -d: the pause before ringing in uas_call.xml


@dataclass(frozen=True, slots=True)
class CallCase:
    """One integration case: a UAC scenario against a proxy with zero to two sipp UAS."""

    name: str
    uac: str
    service: str
    uases: tuple[UasSpec, ...] = ()
    uac_extra: tuple[str, ...] = ()
    uac_timeout_s: float = 15.0
    # (role, message index, count kind, minimum, maximum): checks on -trace_counts
    count_checks: tuple[tuple[str, int, str, int, int], ...] = ()


CASES: tuple[CallCase, ...] = (
    CallCase("call", "uac_call.xml", "callee", (UasSpec("uas_call.xml"),)),
    CallCase("reinvite_then_callee_bye", "uac_reinvite.xml", "callee", (UasSpec("uas_reinvite.xml"),)),
    CallCase("busy_486", "uac_busy.xml", "callee", (UasSpec("uas_busy.xml"),)),
    CallCase("cancel_before_answer", "uac_cancel.xml", "callee", (UasSpec("uas_ring_cancel.xml"),)),
    CallCase("no_answer_408", "uac_timeout.xml", "noanswer", (UasSpec("uas_ring_cancel.xml"),),
             uac_timeout_s=FR_INV_TIMEOUT_S + 12.0),
    CallCase("parallel_fork", "uac_call.xml", "parallel",
             (UasSpec("uas_ring_cancel.xml"), UasSpec("uas_call.xml", second_port=True, duration_ms=500))),
    CallCase("serial_fork", "uac_call.xml", "serial",
             (UasSpec("uas_busy.xml"), UasSpec("uas_call.xml", second_port=True))),
    # the callee holds its 180 for 1.5 s so the caller's INVITE retransmission finds the proxy in
    # Proceeding; uas message 0 (INVITE) must never be seen twice
    CallCase("invite_retransmission_absorbed", "uac_invite_retrans.xml", "callee",
             (UasSpec("uas_call.xml", duration_ms=1500),), uac_extra=("-nr",),
             count_checks=(("uas0", 0, "Retrans", 0, 0),)),
    # the callee's 200 retransmissions must reach the caller (uac message 3 is the 200)
    CallCase("ok_retransmission_relayed", "uac_late_ack.xml", "callee", (UasSpec("uas_call.xml"),),
             count_checks=(("uac", 3, "Retrans", 1, 10), ("uas0", 4, "Retrans", 1, 10))),
    CallCase("max_forwards_zero_483", "uac_maxfwd0.xml", "callee"),
    CallCase("foreign_to_foreign_403", "uac_foreign.xml", "callee"),
)


def run_case(rig: Rig, case: CallCase) -> None:
    """Run `case` against the rig's proxy; raise AssertionError with every log on failure."""
    uases = [
        rig.start_uas(spec.scenario, rig.ports.uas2 if spec.second_port else rig.ports.uas,
                      duration_ms=spec.duration_ms)
        for spec in case.uases
    ]
    time.sleep(0.2)  # let sipp bind before the first INVITE
    uac = rig.run_uac(case.uac, case.service, timeout_s=case.uac_timeout_s, extra=case.uac_extra)
    uas_results = [u.wait(timeout=10.0) for u in uases]
    results = [uac, *uas_results]
    problems = [r.describe() for r in results if not r.ok or r.successful != 1]
    by_role = {"uac": uac} | {f"uas{i}": r for i, r in enumerate(uas_results)}
    for role, index, kind, low, high in case.count_checks:
        value = by_role[role].count(index, kind)
        if not low <= value <= high:
            problems.append(f"{role} message {index} {kind} = {value}, expected {low}..{high}")
    if rig.proxy is not None and not rig.proxy.alive():
        problems.append(f"{rig.proxy.name} died during the case")
    if problems:
        details = "\n".join(problems)
        raise AssertionError(f"case {case.name} failed:\n{details}\n{rig.report(*results)}")
