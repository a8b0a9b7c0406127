"""Instructions per call and per REGISTER inside the engine, counted by valgrind: an A/B of trees
that other load on the machine does not disturb.

CPU time on this shared two-core machine moves by ±25 % between runs, so a change of a few
percent cannot be seen in benchmarks/engine_calls.py without many paired rounds. The number of
machine instructions the interpreter executes for the same work does not depend on the load: two
runs of the same tree agree to within a few hundred instructions in four billion. It is a proxy
for CPU time (it leaves out cache misses and branch mispredictions), good for telling whether a
change to the hot path removes work, not a replacement for benchmarks/calls_per_second.py.

    python3 benchmarks/engine_instructions.py [TREE ...] [--what calls|registers|both]
                                              [--counts 100 300]

Each TREE (a checkout, e.g. a `git worktree add --detach /tmp/base <commit>`; default: this one)
runs this file under `valgrind --tool=cachegrind --cache-sim=no` twice, with the two counts; the
difference of the two instruction totals over the difference of the counts is the cost of one
more call (or REGISTER), start-up and script loading excluded. The engine and script are the
tree's; the user agents here are plain byte templates, the same for every tree and cheap, so
what changes between trees is the server's work:

- calls: tests/integration/cfg/residential-test.cfg (record-routing stateful proxy). INVITE in
  (100 back, INVITE relayed), 180 and 200 relayed, ACK forwarded, BYE relayed, its 200 relayed.
- registers: benchmarks/registrations_sipp.py's registrar script, usrloc in memory, one new AOR
  per REGISTER, answered 200 with its binding.

Needs valgrind (Debian package `valgrind`). PYTHONHASHSEED is fixed, so dictionaries hash alike.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import cast

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
import in_process  # noqa: E402  (beside this file, as is ua_messages: neither imports pysips)
import ua_messages  # noqa: E402

ROOT = HERE.parents[1]
UAC, UAS, SDP = ua_messages.UAC, ua_messages.UAS, ua_messages.SDP


# ------------------------------------------------------------------ the measured child

def _reply(request: bytes, code: int, reason: str, tag: str, extra: bytes = b"", body: bytes = b"") -> bytes:
    """A UAS's reply to a relayed request: its Via lines and Record-Routes, From, Call-ID, CSeq
    copied (a string search, not the tree's parser)."""
    head = request.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")[1:]
    keep = [ln for ln in lines if ln.startswith((b"Via:", b"Record-Route:", b"From:", b"Call-ID:", b"CSeq:"))]
    to = next(ln for ln in lines if ln.startswith(b"To:"))
    out = [f"SIP/2.0 {code} {reason}".encode(), *keep, to + b";tag=" + tag.encode(),
           *([extra] if extra else []), f"Content-Length: {len(body)}".encode(), b"", body]
    return b"\r\n".join(out)


def run_calls(count: int) -> None:
    net = in_process.engine(in_process.calls_script())
    for i in range(count):
        invite = ua_messages.invite(i).encode()
        relayed = next(s.data for s in net.deliver(invite, UAC) if s.data.startswith(b"INVITE"))
        net.deliver(_reply(relayed, 180, "Ringing", f"t{i}"), UAS)
        net.deliver(_reply(relayed, 200, "OK", f"t{i}", b"Contact: <sip:callee@127.0.0.1:7000>\r\n"
                           b"Content-Type: application/sdp", SDP.encode()), UAS)
        for method, seq in (("ACK", 1), ("BYE", 2)):
            request = ua_messages.in_dialog(i, method, seq).encode()
            out = net.deliver(request, UAC)
            if method == "BYE":
                bye = next(s.data for s in out if s.data.startswith(b"BYE"))
                net.deliver(_reply(bye, 200, "OK", f"t{i}"), UAS)
        net.engine.clock.advance(0.01)
        net.sent.clear()
    net.engine.clock.advance(40)  # every transaction's timers end


def _registrar_script() -> str:
    """registrations_sipp.py's PYSIPS_SCRIPT, read without importing that file: importing it puts
    its own checkout first on sys.path, and the tree under test would no longer be the one run."""
    module = ast.parse((HERE.parent / "registrations_sipp.py").read_text())
    for node in module.body:
        names = [getattr(target, "id", "") for target in getattr(node, "targets", ())]
        if isinstance(node, ast.Assign) and "PYSIPS_SCRIPT" in names:
            return cast(str, ast.literal_eval(node.value))
    raise SystemExit("registrations_sipp.py has no PYSIPS_SCRIPT")


def run_registers(count: int) -> None:
    values = {"LOG_LEVEL": 1, "WORKERS": 1, "PROXY_PORT": 5060, "MPATH": "", "DB_MODE": 0, "DB_URL": "",
              "DB_MODULE": ""}
    net = in_process.engine(in_process.render(_registrar_script(), values))
    for i in range(count):
        register = ua_messages.register(i).encode()
        sent = net.deliver(register, ("198.51.100.1", 5060))
        if not sent or not sent[-1].data.startswith(b"SIP/2.0 200"):
            raise SystemExit(f"REGISTER {i} not answered 200")
        net.sent.clear()


# ------------------------------------------------------------------ the runner

def count_instructions(tree: Path, what: str, count: int) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(tree))
    argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
            sys.executable, str(HERE), "--child", what, str(count)]
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{tree}: {what} {count} failed:\n{done.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        # the tree under test comes first on the path (PYTHONPATH), whatever this file's checkout
        sys.path.insert(0, os.environ["PYTHONPATH"])
        if __import__("pysips").__file__ != os.path.join(os.environ["PYTHONPATH"], "pysips", "__init__.py"):
            raise SystemExit(f"pysips comes from {__import__('pysips').__file__}, not the tree under test")
        (run_calls if sys.argv[2] == "calls" else run_registers)(int(sys.argv[3]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="*", type=Path, default=[ROOT])
    ap.add_argument("--what", choices=("calls", "registers", "both"), default="both")
    ap.add_argument("--counts", type=int, nargs=2, default=(100, 300))
    args = ap.parse_args()
    low, high = args.counts
    kinds = ("calls", "registers") if args.what == "both" else (args.what,)
    first: dict[str, float] = {}
    for tree in args.trees:
        tree = tree.resolve()
        for what in kinds:
            per = (count_instructions(tree, what, high) - count_instructions(tree, what, low)) / (high - low)
            base = first.setdefault(what, per)
            print(f"{tree!s:40s} {what:9s} {per / 1e6:8.3f} M instructions each   x{per / base:.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
