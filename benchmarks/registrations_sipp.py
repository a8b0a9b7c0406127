"""REGISTERs per second over UDP with sipp: pysips, the reference OpenSIPS 3.6 and Kamailio's
registrar, in memory and SQLite.

    python3 benchmarks/registrations_sipp.py                       # all four targets, ~4-5 min
    python3 benchmarks/registrations_sipp.py --targets pysips-mem --runs 1
    python3 benchmarks/registrations_sipp.py --targets opensips-mem,pysips-mem --mem-users 0

`opensips-mem` and `opensips-sqlite` run the reference build (/var/cache/pysips/opensips-3.6.8,
made by scripts/setup) on the very script pysips runs (it is written in OpenSIPS 3.x spelling),
with udp_workers from --opensips-workers; the SQLite file gets its tables from `pysips db create`.

Targets: `pysips-mem` (usrloc db_mode 0), `pysips-sqlite` (db_mode 1, write-through to a SQLite
file), `kamailio-mem`, `kamailio-sqlite` (benchmarks/kamailio/registrar.cfg, `-A WITH_SQLITE`;
needs Debian's kamailio-sqlite-modules); on request `pysips-sqlite-wal`, `kamailio-sqlite-wal`
(the same in SQLite's WAL journal mode). SQLite keeps its default journal and synchronous settings
otherwise, on both servers: each write-through change is one fsync'd commit, so the SQLite
figures measure the disk as much as the server. Both servers run one worker on 127.0.0.1 and answer
REGISTER with fix_nated_register() + save("location").

sipp (tests/integration/sipp/reg_flood.xml) sends one REGISTER per call at a fixed rate, the user
from an injection CSV of --users names read in sequence, so the location table fills up and
later REGISTERs refresh bindings. A step passes when every REGISTER got its 200 (no failed call,
none left unanswered). Each run doubles the rate until a step fails, then bisects; the median of
--runs runs (a fresh server and database each) is printed, with the ratio pysips/Kamailio.

Memory: the pysips process's RSS (/proc/PID/status VmRSS) before and after --mem-users new
registrations (db_mode 0), divided by their number; for Kamailio, the shared memory in use
(`kamcmd core.shmmem`, through the ctl module: registrar.cfg with `-A WITH_CTL`).
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.differential.reference import opensips_binary, opensips_modules_dir  # noqa: E402
from tests.integration.proxy_harness import (  # noqa: E402
    KAMAILIO,
    LOCALHOST,
    Rig,
    SippProcess,
    SippResult,
    kamailio_argv,
    options_probe,
    pysips_argv,
    render_template,
    rig_in,
    sipp_argv,
)

KAMAILIO_REGISTRAR_CFG = REPO_ROOT / "benchmarks" / "kamailio" / "registrar.cfg"
KAMAILIO_SQL = Path("/usr/share/kamailio/db_sqlite")
SCENARIO = "reg_flood.xml"

# The seed's residential route up to its REGISTER branch, with the modules it loads for it.
PYSIPS_SCRIPT = """\
log_level=@@LOG_LEVEL@@
stderror_enabled=yes
syslog_enabled=no
udp_workers=@@WORKERS@@
auto_aliases=no
socket=udp:127.0.0.1:@@PROXY_PORT@@
@@MPATH@@

loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "sipmsgops.so"
@@DB_MODULE@@
loadmodule "usrloc.so"
modparam("usrloc", "nat_bflag", "NAT")
modparam("usrloc", "db_mode", @@DB_MODE@@)
modparam("usrloc", "db_url", "@@DB_URL@@")
loadmodule "registrar.so"
loadmodule "nathelper.so"
modparam("registrar|nathelper", "received_avp", "$avp(rcv)")

route{
	if (!mf_process_maxfwd_header(10)) {
		sl_send_reply(483, "Too Many Hops");
		exit;
	}
	if (has_totag()) {
		sl_send_reply(404, "Not here");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans())
			t_relay();
		exit;
	}
	t_check_trans();
	if (is_method("REGISTER")) {
		fix_nated_register();
		if (!save("location"))
			sl_reply_error();
		exit;
	}
	sl_send_reply(200, "OK");
}
"""


@dataclass(frozen=True, slots=True)
class Step:
    rate: int
    passed: bool
    sent: int
    successful: int
    failed: int
    note: str


def users_csv(path: Path, count: int, prefix: str = "user") -> Path:
    lines = ["SEQUENTIAL"] + [f"{prefix}{i:06d};" for i in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return path


def registrar_cfg(rig: Rig, sqlite_file: Path | None, wal: bool, workers: int, mpath: str = "") -> Path:
    """The registrar script for either server (OpenSIPS needs the module path of its build)."""
    rig.workdir.mkdir(parents=True, exist_ok=True)
    template = rig.workdir / "registrar.cfg.in"
    template.write_text(PYSIPS_SCRIPT)
    values = rig.ports.template_values(
        LOG_LEVEL=1,
        WORKERS=workers,
        MPATH=f'mpath="{mpath}/"' if mpath else "",
        DB_MODE=1 if sqlite_file else 0,
        DB_URL=f"sqlite://{sqlite_file}" if sqlite_file else "sqlite:///unused.db",
        DB_MODULE=('loadmodule "db_sqlite.so"' if sqlite_file else "")
        + ('\nmodparam("db_sqlite", "exec_pragma", "journal_mode=wal")' if wal else ""),
    )
    return render_template(template, values, rig.workdir / "registrar.cfg")


def start_pysips(rig: Rig, sqlite_file: Path | None, wal: bool = False, workers: int = 1) -> None:
    cfg = registrar_cfg(rig, sqlite_file, wal, 1)
    # --workers: pysips's worker processes (docs/workers.md), overriding the script's udp_workers
    rig.start_proxy("pysips", [*pysips_argv(cfg), "--workers", str(workers)], ready_timeout=30.0)


def start_opensips(rig: Rig, sqlite_file: Path | None, wal: bool = False, workers: int = 1) -> None:
    if sqlite_file is not None:
        pysips_command = pysips_argv(Path("unused"))[:-2]  # without its "-f FILE"
        subprocess.run([*pysips_command, "db", "create", "-m", "usrloc",
                        f"sqlite://{sqlite_file}"], check=True, capture_output=True)
    cfg = registrar_cfg(rig, sqlite_file, wal, workers, str(opensips_modules_dir()))
    rig.start_proxy("opensips", [str(opensips_binary()), "-F", "-f", str(cfg), "-m", "256", "-M", "16"],
                    ready_timeout=30.0)


def process_tree_rss_kib(pid: int) -> int:
    """RSS of a process and its children (pysips's workers), in KiB."""
    total = rss_kib(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                total += rss_kib(int(entry.name))
    return total


def kamailio_sqlite_file(path: Path, wal: bool = False) -> Path:
    """A SQLite file with Kamailio's version and location tables (Kamailio does not create them).

    WAL is set in the file (the journal mode persists): db_sqlite's db_set_journal_mode did not
    take effect here with Kamailio 5.6.3."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        for name in ("standard-create.sql", "usrloc-create.sql"):
            db.executescript((KAMAILIO_SQL / name).read_text())
        if wal:
            db.execute("PRAGMA journal_mode=wal")
        db.commit()
    return path


def start_kamailio(rig: Rig, sqlite_file: Path | None, children: int, ctl: Path | None = None) -> None:
    rig.workdir.mkdir(parents=True, exist_ok=True)
    values = rig.ports.template_values(LOG_LEVEL=0, CHILDREN=children, CTL_SOCKET=ctl or "",
                                       DB_PATH=str(sqlite_file) if sqlite_file else "")
    cfg = render_template(KAMAILIO_REGISTRAR_CFG, values, rig.workdir / "kamailio.cfg")
    runtime = rig.workdir / "kamailio-run"
    runtime.mkdir(parents=True, exist_ok=True)
    argv = kamailio_argv(cfg, runtime)
    if sqlite_file is not None:
        argv += ["-A", "WITH_SQLITE"]
    if ctl is not None:
        argv += ["-A", "WITH_CTL"]
    rig.start_proxy("kamailio", argv)


def flood(rig: Rig, csv: Path, calls: int, rate: float | None, timeout_s: float) -> SippResult:
    argv = sipp_argv(SCENARIO, rig.ports.uac, remote=(LOCALHOST, rig.ports.proxy), calls=calls,
                     rate=rate, timeout_s=timeout_s, extra=("-inf", str(csv)))
    rig._counter += 1
    sipp = SippProcess(role="uac reg_flood", argv=argv, workdir=rig.workdir / f"{rig._counter:02d}-flood")
    sipp.start()
    return sipp.wait(timeout=timeout_s + 10)


def drained(rig: Rig, limit_s: float = 30.0) -> bool:
    """Waits until the server answers an OPTIONS at once: the backlog of a failed step is gone."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if options_probe(rig.ports.proxy, timeout=0.05) is not None:
            return True
        time.sleep(0.2)
    return False


def run_step(rig: Rig, csv: Path, rate: int, seconds: float) -> Step:
    """Passes when every REGISTER got its 200 and sipp kept the offered rate (it slows down when
    the server lags, so the run must end within 10% (+0.2 s for sipp's start) of the step's time)."""
    calls = max(1, round(rate * seconds))
    began = time.monotonic()
    result = flood(rig, csv, calls, rate, timeout_s=seconds + 8)
    took = time.monotonic() - began
    unanswered = calls - result.successful - result.failed
    in_time = took <= seconds * 1.1 + 0.2
    passed = result.failed == 0 and unanswered == 0 and not result.timed_out and in_time
    note = f"{took:.1f} s"
    if not passed:
        note += f" exit={result.exit_code} unanswered={unanswered}"
    if rig.proxy is not None and not rig.proxy.alive():
        passed, note = False, "server died"
    return Step(rate, passed, calls, result.successful, result.failed, note)


def search(start: Callable[[Rig], None], workdir: Path, csv: Path, args: argparse.Namespace) -> int:
    """One run with a fresh server: double until a step fails, then bisect. Returns the best rate."""
    best, worst = 0, None
    rate = args.start_rate
    steps = 0
    with rig_in(workdir) as rig:
        start(rig)
        time.sleep(0.3)
        while steps < args.max_steps:
            steps += 1
            step = run_step(rig, csv, rate, args.step_seconds)
            print(f"    {rate:6d}/s  {'ok  ' if step.passed else 'FAIL'}  sent={step.sent} "
                  f"200s={step.successful} failed={step.failed} {step.note}", flush=True)
            if step.passed:
                best = rate
            else:
                worst = rate
                if not (rig.proxy and rig.proxy.alive()):
                    break
                if not drained(rig):
                    print("    server still busy 30 s after the step: stopping this run")
                    break
            if worst is None:
                if rate >= args.max_rate:
                    break
                rate = min(args.max_rate, rate * 2)
            else:
                if worst - best <= max(50, best // 10):
                    break
                rate = (best + worst) // 2
    return best


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def kamailio_shm_used(ctl: Path) -> int:
    """Bytes of Kamailio's shared memory in use (where usrloc keeps its contacts)."""
    out = subprocess.run(["kamcmd", "-s", f"unix:{ctl}", "core.shmmem"], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    for line in out.splitlines():
        name, _, value = line.strip().partition(":")
        if name.strip() == "used":
            return int(value)
    raise RuntimeError(f"no 'used' in kamcmd core.shmmem output: {out!r}")


def memory_per_contact(workdir: Path, count: int, server: str, workers: int = 1) -> tuple[float, int, int]:
    """Bytes per binding added (db_mode 0): pysips RSS, or Kamailio's shared memory in use.
    Also the figures before and after, in KiB."""
    with rig_in(workdir) as rig:
        ctl = workdir / "kamailio.ctl"
        if server == "pysips":
            start_pysips(rig, None, workers=workers)
            assert rig.proxy is not None and rig.proxy.proc is not None
            pid = rig.proxy.proc.pid

            def measure() -> int:
                return process_tree_rss_kib(pid) * 1024
        else:
            start_kamailio(rig, None, 1, ctl)

            def measure() -> int:
                return kamailio_shm_used(ctl)
        warm = users_csv(workdir / "warm.csv", 500, "warm")
        result = flood(rig, warm, 500, 500, timeout_s=20)
        if result.failed or result.successful != 500:
            raise RuntimeError("warm-up registrations failed\n" + result.describe())
        time.sleep(0.5)
        before = measure()
        csv = users_csv(workdir / "mem.csv", count, "mem")
        result = flood(rig, csv, count, 2000, timeout_s=count / 2000 + 30)
        if result.failed or result.successful != count:
            raise RuntimeError("registrations for the memory figure failed\n" + result.describe())
        time.sleep(0.5)
        after = measure()
    return (after - before) / count, before // 1024, after // 1024


TARGETS = ("pysips-mem", "pysips-sqlite", "kamailio-mem", "kamailio-sqlite")
# not in the default run: SQLite in WAL journal mode (fewer fsyncs per commit) on both servers,
# and the reference OpenSIPS
EXTRA_TARGETS = ("pysips-sqlite-wal", "kamailio-sqlite-wal", "opensips-mem", "opensips-sqlite",
               "opensips-sqlite-wal")


def starter(target: str, workdir: Path, run: int, children: int, workers: int = 1,
            opensips_workers: int = 1) -> Callable[[Rig], None]:
    db = workdir / f"{target}-{run}.db" if "sqlite" in target else None
    wal = target.endswith("-wal")
    if target.startswith("pysips"):
        return lambda rig: start_pysips(rig, db, wal, workers)
    if target.startswith("opensips"):
        return lambda rig: start_opensips(rig, db, wal, opensips_workers)
    if db is not None:
        kamailio_sqlite_file(db, wal)
    return lambda rig: start_kamailio(rig, db, children)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default=",".join(TARGETS),
                    help=f"comma-separated, of {', '.join(TARGETS + EXTRA_TARGETS)}")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--users", type=int, default=20000, help="distinct AORs in the injection file")
    ap.add_argument("--start-rate", type=int, default=500)
    ap.add_argument("--max-rate", type=int, default=32000)
    ap.add_argument("--step-seconds", type=float, default=2.0)
    ap.add_argument("--max-steps", type=int, default=7)
    ap.add_argument("--kamailio-children", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="pysips worker processes (udp_workers)")
    ap.add_argument("--opensips-workers", type=int, default=1, help="OpenSIPS udp_workers")
    ap.add_argument("--mem-users", type=int, default=20000)
    args = ap.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in targets:
        if t not in TARGETS + EXTRA_TARGETS:
            raise SystemExit(f"unknown target {t!r}")
    if any(t.startswith("kamailio") for t in targets) and not Path(KAMAILIO).exists():
        raise SystemExit(f"{KAMAILIO} not found (Debian package kamailio)")
    kamailio_sql = any(t.startswith("kamailio-sqlite") for t in targets)
    if kamailio_sql and not (KAMAILIO_SQL / "usrloc-create.sql").exists():
        raise SystemExit("kamailio-sqlite needs Debian's kamailio-sqlite-modules")

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="reg-sipp-") as tmp:
        workdir = Path(tmp)
        csv = users_csv(workdir / "users.csv", args.users)
        bests: dict[str, list[int]] = {t: [] for t in targets}
        # runs outermost: the targets take turns, so a slow spell of the machine (or of its disk's
        # fsync, which bounds both SQLite targets) is shared instead of landing on one target
        for run in range(args.runs):
            for target in targets:
                print(f"{target} run {run + 1}:", flush=True)
                best = search(starter(target, workdir, run, args.kamailio_children, args.workers,
                                      args.opensips_workers),
                              workdir / f"{target}-{run}", csv, args)
                print(f"  {target} run {run + 1}: {best}/s with zero failures", flush=True)
                bests[target].append(best)
        medians = {t: statistics.median(v) for t, v in bests.items()}
        mems: dict[str, tuple[float, int, int]] = {}
        if args.mem_users:
            mems["pysips RSS"] = memory_per_contact(workdir / "memory-pysips", args.mem_users, "pysips",
                                                    args.workers)
            if Path(KAMAILIO).exists():
                mems["kamailio shm used"] = memory_per_contact(workdir / "memory-kamailio",
                                                               args.mem_users, "kamailio")

    print("\nREGISTER/s with zero failures (median of "
          f"{args.runs} runs, {args.step_seconds:g} s steps, {args.users} AORs, cap {args.max_rate}/s):")
    for target, value in medians.items():
        print(f"  {target:16s} {value:8.0f}")
    for mode in ("mem", "sqlite", "sqlite-wal"):
        for other in ("opensips", "kamailio"):
            p, k = medians.get(f"pysips-{mode}"), medians.get(f"{other}-{mode}")
            if p and k:
                print(f"  pysips/{other} ({mode}): {p / k:.2f}")
    for what, (per, before, after) in mems.items():
        print(f"memory per stored contact ({what}, {args.mem_users} new bindings): {per:.0f} bytes "
              f"({before} KiB -> {after} KiB)")
    print(f"total time {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
