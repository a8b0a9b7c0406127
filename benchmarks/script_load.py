"""Script load time: parse (syntax only) of the largest corpus script, and full load+compile.

Run by hand: `python3 benchmarks/script_load.py [runs]`. Prints medians in milliseconds.
The corpus scripts use modules pysips lacks, so they are timed syntax-only; the full compile is
timed on examples/residential.cfg (missing modules are reported, every route is still compiled)
and on a script that uses only implemented modules.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pysips.script.compile import LoadOptions, check_script, load_script  # noqa: E402
from pysips.script.parse import parse_file, parse_text  # noqa: E402

CORPUS = Path("/work/shared/corpus/cfgs")

IMPLEMENTED_ONLY = """
log_level=2
listen=udp:127.0.0.1:5060
loadmodule "maxfwd.so"
loadmodule "cfgutils.so"
route {
    if (!mf_process_maxfwd_header(10)) { xlog("L_ERR", "hops $ci\\n"); exit; }
    if (uri == myself && $rU != NULL) { setflag(LOCAL); route(local); }
    switch ($rm) { case "REGISTER": setbflag(NAT); break; case "INVITE": route(local); break; default: exit; }
    $var(i) = 0;
    while ($var(i) < 3) { $var(i) += 1; }
    if (rand_event(50)) xlog("L_INFO", "$fu -> $ru\\n");
}
route[local] { if ($si =~ "^10\\\\.") return(2); return(1); }
"""


def median_ms(fn: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    largest = max(CORPUS.glob("*.cfg"), key=lambda p: p.stat().st_size)
    parse_file(largest)  # warm the grammar cache
    print(f"runs={runs}, medians")
    size = largest.stat().st_size
    print(
        f"parse (syntax only) {largest.name} ({size} bytes): "
        f"{median_ms(lambda: parse_file(largest), runs):.1f} ms"
    )
    example = ROOT / "examples" / "residential.cfg"
    opts = LoadOptions(base_dir=example.parent)
    t = median_ms(lambda: check_script(parse_file(example), opts), runs)
    print(f"parse+load+compile examples/residential.cfg (missing modules reported): {t:.1f} ms")
    t = median_ms(lambda: load_script(parse_text(IMPLEMENTED_ONLY, "bench.cfg")), runs)
    print(f"parse+load+compile of a script using only implemented modules: {t:.1f} ms")


if __name__ == "__main__":
    main()
