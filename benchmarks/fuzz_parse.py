"""Fuzz the SIP parser with mutated RFC 4475/5118 torture messages.

    python3 benchmarks/fuzz_parse.py [BUDGET] [--seed N] [--jobs J]

Every input must give a SipMessage or a ParseError (never an exception, never an "internal parser
error"); every accessor and validate() must not raise; an unedited message must serialize to its
own bytes; make_response must work on every answerable result. Failing inputs are written to
/tmp/pysips-fuzz-failures/. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import traceback
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pysips.sip.build import make_response
from pysips.sip.errors import ParseError
from pysips.sip.message import SipMessage, parse_message

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "torture"
FAILURES = Path("/tmp/pysips-fuzz-failures")
TOKENS = [
    b"\r\n",
    b" ",
    b"\t",
    b":",
    b";",
    b",",
    b"<",
    b">",
    b'"',
    b"@",
    b"[",
    b"]",
    b"%",
    b"=",
    b"\r\n ",
    b"\\",
    b"\x00",
    b"\xff",
    b"SIP/2.0",
    b"Via: ",
    b"l: 0",
    b"Content-Length: 9",
    b";tag=",
    b";branch=z9hG4bK",
    b"sip:",
    b"*",
    b"?",
    b"-1",
    b"99999999999",
]


def load_corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.glob("*.sip"))]


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        op = rng.randrange(8)
        n = len(data)
        pos = rng.randrange(n + 1)
        if op == 0 and n:
            data[rng.randrange(n)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and n:
            end = min(n, pos + rng.randint(1, 20))
            del data[pos:end]
        elif op == 3:
            del data[pos:]
        elif op == 4:
            lines = bytes(data).split(b"\r\n")
            if len(lines) > 2:
                i, j = rng.randrange(1, len(lines)), rng.randrange(1, len(lines))
                lines[i], lines[j] = lines[j], lines[i]
                data = bytearray(b"\r\n".join(lines))
        elif op == 5:
            lines = bytes(data).split(b"\r\n")
            if len(lines) > 2:
                i = rng.randrange(1, len(lines))
                lines.insert(i, lines[i])
                data = bytearray(b"\r\n".join(lines))
        elif op == 6:
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            data[pos:] = other[cut:]
        elif n:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(data)


def check(data: bytes) -> str | None:
    """None if the parser behaved; else a description of the failure."""
    try:
        result = parse_message(data)
        if isinstance(result, ParseError):
            if result.reason.startswith("internal parser error"):
                return result.reason
            if result.partial is not None and result.status is not None:
                make_response(result.partial, result.status, "Bad Request", to_tag="x")
            return None
        if not isinstance(result, SipMessage):
            return f"unexpected result type {type(result)!r}"
        msg = result
        if msg.serialize() != data[: len(msg.serialize())] or not data.startswith(msg.serialize()):
            return "unedited serialize() is not a prefix of the input"
        msg.check()
        msg.validate()
        _ = (msg.from_, msg.to, msg.vias, msg.content_type, msg.header_spans("via"))
        msg.copy().append_header("X-Copy: 1")
        msg.uri()
        msg.contacts()
        msg.routes()
        msg.record_routes()
        msg.sdp()
        msg.content_type_full()
        msg.expires()
        msg.auth("authorization")
        msg.option_tags("require")
        msg.header_fields()
        if msg.is_request:
            make_response(msg, 200, "OK", to_tag="abc", copy_record_route=True)
        msg.append_header("X-Fuzz: 1")
        msg.remove_header("via")
        msg.push_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx")
        msg.pop_via()
        msg.set_body(b"v=0\r\n", "application/sdp")
        if msg.is_request:
            msg.set_ruri("sip:fuzz@example.com")
        msg.serialize(add_content_length=True)
    except Exception:
        return traceback.format_exc()
    return None


def run(args: tuple[int, int]) -> tuple[int, int, list[tuple[bytes, str]]]:
    seed, count = args
    rng = random.Random(seed)
    seeds = load_corpus()
    failures: list[tuple[bytes, str]] = []
    parsed = 0
    for _ in range(count):
        data = mutate(rng, seeds)
        problem = check(data)
        if problem is not None and len(failures) < 20:
            failures.append((data, problem))
        elif problem is None and isinstance(parse_message(data), SipMessage):
            parsed += 1
    return count, parsed, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("budget", type=int, nargs="?", default=100_000, help="number of inputs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    opts = parser.parse_args()
    chunk = 20_000
    tasks = []
    left = opts.budget
    n = 0
    while left > 0:
        tasks.append((opts.seed * 1_000_003 + n, min(chunk, left)))
        left -= chunk
        n += 1
    started = time.perf_counter()
    total = parsed = 0
    failures: list[tuple[bytes, str]] = []
    with Pool(opts.jobs) as pool:
        for count, ok, bad in pool.imap_unordered(run, tasks):
            total += count
            parsed += ok
            failures += bad
            print(
                f"{total} inputs, {parsed} parsed as messages, {len(failures)} failures, "
                f"{time.perf_counter() - started:.0f}s",
                flush=True,
            )
    if failures:
        FAILURES.mkdir(exist_ok=True)
        for i, (data, problem) in enumerate(failures[:50]):
            (FAILURES / f"{i}.sip").write_bytes(data)
            (FAILURES / f"{i}.txt").write_text(problem)
        print(f"FAILED: {len(failures)} inputs, see {FAILURES}")
        return 1
    print(f"OK: {total} inputs, {parsed} parsed as messages, none raised ({os.cpu_count()} cpus here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
