"""A throwaway PostgreSQL server for the tests (issue 14's store), re-exported by conftest.py.

`postgres_server` (session): one server per pytest session, made by initdb in a temporary directory
(/tmp/spalab-pg-*) and run by the fixture itself: `postgres` listening on 127.0.0.1 at a free port
and on a unix socket in that directory, trust authentication (it listens on loopback only), stopped
at the end of the session, also when tests fail. Debian's binaries (/usr/lib/postgresql/<major>/bin,
or $SPALAB_PG_BINDIR) come from `scripts/setup --test`; without them every test that asks for
PostgreSQL fails (never skips), saying so.
PostgreSQL refuses to run as root, so under root (CI) it runs as the `postgres` user the Debian
package creates (`nobody` where there is none).

`postgres_url` (each test): a conninfo URL for psycopg (and any libpq client, a subprocess too) to
the session's one database, whose `options` set the search_path to a schema made for this test
alone and dropped after it:

    postgresql://spalab@127.0.0.1:<port>/spalab?options=-c%20search_path%3D<schema>

So tables a store creates without naming a schema land in the test's own schema. Measured on the
2-core machine, creating and dropping a schema (with the fixture's two short admin connections)
takes 12-35 ms a test; CREATE DATABASE and DROP DATABASE take 110-510 ms, ten times more or worse.
The server starts once a session: initdb 0.7-1.7 s, then 0.05-0.17 s until it answers.
A test that leaves a connection open fails at teardown (the connection is ended, the schema dropped).

The server trades durability for speed: fsync, synchronous_commit and full_page_writes are off.
The tests check logic and atomicity (which these settings do not touch: transactions, locks and
isolation work as ever), not what survives a power cut; the server's data is thrown away anyway.
"""

import ctypes
import glob
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

USER = "spalab"  # the database superuser initdb makes (a role, not an OS user)
DATABASE = "spalab"  # the one database the tests' schemas live in
MAX_CONNECTIONS = 300  # room for concurrency tests: pools of two provider instances and racing clients
START_TIMEOUT = 60.0  # seconds until the server must answer (CI's machine has 2 cores, often busy)
STOP_TIMEOUT = 30.0
LEFTOVER_GRACE = 5.0  # seconds a closed connection's backend gets to go away before the test is blamed

# The settings the server runs with (besides where it listens): see the module's docstring.
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": str(MAX_CONNECTIONS),
    # No background vacuum on 2 cores: each test's tables live for milliseconds.
    "autovacuum": "off",
}

MISSING = (
    "PostgreSQL's server is not installed (no /usr/lib/postgresql/*/bin/postgres, no postgres on PATH): "
    "run scripts/setup --test, which installs Debian's postgresql package"
)

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: a child between fork and exec should not dlopen


class PostgresError(Exception):
    """The test server could not be made, started or stopped; the message says why."""


def find_bindir() -> Path | None:
    """Where `initdb` and `postgres` are: $SPALAB_PG_BINDIR if set (and only there), else Debian's newest
    major version, else PATH."""
    wanted = ("initdb", "postgres")
    override = os.environ.get("SPALAB_PG_BINDIR")
    if override:
        candidates = [Path(override)]
    else:
        debian = glob.glob("/usr/lib/postgresql/*/bin")
        candidates = sorted(map(Path, debian), key=lambda path: _version(path.parent.name), reverse=True)
        on_path = shutil.which("postgres")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in wanted):
            return folder
    return None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent(parent: int) -> Callable[[], None]:
    """For the server's process, between fork and exec (after the switch of user): should pytest die
    without its teardown (SIGKILL, a CI time limit), the kernel sends the postmaster SIGQUIT, its
    immediate shutdown, which takes every backend with it. No server outlives the test run. (The kernel
    watches the thread that started the server: start it from the main thread, as fixtures are.)"""

    def preexec() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGQUIT, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return preexec


def _os_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as, when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresError("running as root, and there is neither a postgres nor a nobody user to run PostgreSQL as")


class PostgresServer:
    """One PostgreSQL server in a temporary directory, run by this process."""

    def __init__(self, bindir: Path, settings: dict[str, str] | None = None) -> None:
        self.bindir = bindir
        self.settings = {**SETTINGS, **(settings or {})}
        self.host = "127.0.0.1"
        self.user = USER
        self.dbname = DATABASE
        self.os_user = _os_user()
        # Under /tmp, not pytest's basetemp: the postgres user must reach it (pytest's is root's, 0700),
        # and a unix socket's path must stay under 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="spalab-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_path = self.root / "postgres.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.timings: dict[str, float] = {}
        self._schemas = itertools.count(1)
        self.socket_dir.mkdir()
        if self.os_user:
            for path in (self.root, self.socket_dir):
                os.chown(path, self.os_user.pw_uid, self.os_user.pw_gid)

    # --- what tests use ---------------------------------------------------------------------------

    def url(self, schema: str | None = None, dbname: str | None = None) -> str:
        """A libpq/psycopg conninfo URL over TCP; with `schema`, the search_path is that schema alone."""
        url = f"postgresql://{self.user}@{self.host}:{self.port}/{dbname or self.dbname}"
        if schema:
            url += "?options=" + quote(f"-c search_path={schema}", safe="")
        return url

    def connect(self, dbname: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
        """An autocommit superuser connection (for setting up and checking, not for the code under test)."""
        return psycopg.connect(self.url(dbname=dbname), autocommit=True, connect_timeout=10, **kwargs)

    def new_schema(self, hint: str) -> str:
        """Creates a schema no other test has: t<n>_<hint as an identifier>."""
        self.check_running()
        slug = re.sub(r"[^a-z0-9]+", "_", hint.lower()).strip("_")
        schema = f"t{next(self._schemas)}_{slug}"[:63].rstrip("_")
        with self.connect() as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        return schema

    def drop_schema(self, schema: str, grace: float = LEFTOVER_GRACE) -> None:
        """Drops the test's schema; fails if the test left connections open (after ending them)."""
        self.check_running()
        with self.connect() as admin:
            leftovers = self._leftovers(admin, grace)
            if leftovers:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", [leftovers])
            admin.execute("SET lock_timeout = '10s'")
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if leftovers:
            raise PostgresError(
                f"the test left {len(leftovers)} connection(s) to PostgreSQL open (ended now): "
                "close every connection and pool it opens"
            )

    def _leftovers(self, admin: psycopg.Connection[Any], grace: float) -> list[int]:
        """The client connections to the test database other than `admin`'s, after a short grace: a
        backend goes away a moment after its client closes. (Tests run one at a time.)"""
        deadline = time.monotonic() + grace
        while True:
            pids = [
                row[0]
                for row in admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"
                    " AND pid <> pg_backend_pid()",
                    [self.dbname],
                )
            ]
            if not pids or time.monotonic() > deadline:
                return pids
            time.sleep(0.05)

    def check_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise PostgresError(f"the test PostgreSQL server is not running\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"(no server log at {self.log_path})"
        return f"last lines of {self.log_path}:\n" + "\n".join(text.splitlines()[-lines:])

    # --- making, starting and stopping ---------------------------------------------------------------

    def _run_kwargs(self) -> dict[str, Any]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        kwargs: dict[str, Any] = {"cwd": self.root, "env": env, "stdin": subprocess.DEVNULL}
        if self.os_user:
            env.update(HOME=str(self.root), USER=self.os_user.pw_name, LOGNAME=self.os_user.pw_name)
            kwargs.update(user=self.os_user.pw_uid, group=self.os_user.pw_gid, extra_groups=[])
        return kwargs

    def initdb(self) -> None:
        started = time.monotonic()
        command = [
            str(self.bindir / "initdb"),
            *("-D", str(self.data_dir), "-U", self.user, "--auth=trust", "--no-locale", "--encoding=UTF8"),
            "--no-sync",  # nothing here has to survive a crash
            "--no-instructions",
        ]
        with self.log_path.open("ab") as log:
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=120, **self._run_kwargs())
        if result.returncode != 0:
            raise PostgresError(f"initdb failed (exit {result.returncode})\n{self.log_tail()}")
        self.timings["initdb"] = time.monotonic() - started

    def start(self, attempts: int = 3) -> None:
        """Starts the server on a free port (another, should a process take the port first)."""
        started = time.monotonic()
        for attempt in range(1, attempts + 1):
            self.port = _free_port()
            settings = {**self.settings, "listen_addresses": self.host, "port": str(self.port)}
            settings["unix_socket_directories"] = str(self.socket_dir)
            command = [str(self.bindir / "postgres"), "-D", str(self.data_dir)]
            command += [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops it in order
                    preexec_fn=_die_with_parent(os.getpid()),
                    **self._run_kwargs(),
                )
            if self._wait_until_ready():
                self.timings["start"] = time.monotonic() - started
                return
            if attempt == attempts or "could not bind" not in self.log_tail():
                raise PostgresError(f"PostgreSQL exited (code {self.process.returncode}) at start\n{self.log_tail()}")

    def _wait_until_ready(self) -> bool:
        """True once the server accepts a connection over TCP; False if it exited; raises on time-out."""
        assert self.process
        deadline = time.monotonic() + START_TIMEOUT
        while self.process.poll() is None:
            try:
                with psycopg.connect(self.url(dbname="postgres"), connect_timeout=2):
                    return True
            except psycopg.OperationalError as error:
                last = error
            if time.monotonic() > deadline:
                self.stop()
                raise PostgresError(
                    f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s ({last})\n{self.log_tail()}"
                )
            time.sleep(0.02)
        return False

    def create_database(self) -> None:
        with self.connect(dbname="postgres") as admin:
            admin.execute(f"CREATE DATABASE {self.dbname}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: rolls back open transactions, ends the backends), then harder."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, STOP_TIMEOUT), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
            process.send_signal(sig)
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        raise PostgresError(f"PostgreSQL (pid {process.pid}) did not stop even after SIGKILL")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_postgres(settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    """A fresh server with its database; stopped and deleted on the way out, whatever happened.
    `settings` replace some of SETTINGS (the provider benchmark runs it durable: fsync on)."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresError(MISSING)
    server = PostgresServer(bindir, settings)
    try:
        server.initdb()
        server.start()
        server.create_database()
        yield server
        died = server.process is None or server.process.poll() is not None
        if died:
            raise PostgresError(f"the test PostgreSQL server died during the session\n{server.log_tail()}")
    finally:
        try:
            server.stop()
        finally:
            server.remove()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        with running_postgres() as server:
            yield server
    except PostgresError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL whose search_path is a schema of this test's own (see the module's docstring)."""
    try:
        schema = postgres_server.new_schema(request.node.name)
    except PostgresError as error:
        pytest.fail(str(error), pytrace=False)
    yield postgres_server.url(schema=schema)
    try:
        postgres_server.drop_schema(schema)
    except PostgresError as error:
        pytest.fail(str(error), pytrace=False)
