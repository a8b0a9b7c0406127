"""REGISTERs per second with usrloc on MySQL (MariaDB) and PostgreSQL: pysips next to OpenSIPS 3.6.

    python3 benchmarks/registrations_db.py                 # both backends, both modes, ~1-2 min
    python3 benchmarks/registrations_db.py --backends postgres --modes 1 --count 3000

Private MariaDB/PostgreSQL servers are started as the tests start them
(tests/integration/dbservers.py); the tables come from `pysips db create`. Each server (pysips,
and the reference OpenSIPS 3.6 build in /var/cache/pysips/opensips-3.6.8) runs one UDP worker on
127.0.0.1 with the same script: save("location") for REGISTER, with usrloc write-through
(db_mode 1) or sql-only (db_mode 3). A Python UDP client keeps --window REGISTERs outstanding
(each a new user, so every one inserts a row) and counts the 200s; registrations per second is
count / elapsed time. Printed per backend and mode, with the ratio pysips/OpenSIPS. With --auth
every REGISTER is challenged (401) and answered with digest credentials checked by auth_db
against `subscriber` (two round trips and one subscriber query per registration).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from pysips.db import admin  # noqa: E402
from tests.integration.dbservers import MariaDb, Postgres, Server, free_port, running  # noqa: E402

OPENSIPS_HOME = Path("/var/cache/pysips/opensips-3.6.8")

SCRIPT = """\
log_level=2
stderror_enabled=yes
syslog_enabled=no
udp_workers=1
auto_aliases=no
socket=udp:127.0.0.1:{port}
{mpath}
loadmodule "proto_udp.so"
loadmodule "signaling.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "{driver}.so"
loadmodule "usrloc.so"
modparam("usrloc", "db_mode", {mode})
modparam("usrloc", "use_domain", 0)
modparam("usrloc", "db_url", "{url}")
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("auth_db", "db_url", "{url}")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
route{{
	if ({auth} && !www_authorize("bench.test", "subscriber")) {{
		www_challenge("bench.test", "auth");
		exit;
	}}
	if (!save("location"))
		sl_reply_error();
	exit;
}}
"""


def register(port: int, local: int, n: int, run: str, auth: str = "") -> bytes:
    user = f"u{n}"
    cseq = 2 if auth else 1
    return (f"REGISTER sip:bench.test SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{run}{n}-{cseq}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{user}@bench.test>;tag={n}\r\nTo: <sip:{user}@bench.test>\r\n"
            f"Call-ID: {run}-{n}@bench\r\nCSeq: {cseq} REGISTER\r\n{auth}"
            f"Contact: <sip:{user}@127.0.0.1:{local}>;expires=3600\r\nContent-Length: 0\r\n\r\n").encode()


def answer(challenge: bytes, n: int) -> str:
    """The Authorization header for user u<n> (password p<n>) answering a 401."""
    text = challenge.decode("utf-8", "replace")
    nonce = re.search(r'nonce="([^"]+)"', text)
    assert nonce is not None, text
    user, uri = f"u{n}", "sip:bench.test"
    ha1 = hashlib.md5(f"{user}:bench.test:p{n}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce.group(1)}:00000001:c0ffee:auth:{ha2}".encode()).hexdigest()
    return (f'Authorization: Digest username="{user}", realm="bench.test", nonce="{nonce.group(1)}",'
            f' uri="{uri}", qop=auth, nc=00000001, cnonce="c0ffee", response="{response}"\r\n')


def flood(port: int, count: int, window: int, run: str) -> tuple[float, int]:
    """(registrations per second, 200s received)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5.0)
    local = sock.getsockname()[1]
    sent = ok = answered = 0
    started = time.monotonic()
    while sent < min(window, count):
        sock.sendto(register(port, local, sent, run), ("127.0.0.1", port))
        sent += 1
    try:
        while answered < count:
            data = sock.recv(65535)
            if data.startswith(b"SIP/2.0 1"):
                continue
            if data.startswith(b"SIP/2.0 401"):
                found = re.search(rb"Call-ID: [^-]+-(\d+)@", data)
                assert found is not None
                n = int(found.group(1))
                sock.sendto(register(port, local, n, run, answer(data, n)), ("127.0.0.1", port))
                continue
            answered += 1
            ok += data.startswith(b"SIP/2.0 200")
            if sent < count:
                sock.sendto(register(port, local, sent, run), ("127.0.0.1", port))
                sent += 1
    except TimeoutError:
        pass
    elapsed = time.monotonic() - started
    sock.close()
    return answered / elapsed, ok


def serve(which: str, server: Server, mode: int, folder: Path,
          auth: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    driver = "db_mysql" if server.scheme == "mysql" else "db_postgres"
    mpath = f'mpath="{OPENSIPS_HOME}/lib64/opensips/modules"' if which == "opensips" else ""
    cfg = folder / f"{which}-{server.scheme}-{mode}{'-auth' if auth else ''}.cfg"
    cfg.write_text(SCRIPT.format(port=port, mpath=mpath, driver=driver, mode=mode, url=server.url,
                                 auth="true" if auth else "false"))
    if which == "opensips":
        argv = [str(OPENSIPS_HOME / "sbin" / "opensips"), "-F", "-m", "256", "-M", "16", "-f", str(cfg)]
    else:
        argv = [sys.executable, "-m", "pysips", "-f", str(cfg)]
    log = (folder / f"{cfg.stem}.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    time.sleep(1.5 if which == "opensips" else 3.0)
    if proc.poll() is not None:
        raise SystemExit(f"{which} did not start; see {log.name}")
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", nargs="+", default=["mysql", "postgres"])
    parser.add_argument("--modes", nargs="+", type=int, default=[1, 3])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--auth", action="store_true",
                        help="digest-authenticated REGISTERs (auth_db on the subscriber table)")
    args = parser.parse_args()
    kinds = {"mysql": MariaDb, "postgres": Postgres}
    folder = Path(tempfile.mkdtemp(prefix="pysips-bench-db-"))
    kind = "authenticated REGISTER" if args.auth else "REGISTER"
    print(f"{kind}s per second")
    print(f"{'backend':9} {'mode':>4} {'pysips/s':>9} {'opensips/s':>10} {'ratio':>6}")
    for backend in args.backends:
        with running(kinds[backend]) as server:
            db = admin.open_url(server.url)
            admin.create(db, ["usrloc", "auth_db"])
            if args.auth:
                db.delete("subscriber")
                with db.transaction():
                    for n in range(args.count):
                        db.insert("subscriber",
                                  {"username": f"u{n}", "domain": "bench.test", "password": f"p{n}"})
            for mode in args.modes:
                rates: dict[str, float] = {}
                for which in ("pysips", "opensips"):
                    db.delete("location")
                    proc, port = serve(which, server, mode, folder, args.auth)
                    try:
                        rate, ok = flood(port, args.count, args.window, f"{which[0]}{mode}")
                    finally:
                        proc.terminate()
                        proc.wait(timeout=20)
                    rows = len(db.query("location", ("contact_id",)))
                    if ok != args.count or rows != args.count:
                        print(f"  {which}: {ok} of {args.count} answered 200, {rows} rows", file=sys.stderr)
                    rates[which] = rate
                print(f"{backend:9} {mode:>4} {rates['pysips']:>9.0f} {rates['opensips']:>10.0f}"
                      f" {rates['pysips'] / rates['opensips']:>6.2f}")
            db.close()


if __name__ == "__main__":
    main()
