"""The two databases the store runs on, behind one small interface: a SQLite file (the default, one
machine) or a PostgreSQL server (several processes and instances). store.py holds the SQL, written
once for both; this module holds connections, transactions and what differs between the two.

Every call blocks and is safe from any thread: the provider makes them from its thread pool, never
on the event loop (backchannel.py, frontchannel.py).

- `read(fn)` runs `fn(connection)` on a connection of its own; nothing is written.
- `write(fn)` runs `fn(connection)` in a write transaction, and returns once that transaction is
  durable (docs/SECURITY.md P28). `fn` decides with conditional statements (the row count of an
  `UPDATE ... WHERE used_at IS NULL` says who won), so it is atomic on both databases. `fn` should
  not raise for a protocol outcome: an exception rolls back what it wrote.
- `exclusive(fn)` is `write` with every other `exclusive` shut out, across processes and
  instances: for what reads, decides and then writes (the schema's migrations, the first signing
  key, the sign-in throttle).

SQLite: one writer thread per process owns the write connection and commits in groups: the writes
waiting when it starts a transaction all go into it (each in a savepoint of its own, so one that
fails undoes only itself), and one fsync makes them all durable. Under load that turns one fsync
per write into one per group. Reads use one connection per thread (WAL lets them run beside the
writer). Several processes on one file are serialized by SQLite's own lock (BEGIN IMMEDIATE waits
up to BUSY_TIMEOUT); WAL needs them on one machine (its index is shared memory).

PostgreSQL: a psycopg connection pool; each write is a transaction on a pooled connection, and the
server does its own group commit. `exclusive` takes a transaction-scoped advisory lock.
"""

import os
import queue
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

BUSY_TIMEOUT = 10.0
# The key of PostgreSQL's advisory lock behind `exclusive` (any constant: spalab's own).
EXCLUSIVE_LOCK = 0x5BA1AB
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class DatabaseError(Exception):
    """The database cannot be opened or used as configured; the message says why, for a person."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What store.py uses: SQL with `?` placeholders, on either database."""

    dialect: str

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor: ...


class Database(Protocol):
    dialect: str

    def read(self, fn: Callable[[Connection], T]) -> T: ...

    def write(self, fn: Callable[[Connection], T]) -> T: ...

    def exclusive(self, fn: Callable[[Connection], T]) -> T: ...

    def close(self) -> None: ...


def is_postgres_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def open_database(location: str | Path) -> Database:
    """A PostgreSQL URL (postgresql://...), or the path of a SQLite file."""
    if is_postgres_url(location):
        return PostgresDatabase(str(location))
    if isinstance(location, str) and "://" in location:
        raise DatabaseError(f"unsupported database URL (use postgresql://... or a file path): {_redact(location)}")
    return SQLiteDatabase(Path(location))


def _redact(url: str) -> str:
    """A URL fit for a message or a log: any password replaced."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


# --- SQLite -------------------------------------------------------------------------------------


class _SQLiteConnection:
    dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        return self.db.execute(sql, tuple(args))


def _connect_sqlite(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
    db.execute("PRAGMA journal_mode=WAL")
    # docs/SECURITY.md P28: the log synced at every commit, so not even a power loss undoes a rotation
    # or a revocation that was answered (NORMAL, some builds' WAL default, could lose the last ones).
    db.execute("PRAGMA synchronous=FULL")
    return db


_Job = tuple[Callable[[Connection], Any], "Future[Any]"]


class SQLiteDatabase:
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._writer_db = _connect_sqlite(path)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open the SQLite database {path}: {exc}") from None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="spalab-sqlite-writer", daemon=True)
        self._writer.start()

    # -- reads: one connection per thread ---------------------------------------------------------

    def read(self, fn: Callable[[Connection], T]) -> T:
        db = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise DatabaseError("the database is closed")
            db = _connect_sqlite(self.path)
            with self._readers_lock:
                self._readers.append(db)
            self._local.db = db
        return fn(_SQLiteConnection(db))

    # -- writes: one thread, group commit ---------------------------------------------------------

    def write(self, fn: Callable[[Connection], T]) -> T:
        if self._closed:
            raise DatabaseError("the database is closed")
        done: Future[T] = Future()
        self._jobs.put((fn, done))
        return done.result()

    # SQLite has one writer at a time across processes already: a write transaction is exclusive.
    exclusive = write

    def _write_loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)  # finish this group, then stop
                    break
                batch.append(job)
            self._commit_group(batch)

    def _commit_group(self, batch: list[_Job]) -> None:
        db = self._writer_db
        outcomes: list[tuple[bool, Any]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for fn, _ in batch:
                db.execute("SAVEPOINT job")
                try:
                    outcomes.append((True, fn(_SQLiteConnection(db))))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
                    db.execute("ROLLBACK TO job")
                    outcomes.append((False, exc))
                db.execute("RELEASE job")
            db.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - BEGIN or COMMIT failed (busy, disk full...): none landed
            if db.in_transaction:
                db.execute("ROLLBACK")
            for _, done in batch:
                done.set_exception(exc)
            return
        for (ok, value), (_, done) in zip(outcomes, batch, strict=True):
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        self._writer.join()
        self._writer_db.close()
        with self._readers_lock:
            for db in self._readers:
                db.close()
            self._readers.clear()


# --- PostgreSQL --------------------------------------------------------------------------------


class _PostgresConnection:
    dialect = "postgresql"
    _translated: dict[str, str] = {}

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor:
        # store.py's SQL uses `?` (SQLite's style) and never a literal `?` or `%`.
        translated = self._translated.get(sql)
        if translated is None:
            translated = self._translated[sql] = sql.replace("?", "%s")
        cursor: Cursor = self.conn.execute(translated, tuple(args))
        return cursor


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, url: str, min_size: int = 1, max_size: int | None = None) -> None:
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:  # pragma: no cover - both are dependencies of spalab
            raise DatabaseError("PostgreSQL needs psycopg and psycopg-pool (spalab depends on both)") from None
        size = max_size or int(os.environ.get("SPALAB_DB_POOL", "8"))
        self._pool = ConnectionPool(
            url, min_size=min(min_size, size), max_size=size, open=False, timeout=BUSY_TIMEOUT, name="spalab"
        )
        try:
            self._pool.open(wait=True, timeout=BUSY_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - psycopg's PoolTimeout names no cause; add the URL
            self._pool.close()
            raise DatabaseError(f"cannot connect to PostgreSQL at {_redact(url)}: {type(exc).__name__}") from None

    def read(self, fn: Callable[[Connection], T]) -> T:
        with self._pool.connection() as conn:
            return fn(_PostgresConnection(conn))

    def write(self, fn: Callable[[Connection], T]) -> T:
        # The pool's context commits on a normal exit and rolls back on an exception.
        with self._pool.connection() as conn:
            return fn(_PostgresConnection(conn))

    def exclusive(self, fn: Callable[[Connection], T]) -> T:
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (EXCLUSIVE_LOCK,))
            return fn(_PostgresConnection(conn))

    def close(self) -> None:
        self._pool.close()
