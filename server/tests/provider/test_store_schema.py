"""The store's schema and databases (docs/SECURITY.md P37): versioned forward-only migrations on both
databases, a database from a newer spalab refused, SQLite's group commit keeping each write its own,
and clear errors for a database that cannot be used."""

import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from provider_support import TEST_CONFIG

from spalab.provider import store as store_module
from spalab.provider.core.records import CodeRecord
from spalab.provider.database import Connection, DatabaseError, SQLiteDatabase
from spalab.provider.store import MIGRATIONS, SchemaTooNew, Store, digest


def location(tmp_path: Path, database: str | None) -> str | Path:
    return database or tmp_path / "spalab.sqlite3"


def versions(store: Store) -> list[int]:
    rows = store._db.read(lambda db: db.execute("SELECT version FROM schema_version ORDER BY version").fetchall())
    return [row[0] for row in rows]


def test_a_new_database_gets_every_migration_once(tmp_path: Path, database: str | None) -> None:
    store = Store(location(tmp_path, database))
    try:
        assert versions(store) == list(range(1, len(MIGRATIONS) + 1))
        assert store.schema_version == len(MIGRATIONS)
    finally:
        store.close()
    again = Store(location(tmp_path, database))  # a restart applies nothing twice
    try:
        assert versions(again) == list(range(1, len(MIGRATIONS) + 1))
    finally:
        again.close()


def test_a_later_migration_runs_once_on_the_next_start_and_keeps_the_data(
    tmp_path: Path, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Store(location(tmp_path, database))
    first.save_consent("alice", "spa", {"openid"}, False, 1)
    first.close()
    ran: list[str] = []

    def add_note_column(db: Connection) -> None:
        ran.append(db.dialect)
        db.execute("ALTER TABLE consents ADD COLUMN note TEXT")

    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, add_note_column))
    for _ in range(2):
        upgraded = Store(location(tmp_path, database))
        try:
            assert upgraded.consent("alice", "spa") == ({"openid"}, False)
            assert versions(upgraded)[-1] == len(MIGRATIONS) + 1
        finally:
            upgraded.close()
    assert len(ran) == 1


def test_a_database_from_a_newer_spalab_is_refused(tmp_path: Path, database: str | None) -> None:
    Store(location(tmp_path, database)).close()
    newer = Store(location(tmp_path, database))
    newer._db.write(lambda db: db.execute("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS) + 5,)))
    newer.close()
    with pytest.raises(SchemaTooNew, match=f"schema version {len(MIGRATIONS) + 5}, made by a newer spalab"):
        Store(location(tmp_path, database))


def test_stores_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path, database: str | None) -> None:
    start = threading.Barrier(6)
    stores: list[Store] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            stores.append(Store(location(tmp_path, database)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not errors
        assert versions(stores[0]) == list(range(1, len(MIGRATIONS) + 1))
    finally:
        for store in stores:
            store.close()


def test_codes_issued_before_dpop_jkt_stay_redeemable_and_unbound(
    tmp_path: Path, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 4 (RFC 9449 §10, docs/SECURITY.md P38) adds the key a code is bound to: a code issued by the
    release before it, in flight during the upgrade, is found afterwards, bound to no key."""
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:3])
    before = Store(location(tmp_path, database))
    row = (digest("old-code"), "grant", "spa", "http://localhost/", None, "x" * 43, "S256", 2_000_000_000)
    before._db.write(lambda db: db.execute("INSERT INTO codes VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)", row))
    before.close()
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    after = Store(location(tmp_path, database))
    try:
        record, consumed = after.find_code("old-code")
        assert record == CodeRecord("grant", "spa", "http://localhost/", None, "x" * 43, "S256", 2_000_000_000)
        assert record.dpop_jkt is None and not consumed
        bound = CodeRecord("grant", "spa", "http://localhost/", None, "x" * 43, "S256", 2_000_000_000, "j" * 43)
        after.save_code("new-code", bound)
        assert after.find_code("new-code") == (bound, False)
    finally:
        after.close()


@pytest.mark.sqlite_only
def test_an_unversioned_sqlite_file_is_adopted_with_its_data(tmp_path: Path, database: str | None) -> None:
    """A data dir made before the schema had versions (and before consent per flow and DPoP)."""
    path = tmp_path / "spalab.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE consents (username TEXT NOT NULL, client_id TEXT NOT NULL, scope TEXT NOT NULL,"
            " granted_at INTEGER NOT NULL, PRIMARY KEY (username, client_id))"
        )
        old.execute("INSERT INTO consents VALUES ('alice', 'spa', 'openid profile', 1)")
    store = Store(path)
    try:
        assert store.consent("alice", "spa") == ({"openid", "profile"}, False)
        assert versions(store) == list(range(1, len(MIGRATIONS) + 1))
    finally:
        store.close()


# --- SQLite's group commit --------------------------------------------------------------------


def test_a_failing_write_in_a_group_undoes_only_itself(tmp_path: Path) -> None:
    """Writes waiting together share one transaction; each runs in a savepoint, so one that fails is
    rolled back alone, and raises in its own caller only."""
    db = SQLiteDatabase(tmp_path / "group.sqlite3")
    try:
        db.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        start = threading.Barrier(40)
        outcomes: dict[int, str] = {}

        def writer(n: int) -> None:
            def unit(c: Connection) -> None:
                c.execute("INSERT INTO t VALUES (?)", (f"row-{n}",))
                if n % 4 == 0:
                    raise ValueError(f"unit {n} fails after writing")

            start.wait()
            try:
                db.write(unit)
                outcomes[n] = "ok"
            except ValueError:
                outcomes[n] = "failed"

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        rows = {row[0] for row in db.read(lambda c: c.execute("SELECT k FROM t").fetchall())}
        assert rows == {f"row-{n}" for n in range(40) if n % 4}
        assert {n for n, outcome in outcomes.items() if outcome == "failed"} == {n for n in range(40) if n % 4 == 0}
    finally:
        db.close()


def test_a_closed_database_refuses_work_with_a_message(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "closed.sqlite3")
    db.close()
    with pytest.raises(DatabaseError, match="closed"):
        db.write(lambda c: c.execute("SELECT 1"))


# --- what the operator sees -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_provider(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "provider.toml"
    config.write_text(TEST_CONFIG)
    command = [sys.executable, "-m", "spalab", "provider", "--config", str(config), "--port", str(free_port())]
    return subprocess.run(
        [*command, "--data-dir", str(tmp_path), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_database_url_of_another_kind_is_refused(tmp_path: Path) -> None:
    done = run_provider(tmp_path, "--database", "mysql://root@127.0.0.1/idp")
    assert done.returncode == 2
    assert "must be a PostgreSQL URL" in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_postgresql_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://spalab:hunter2@127.0.0.1:{port}/idp?connect_timeout=2"
    done = run_provider(tmp_path, "--database", url, "--workers", "2")
    assert done.returncode == 2, done.stderr
    assert f"cannot connect to PostgreSQL at postgresql://spalab:***@127.0.0.1:{port}/idp" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_a_newer_schema_stops_the_provider_with_its_message(tmp_path: Path, database: str | None) -> None:
    store = Store(location(tmp_path, database))
    store._db.write(lambda db: db.execute("INSERT INTO schema_version (version) VALUES (?)", (99,)))
    store.close()
    done = run_provider(tmp_path, *(["--database", database] if database else []))
    assert done.returncode == 2
    assert "made by a newer spalab" in done.stderr and "Traceback" not in done.stderr
