"""Private database servers for the tests: MariaDB, PostgreSQL and Redis from Debian's packages.

Each is started once per test session on a free port in a temporary folder, with a real user and
password (`opensips`/`opensipsrw`, as OpenSIPS's defaults), and stopped at the end. No system
service is used or assumed. A missing binary fails the test with the package to install (never a
skip): `scripts/setup` installs them.

`stop()` and `start()` let a fault test take a server away mid-run and bring it back on the same
port with the same data.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysips.db import admin
from pysips.db.api import Database

DB_USER = "opensips"
DB_PASSWORD = "opensipsrw"
DB_NAME = "opensips"
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary(name: str, package: str, extra_dirs: list[Path] | None = None) -> str:
    for folder in extra_dirs or []:
        candidate = folder / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if found is None:
        pytest.fail(f"{name} not found: install the Debian package {package} (scripts/setup does)")
    return found


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    pytest.fail(f"{what} did not listen on port {port} within {timeout}s:\n"
                f"{log.read_text(errors='replace')[-3000:]}")


class Server:
    """One private server: `url` for db_url/cachedb_url, stop()/start() for fault tests."""

    scheme = ""
    stop_signal = signal.SIGTERM

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "server.log"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.port}/{DB_NAME}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=self.preexec(), start_new_session=True)
        _wait_port(self.port, self.proc, type(self).__name__, self.log)
        deadline = time.monotonic() + 30
        while not self.ready():
            if time.monotonic() > deadline:
                pytest.fail(f"{type(self).__name__} listens but does not answer queries:\n"
                            f"{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)

    def ready(self) -> bool:
        """True once the server answers (a listening PostgreSQL may still be starting up)."""
        return True

    def preexec(self) -> object:
        return None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self.stop_signal)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class MariaDb(Server):
    scheme = "mysql"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.mariadbd = _binary("mariadbd", "mariadb-server")
        self.install_db = _binary("mariadb-install-db", "mariadb-server")
        self.client = _binary("mariadb", "mariadb-client")
        self.data = folder / "data"
        self.sock = folder / "mysqld.sock"
        subprocess.run(
            [self.install_db, "--no-defaults", f"--datadir={self.data}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True, timeout=120,
        )

    def command(self) -> list[str]:
        return [self.mariadbd, "--no-defaults", f"--datadir={self.data}", f"--socket={self.sock}",
                f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root", "--skip-log-bin",
                "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M", "--skip-name-resolve",
                "--innodb-flush-log-at-trx-commit=0", f"--pid-file={self.folder / 'mysqld.pid'}"]

    def sql(self, statements: str) -> str:
        done = subprocess.run([self.client, "--no-defaults", "-uroot", f"--socket={self.sock}", "-N", "-B",
                               "-e", statements], check=True, capture_output=True, text=True, timeout=30)
        return done.stdout

    def ready(self) -> bool:
        try:
            self.sql("SELECT 1")
        except subprocess.CalledProcessError:
            return False
        return True

    def provision(self) -> None:
        self.sql(f"CREATE DATABASE {DB_NAME}; CREATE USER '{DB_USER}'@'%' IDENTIFIED BY '{DB_PASSWORD}';"
                 f" GRANT ALL ON {DB_NAME}.* TO '{DB_USER}'@'%'; FLUSH PRIVILEGES;")


class Postgres(Server):
    scheme = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for clients to leave

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.pg_ctl = _binary("pg_ctl", "postgresql", PG_BIN_DIRS)
        self.postgres = _binary("postgres", "postgresql", PG_BIN_DIRS)
        initdb = _binary("initdb", "postgresql", PG_BIN_DIRS)
        self.psql = _binary("psql", "postgresql-client")
        self.data = folder / "data"
        try:
            self.owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("no 'postgres' system user: install the Debian package postgresql")
        # postgres refuses to run as root: the folder belongs to the postgres user
        os.chown(folder, self.owner.pw_uid, self.owner.pw_gid)
        subprocess.run([initdb, "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                        "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120, preexec_fn=self.preexec(), cwd=folder)

    def preexec(self) -> object:
        uid, gid = self.owner.pw_uid, self.owner.pw_gid

        def drop() -> None:
            os.setgid(gid)
            os.setuid(uid)
        return drop

    def command(self) -> list[str]:
        return [self.postgres, "-D", str(self.data), "-p", str(self.port), "-k", str(self.folder),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "shared_buffers=16MB"]

    def sql(self, statements: str, database: str = "postgres") -> str:
        done = subprocess.run([self.psql, "-h", str(self.folder), "-p", str(self.port), "-U", "postgres",
                               "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", statements],
                              check=True, capture_output=True, text=True, timeout=30)
        return done.stdout

    def ready(self) -> bool:
        try:
            self.sql("SELECT 1")
        except subprocess.CalledProcessError:
            return False
        return True

    def provision(self) -> None:
        self.sql(f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'")
        self.sql(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")


class Redis(Server):
    scheme = "redis"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.binary = _binary("redis-server", "redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.folder)]


@contextlib.contextmanager
def running(kind: type[Server]) -> Iterator[Server]:
    folder = Path(tempfile.mkdtemp(prefix=f"pysips-{kind.__name__.lower()}-"))
    os.chmod(folder, 0o755)
    server = kind(folder)
    try:
        server.start()
        provision = getattr(server, "provision", None)
        if provision is not None:
            provision()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDb]:
    with running(MariaDb) as server:
        assert isinstance(server, MariaDb)
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with running(Postgres) as server:
        assert isinstance(server, Postgres)
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    with running(Redis) as server:
        assert isinstance(server, Redis)
        yield server


@pytest.fixture(params=["mysql", "postgres"])
def sql_server(request: pytest.FixtureRequest) -> Server:
    fixture = "mariadb" if request.param == "mysql" else "postgres"
    found = request.getfixturevalue(fixture)
    assert isinstance(found, Server)
    return found


@pytest.fixture
def sql_db(sql_server: Server) -> Iterator[Database]:
    """A connection to a database with freshly created OpenSIPS tables."""
    subprocess.run([sys.executable, "-m", "pysips", "db", "drop", sql_server.url], check=True,
                   capture_output=True, timeout=60)
    done = subprocess.run([sys.executable, "-m", "pysips", "db", "create", sql_server.url], check=True,
                          capture_output=True, text=True, timeout=60)
    assert "created" in done.stdout and "location" in done.stdout, done.stdout + done.stderr
    conn = admin.open_url(sql_server.url)
    yield conn
    conn.close()
