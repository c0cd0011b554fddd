"""The PostgreSQL test server itself (pg_support.py): each test gets a schema of its own through its
URL, the URL works for psycopg, psycopg_pool and another process, and no server outlives its owner."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psycopg
import pytest
from pg_support import MAX_CONNECTIONS, USER, PostgresError, PostgresServer, running_postgres
from psycopg_pool import ConnectionPool

HERE = Path(__file__).resolve().parent
_schemas_seen: list[str] = []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_url_connects_to_a_schema_of_its_own(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_schema(), current_user, inet_server_addr()::text").fetchone()
    assert row is not None
    schema, user, address = row
    assert postgres_url.endswith("search_path%3D" + schema)
    assert schema.startswith("t") and user == USER and address == "127.0.0.1/32"


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_starts_with_an_empty_schema(postgres_url: str, postgres_server: PostgresServer, turn: str) -> None:
    """Both turns create the same table without IF NOT EXISTS: a shared schema would fail the second.
    Schemas of earlier tests are gone by the time a later test runs."""
    with psycopg.connect(postgres_url) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None
        conn.execute("CREATE TABLE codes (code_hash text PRIMARY KEY, consumed_at bigint)")
        conn.execute("INSERT INTO codes VALUES (%s, NULL)", [turn])
        assert conn.execute("SELECT code_hash FROM codes").fetchall() == [(turn,)]
        others = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [_schemas_seen]).fetchall()
    assert schema[0] not in _schemas_seen
    assert others == []
    _schemas_seen.append(schema[0])


def test_server_settings(postgres_server: PostgresServer) -> None:
    with postgres_server.connect() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit',"
                " 'full_page_writes', 'max_connections', 'listen_addresses', 'unix_socket_directories')"
            ).fetchall()
        )
    assert settings == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": str(MAX_CONNECTIONS),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(postgres_server.socket_dir),
    }
    # The unix socket answers too (as root or as the server's own user: the directory is theirs alone).
    with psycopg.connect(host=str(postgres_server.socket_dir), port=postgres_server.port, user=USER) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_server_runs_unprivileged(postgres_server: PostgresServer) -> None:
    """PostgreSQL refuses root: under root the fixture runs it as the postgres user (or nobody)."""
    assert postgres_server.process is not None
    status = Path(f"/proc/{postgres_server.process.pid}/status").read_text()
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert uid != 0
    assert uid == (postgres_server.os_user.pw_uid if postgres_server.os_user else os.geteuid())


def test_a_connection_pool_works_on_the_url(postgres_url: str) -> None:
    """Every pooled connection gets the URL's search_path; concurrent transactions see one table."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE hits (n int)")
    errors: list[BaseException] = []
    with ConnectionPool(postgres_url, min_size=4, max_size=8, open=True, timeout=30) as pool:

        def work() -> None:
            try:
                for _ in range(10):
                    with pool.connection() as conn:
                        conn.execute("INSERT INTO hits VALUES (1)")
            except BaseException as error:  # noqa: B036 - reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        with pool.connection() as conn:
            count = conn.execute("SELECT count(*) FROM hits").fetchone()
    assert errors == []
    assert count == (80,)


def test_another_process_reaches_the_same_schema(postgres_url: str) -> None:
    """A second process (a second provider instance, say) needs nothing but the URL."""
    script = "import sys, psycopg\nwith psycopg.connect(sys.argv[1]) as c: c.execute('CREATE TABLE made_elsewhere ()')"
    subprocess.run([sys.executable, "-c", script, postgres_url], check=True, timeout=60)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('made_elsewhere') IS NOT NULL").fetchone() == (True,)


def test_a_connection_left_open_fails_the_test(postgres_server: PostgresServer) -> None:
    schema = postgres_server.new_schema("leaky")
    leaked = psycopg.connect(postgres_server.url(schema=schema))
    leaked.execute("CREATE TABLE held (n int)")  # an open transaction holding a lock on the schema
    try:
        with pytest.raises(PostgresError, match="left 1 connection"):
            postgres_server.drop_schema(schema, grace=0.2)
        with pytest.raises(psycopg.OperationalError):  # ended by the server
            leaked.execute("SELECT 1")
    finally:
        leaked.close()
    with postgres_server.connect() as conn:
        assert conn.execute("SELECT to_regnamespace(%s)", [schema]).fetchone() == (None,)


def test_the_server_is_stopped_and_removed_even_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError), running_postgres() as server:
        assert server.process is not None
        pid, root = server.process.pid, server.root
        raise RuntimeError("a failing test session")
    assert not _alive(pid)
    assert not root.exists()


def test_the_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """Killed without a chance to tear down (SIGKILL, a CI time limit), the owner takes the server along."""
    script = textwrap.dedent(
        """
        import sys, time
        from pg_support import running_postgres
        with running_postgres() as server:
            print(server.process.pid, server.root, flush=True)
            time.sleep(600)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=HERE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )
    line = ""
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        pid = int(line.split()[0])
        assert _alive(pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        assert _wait_gone(pid, 20), f"postgres (pid {pid}) outlived the process that started it"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if line:
            subprocess.run(["rm", "-rf", line.split()[1]], check=False)


def test_missing_postgresql_fails_and_says_what_to_run(tmp_path: Path) -> None:
    """Without the server's binaries, a test that needs PostgreSQL errors (never skips) and names the fix."""
    (tmp_path / "conftest.py").write_text("from pg_support import postgres_server, postgres_url  # noqa: F401\n")
    (tmp_path / "test_needs_postgres.py").write_text("def test_it(postgres_url):\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    empty = tmp_path / "no-binaries"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(HERE), "SPALAB_PG_BINDIR": str(empty)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 error" in result.stdout and "skipped" not in result.stdout, result.stdout[-3000:]
    assert "run scripts/setup --test" in result.stdout, result.stdout[-3000:]
