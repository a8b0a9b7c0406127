"""Cost of the in-memory policy lookups: check_address over an address table and dp_translate
over a dialplan, both of N rows, measured on the module code directly (no network).

    python3 benchmarks/policy_lookups.py --rows 1000 --lookups 20000

Prints microseconds per lookup for: an address found exactly, one found in a subnet, one not
found (the whole group walked), a dialplan string rule hit, a regex rule hit at the end of the
list, and a miss.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from modules.dialplan.rules import Dialplan  # noqa: E402
from modules.permissions.address import AddressTable, parse_ip  # noqa: E402
from pysips.db.api import DbValue  # noqa: E402


def per_call_us(fn: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=20000)
    args = parser.parse_args()
    n = args.rows

    rows = []
    for i in range(n):
        host = str(ipaddress.IPv4Address(0x0A000000 + i))
        rows.append((host, 1, 32, 5060, "udp", None, f"host{i}", i))
    rows.append(("192.168.0.0", 1, 16, 0, "any", None, "lan", n))
    table = AddressTable.from_rows(rows)
    exact, subnet, stranger = parse_ip("10.0.1.0"), parse_ip("192.168.7.7"), parse_ip("172.16.0.1")
    assert exact and subnet and stranger
    print(f"check_address, {n} rows in one group:")
    for label, ip in (("exact hit", exact), ("subnet hit", subnet), ("miss", stranger)):
        cost = per_call_us(partial(table.match, 1, ip, 5060, "udp", None), args.lookups)
        print(f"  {label:<11} {cost:8.1f} us")

    rules: list[tuple[DbValue, ...]] = [
        (1, i, 0, f"+4021{i:06d}", 0, None, f"gw{i}", None, None) for i in range(n)]
    rules.append((1, n, 1, r"^\+49", 0, r"^\+49(.*)$", r"0049\1", "de", None))
    plan = Dialplan.from_rows(rules)
    print(f"dp_translate, {n} string rules and 1 regex rule:")
    for label, text in (("string hit", "+4021000500"), ("regex hit", "+4930123"), ("miss", "+1555")):
        cost = per_call_us(partial(plan.translate, 1, text, 0.0), args.lookups)
        print(f"  {label:<11} {cost:8.1f} us")


if __name__ == "__main__":
    main()
