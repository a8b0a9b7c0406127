"""Per-message cost of the residential main route on a synthetic REGISTER.

Run by hand: `python3 benchmarks/script_route.py [messages]`. Prints medians in microseconds.

STAND-INS: tm, sl, rr, sipmsgops, registrar, usrloc, nathelper, rtpengine ... are replaced by
benchmark-only stand-in modules (generated into a temporary mpath) whose functions do almost no
work: is_method() compares the method, has_totag()/loose_route()/t_check_trans() return -1, the
others return 1. maxfwd, flags, myself and the script engine itself are real. The figure is the
script engine's overhead, not the cost of a real registration.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pysips.core.suspend import spawn  # noqa: E402
from pysips.script.compile import LoadOptions, load_script  # noqa: E402
from pysips.script.context import MsgContext, ProcessState  # noqa: E402
from pysips.script.parse import parse_file  # noqa: E402
from pysips.sip.message import parse_message  # noqa: E402
from pysips.sip.receive import ReceiveInfo  # noqa: E402

STANDIN_MODULES: dict[str, dict[str, int]] = {
    "signaling": {"send_reply": 2},
    "sl": {"sl_send_reply": 2, "sl_reply_error": 0},
    "tm": {"t_check_trans": 1, "t_relay": 0, "t_newtran": 0, "t_reply": 2, "t_on_branch": 1, "t_on_reply": 1},
    "rr": {"loose_route": 0, "record_route": 0},
    "sipmsgops": {"has_totag": 0, "append_hf": 1, "has_body": 1},
    "mi_fifo": {},
    "uri": {},
    "usrloc": {},
    "registrar": {"save": 1, "lookup": 2},
    "rtpengine": {"rtpengine_offer": 1, "rtpengine_answer": 1, "rtpengine_delete": 0},
    "nathelper": {"fix_nated_contact": 0, "fix_nated_register": 0},
    "proto_udp": {},
    "proto_tls": {},
    "proto_wss": {},
    "proto_ws": {},
    "tls_mgm": {},
}
# functions returning -1 (false) in the stand-ins
FALSE = {"has_totag", "loose_route", "t_check_trans"}

TEMPLATE = '''"""BENCHMARK STAND-IN for {name}: not the real module."""
from pysips.script.exports import ArgKind, ArgSpec, FunctionExport, ModuleExports, ParamExport, ParamType

def _is_method(ctx, methods):
    return 1 if ctx.msg.method in methods.split("|") else -1

def _const(value):
    def handler(ctx, *args):
        return value
    return handler

_ANY = ArgSpec(ArgKind.ANY, optional=True)
FUNCS = {funcs!r}
FALSE = {false!r}
functions = [FunctionExport(n, _const(-1 if n in FALSE else 1), (_ANY,) * k) for n, k in FUNCS.items()]
if {name!r} == "sipmsgops":
    functions.append(FunctionExport("is_method", _is_method, (ArgSpec(ArgKind.STR),)))
PARAMS = ["fr_timeout", "fr_inv_timeout", "restart_fr_on_each_reply", "onreply_avp_mode", "append_fromtag",
          "fifo_name", "fifo_mode", "use_uri_table", "nat_bflag", "db_mode", "rtpengine_sock", "received_avp",
          "certificate", "private_key"]
exports = ModuleExports({name!r}, functions=tuple(functions),
                        params=tuple(ParamExport(p, ParamType.INT_OR_STR) for p in PARAMS))
'''

REGISTER = (
    b"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK-bench;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@127.0.0.1>;tag=a1b2\r\n"
    b"To: <sip:alice@127.0.0.1>\r\n"
    b"Call-ID: bench-1@df7jal23ls0d.invalid\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>;expires=600\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def write_standins(folder: Path) -> None:
    for name, funcs in STANDIN_MODULES.items():
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(
            TEMPLATE.format(name=name, funcs=funcs, false=sorted(FALSE))
        )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rcv = ReceiveInfo("wss", "127.0.0.1", 8443, "127.0.0.1", 40000, conn_id=1)
    with tempfile.TemporaryDirectory() as tmp:
        write_standins(Path(tmp))
        example = ROOT / "examples" / "residential.cfg"
        loaded = load_script(parse_file(example), LoadOptions(base_dir=example.parent, mpath=tmp))
        route = loaded.main_route
        assert route is not None
        process = ProcessState()
        loaded.init_modules(process)
        messages = [parse_message(REGISTER) for _ in range(count)]
        ctx = MsgContext(process, messages[0], rcv)
        loaded.run(route, ctx)
        assert ctx.exit_requested and ctx.flags == 1 and ctx.bflags == 1, "REGISTER path not taken"

        def batch_parse() -> float:
            t0 = time.perf_counter()
            for _ in range(count):
                parse_message(REGISTER)
            return (time.perf_counter() - t0) / count * 1e6

        def batch_route() -> float:
            t0 = time.perf_counter()
            for msg in messages:
                loaded.run(route, MsgContext(process, msg, rcv))
            return (time.perf_counter() - t0) / count * 1e6

        def batch_spawned() -> float:
            # as the engine runs it: each message's route in a (pooled) script greenlet
            t0 = time.perf_counter()
            for msg in messages:
                spawn(loaded.run, route, MsgContext(process, msg, rcv))
            return (time.perf_counter() - t0) / count * 1e6

        route_runs = []
        spawned_runs = []
        for _ in range(5):
            messages[:] = [parse_message(REGISTER) for _ in range(count)]
            route_runs.append(batch_route())
            messages[:] = [parse_message(REGISTER) for _ in range(count)]
            spawned_runs.append(batch_spawned())
        parse_runs = [batch_parse() for _ in range(5)]
    print(f"{count} REGISTERs x 5 runs, medians (STAND-IN modules for everything but maxfwd/core)")
    print(
        "main route per message (context + script, message pre-parsed): "
        f"{statistics.median(route_runs):.1f} us"
    )
    print(
        "the same in a script greenlet (pysips.core.suspend.spawn, as the engine runs it): "
        f"{statistics.median(spawned_runs):.1f} us"
    )
    print(f"parse_message per REGISTER (for scale): {statistics.median(parse_runs):.1f} us")


if __name__ == "__main__":
    main()
