"""The two databases the store runs on, behind one small interface: a SQLite file (the default, one
machine) or a PostgreSQL server (several processes and instances). store.py holds the SQL, written
once for both; this module holds connections, transactions and what differs between the two.

`read`, `write` and `exclusive` block and are safe from any thread; the provider never makes them on
the event loop. It hands whole units of work to the database instead, and awaits them:

- `await call(fn, after)` runs `fn()`, which makes its own `read`/`write` calls, where writes are
  cheapest: on SQLite in the writer thread, inside the group being committed (each write in it still
  atomic on its own), the answer given once the group is durable; on PostgreSQL in a worker thread.
  `after(result)`, if given, runs on another thread while the group commits, and the caller gets its
  result once both are done (never before the commit, never if it fails): CPU work that must not hold
  up the one writer (the provider signs its token responses there, while the commit's fsync runs; on
  SQLite a thread per core does, AFTER_THREADS).
- `await call_read(fn)` is `call` for a `fn` that only reads: on SQLite in a reader thread of its
  own, never waiting for a commit.

Handing a unit to one thread costs two thread switches (there and back) and nothing while that thread
is busy: jobs queue, and a group's answers go back to the event loop together. Going through a thread
pool whose worker then waits for the writer cost four switches per write; the provider benchmark
measured the difference (README, "Speed").

- `read(fn)` runs `fn(connection)` on a connection of its own; nothing is written.
- `write(fn)` runs `fn(connection)` in a write transaction, and returns once that transaction is
  durable (docs/SECURITY.md P28). `fn` decides with conditional statements (the row count of an
  `UPDATE ... WHERE used_at IS NULL` says who won), so it is atomic on both databases. `fn` should
  not raise for a protocol outcome: an exception rolls back what it wrote.
- `write(fn, durable=False)` returns once the transaction is committed (others see it) but before
  it is on disk: it becomes durable with the next durable commit, and at the latest SYNC_DELAY
  seconds later. A power loss can lose the last of these and nothing else. The store uses it only
  where losing the write costs a user a repeated step, never a security decision (README, "What a
  power loss can lose"; store.py says which writes).
- `exclusive(fn)` is `write` with every other `exclusive` shut out, across processes and
  instances: for what reads, decides and then writes (the schema's migrations, the first signing
  key). `exclusive(fn, keys=...)` shuts out only the others that name one of the same keys (the
  sign-in throttle: its subjects), so decisions about unrelated accounts and addresses do not wait
  for each other.

SQLite: one writer thread per process owns the write connection and commits in groups: the writes
waiting when it starts a transaction all go into it (each in a savepoint of its own, so one that
fails undoes only itself), and one fsync of the write-ahead log makes them all durable, before any
of them is answered, if any of them asked for it (synchronous=NORMAL, and the writer syncs the log
itself: SQLite's FULL would sync every commit). Under load that turns one fsync per write into one
per group. Reads use one connection per thread (WAL lets them run beside the
writer). Several processes on one file are serialized by SQLite's own lock (BEGIN IMMEDIATE waits
up to BUSY_TIMEOUT); WAL needs them on one machine (its index is shared memory).

PostgreSQL: a psycopg connection pool; each write is a transaction on a pooled connection, and the
server does its own group commit; a write that need not be durable at once commits with
`synchronous_commit = off` (the server's WAL writer flushes it within a fraction of a second).
`exclusive` takes a transaction-scoped advisory lock: one constant, or one per key, taken in one
order so that two units cannot deadlock.
"""

import asyncio
import hashlib
import os
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import anyio.to_thread

T = TypeVar("T")

BUSY_TIMEOUT = 10.0
# The longest a committed write that was not asked to be durable waits for its fsync (SQLite).
SYNC_DELAY = 1.0
# Threads that run SQLite's after-work (a token response's signatures) beside the writer: one per core,
# at least two. An RSA signature (the id_token's) releases the GIL while cryptography computes it, so on
# two cores two threads sign about 1.7 times as fast as one; with one, that thread was the provider's
# bottleneck at 8 and 64 clients (README, "Speed": "Signing on a thread per core").
AFTER_THREADS = max(2, min(os.cpu_count() or 2, 8))
# The key of PostgreSQL's advisory lock behind `exclusive` (any constant: spalab's own).
EXCLUSIVE_LOCK = 0x5BA1AB
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


# How long a client is told to wait after a 503 for a database that did not answer (unavailable).
RETRY_AFTER = 1


# PostgreSQL's SQLSTATEs that say "not now" (Appendix A): connection exceptions (class 08), a transaction
# rolled back by a deadlock or a serialization failure (40), the server shutting down or starting (57P),
# too many connections (53300), a lock not granted within lock_timeout (55P03), a statement cancelled
# (57014). None: the connection failed on the client's side (lost, refused).
_TRANSIENT_STATES = ("08", "40", "57P", "53300", "55P03", "57014")


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database is out of reach or did not answer in time (a lock held past
    BUSY_TIMEOUT, the pool exhausted, the server restarting or gone, the store closing), not a bug: the
    request is answered 503 and can be sent again, since nothing it asked for was done."""
    if isinstance(exc, sqlite3.OperationalError):
        return any(word in str(exc) for word in ("locked", "busy"))
    if isinstance(exc, DatabaseClosed):
        return True
    try:
        import psycopg
        from psycopg_pool import PoolTimeout
    except ImportError:  # pragma: no cover - dependencies of spalab
        return False
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    # Not every OperationalError passes: a value too large for an index (54000), a full disk (53100) or a
    # refused password (28P01) are not cured by trying again, and stay a 500 that someone must look at.
    state = exc.sqlstate
    return state is None or state.startswith(_TRANSIENT_STATES)


def database_errors() -> tuple[type[Exception], ...]:
    """The exception classes `unavailable` judges."""
    import psycopg

    return (sqlite3.OperationalError, psycopg.OperationalError, DatabaseError)


class DatabaseError(Exception):
    """The database cannot be opened or used as configured; the message says why, for a person."""


class DatabaseClosed(DatabaseError):
    """The store is closing (the process is shutting down)."""

    def __init__(self) -> None:
        super().__init__("the database is closed")


class CommitUnknown(DatabaseError):
    """A unit's COMMIT got no answer: its writes may or may not have landed (PostgreSQL)."""


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

    def write(self, fn: Callable[[Connection], T], durable: bool = True) -> T: ...

    def exclusive(self, fn: Callable[[Connection], T], durable: bool = True, keys: tuple[str, ...] = ()) -> T: ...

    async def call(self, fn: Callable[[], Any], after: Callable[[Any], T] | None = None) -> T: ...

    async def call_read(self, fn: Callable[[], T]) -> T: ...

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
    # Switching a new file to WAL needs it to itself, and SQLite does not wait for that (no busy handler):
    # several processes opening one new file at once wait here instead, up to BUSY_TIMEOUT.
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(0.01)
    # docs/SECURITY.md P28: the writer syncs the log itself before it answers a durable write
    # (SQLiteDatabase._commit_group); NORMAL keeps SQLite from syncing every other commit too. WAL with
    # NORMAL stays consistent through a power loss (only unsynced commits can be lost).
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class _Job:
    """One unit for a database thread: `fn(connection)` in a savepoint of its own (`write`), or `fn()`
    (`call`, `call_read`); the outcome goes to a concurrent Future (a blocking caller) or to an asyncio
    future on its event loop (an awaiting caller)."""

    __slots__ = (
        "fn",
        "savepoint",
        "future",
        "waiter",
        "loop",
        "after",
        "durable",
        "ok",
        "value",
        "halves",
        "commit_error",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        savepoint: bool,
        future: "Future[Any] | None" = None,
        waiter: "asyncio.Future[Any] | None" = None,
        loop: asyncio.AbstractEventLoop | None = None,
        after: Callable[[Any], Any] | None = None,
        durable: bool = False,
    ) -> None:
        self.fn, self.savepoint, self.future, self.waiter, self.loop = fn, savepoint, future, waiter, loop
        self.after, self.durable = after, durable
        self.ok: bool = False
        self.value: Any = None
        # A `call` with after-work is answered once both halves are done: its group's commit, its after-work.
        self.halves = 0
        self.commit_error: BaseException | None = None


def _settle(jobs: list[_Job]) -> None:
    """On the event loop: the awaiting callers' answers (a caller that was cancelled meanwhile is skipped)."""
    for job in jobs:
        waiter = job.waiter
        if waiter is None or waiter.done():
            continue
        if job.ok:
            waiter.set_result(job.value)
        else:
            waiter.set_exception(job.value)


def _deliver(jobs: list[_Job]) -> None:
    """From a database thread: each job's outcome to its caller; one wake-up per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        if job.future is not None:
            if job.ok:
                job.future.set_result(job.value)
            else:
                job.future.set_exception(job.value)
        elif job.loop is not None:
            by_loop.setdefault(job.loop, []).append(job)
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, waiting)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _drain(jobs: "queue.SimpleQueue[_Job | None]", first: _Job) -> tuple[list[_Job], bool]:
    """`first` and every job queued behind it; True if the queue's end mark was among them."""
    batch = [first]
    while True:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            return batch, False
        if job is None:
            return batch, True
        batch.append(job)


async def _awaited(
    jobs: "queue.SimpleQueue[_Job | None]", fn: Callable[[], Any], after: Callable[[Any], T] | None = None
) -> T:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[T] = loop.create_future()
    jobs.put(_Job(fn, False, waiter=waiter, loop=loop, after=after))
    return await waiter


def _run_and_deliver(batch: list[_Job]) -> None:
    for job in batch:
        try:
            job.value, job.ok = job.fn(), True
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
            job.ok, job.value = False, exc
    _deliver(batch)


def _serve(
    jobs: "queue.SimpleQueue[_Job | None]",
    run: Callable[[list[_Job]], None],
    due: Callable[[bool], float | None] | None = None,
) -> None:
    """A database thread's loop: whatever is queued, in batches, until the end mark. `due(final)`, if
    given, does what is due now (the writer's delayed sync) and says how long the next wait may be."""
    timeout = None
    while True:
        try:
            first = jobs.get(timeout=timeout)
        except queue.Empty:
            first = None
            stop = False
        else:
            if first is None:
                stop = True
            else:
                batch, stop = _drain(jobs, first)
                run(batch)
        if due is not None:
            timeout = due(stop)
        if stop:  # what was queued before the end mark is done; nothing comes after it
            return


class SQLiteDatabase:
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._writer_db = _connect_sqlite(path)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open the SQLite database {path}: {exc}") from None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._reads: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # One queue per after-commit thread, and how many jobs each has not finished (under _halves_lock).
        self._afters: list[queue.SimpleQueue[_Job | None]] = [queue.SimpleQueue() for _ in range(AFTER_THREADS)]
        self._after_pending = [0] * AFTER_THREADS
        self._halves_lock = threading.Lock()
        self._group_durable = False
        self._unsynced_since: float | None = None  # the first commit not yet synced, if any
        # What the writer did, for the tests and the benchmark: groups committed, and log syncs made
        # for a durable write or, later, for writes that were not.
        self.commits = 0
        self.syncs = 0
        self.delayed_syncs = 0
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=_serve, args=args, name=f"spalab-sqlite-{name}", daemon=True)
            for name, args in (
                ("writer", (self._jobs, self._commit_group, self._sync_due)),
                ("reader", (self._reads, _run_and_deliver)),
                *(
                    (f"after-commit-{i + 1}", (jobs, partial(self._run_afters, i)))
                    for i, jobs in enumerate(self._afters)
                ),
            )
        ]
        self._writer = self._threads[0]
        for thread in self._threads:
            thread.start()

    def _in_writer(self) -> bool:
        return threading.current_thread() is self._writer

    # -- reads: one connection per thread ---------------------------------------------------------

    def read(self, fn: Callable[[Connection], T]) -> T:
        if self._in_writer():  # in a `call`: what the group has written so far is read too
            return fn(_SQLiteConnection(self._writer_db))
        db = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise DatabaseClosed()
            db = _connect_sqlite(self.path)
            with self._readers_lock:
                self._readers.append(db)
            self._local.db = db
        return fn(_SQLiteConnection(db))

    # -- writes: one thread, group commit ---------------------------------------------------------

    def write(self, fn: Callable[[Connection], T], durable: bool = True) -> T:
        if self._in_writer():  # in a `call`: part of the group being committed, atomic on its own
            self._group_durable |= durable
            return self._savepoint(fn)
        if self._closed:
            raise DatabaseClosed()
        done: Future[T] = Future()
        self._jobs.put(_Job(fn, True, future=done, durable=durable))
        return done.result()

    def exclusive(self, fn: Callable[[Connection], T], durable: bool = True, keys: tuple[str, ...] = ()) -> T:
        # SQLite has one writer at a time across processes already: a write transaction is exclusive.
        return self.write(fn, durable)

    async def call(self, fn: Callable[[], Any], after: Callable[[Any], T] | None = None) -> T:
        if self._closed:
            raise DatabaseClosed()
        return await _awaited(self._jobs, fn, after)

    async def call_read(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise DatabaseClosed()
        return await _awaited(self._reads, fn)

    def _savepoint(self, fn: Callable[[Connection], T]) -> T:
        db = self._writer_db
        db.execute("SAVEPOINT job")
        try:
            result = fn(_SQLiteConnection(db))
        except BaseException:
            db.execute("ROLLBACK TO job")
            db.execute("RELEASE job")
            raise
        db.execute("RELEASE job")
        return result

    def _commit_group(self, batch: list[_Job]) -> None:
        db = self._writer_db
        overlapped: list[_Job] = []
        failure: BaseException | None = None
        # Durable if any write in it asks: a job's own, or one made inside a `call` (write() sets it).
        self._group_durable = any(job.durable for job in batch)
        try:
            db.execute("BEGIN IMMEDIATE")
            for job in batch:
                try:
                    # A `write` is undone alone if it fails; a `call` keeps what its own writes did.
                    job.value = self._savepoint(job.fn) if job.savepoint else job.fn()
                    job.ok = True
                except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
                    job.ok, job.value = False, exc
                if job.ok and job.after is not None:
                    # Its after-work (a token response's signatures) runs while this group commits, on
                    # another thread; the answer waits for both (_half_done), so nothing leaves uncommitted.
                    job.halves = 2
                    overlapped.append(job)
                    self._queue_after(job)
            db.execute("COMMIT")
            self.commits += 1
            if self._unsynced_since is None:
                self._unsynced_since = time.monotonic()
            if self._group_durable:
                self._sync()  # before anything in the group is answered
        except BaseException as exc:  # noqa: BLE001 - BEGIN or COMMIT (busy, disk full...) or the sync failed
            if db.in_transaction:
                db.execute("ROLLBACK")
            failure = exc
        answered = [job for job in batch if not job.halves]
        if failure is not None:
            for job in answered:
                job.ok, job.value = False, failure
        _deliver(answered)
        for job in overlapped:
            job.commit_error = failure
            self._half_done(job)

    def _sync(self) -> None:
        """Makes every commit so far durable: one fdatasync of the write-ahead log."""
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        except FileNotFoundError:  # no log: everything is in the database file, which a checkpoint synced
            self._unsynced_since = None
            return
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)
        self.syncs += 1
        self._unsynced_since = None

    def _sync_due(self, final: bool) -> float | None:
        """In the writer, after each group and each idle wait: syncs commits that have waited SYNC_DELAY
        (or all, at close); the time until the next one is due, or None when none waits."""
        if self._unsynced_since is None:
            return None
        waited = time.monotonic() - self._unsynced_since
        if final or waited >= SYNC_DELAY:
            try:
                self._sync()
                self.delayed_syncs += 1
            except OSError:  # the next durable write (or the next try) syncs them
                return SYNC_DELAY
            return None
        return SYNC_DELAY - waited

    def _queue_after(self, job: _Job) -> None:
        """To the first after-commit thread with nothing to do, else to the least busy: under light load one
        thread signs everything (handing work to a thread that just slept on another core cost 15 % of a
        refresh at 1 client), under load they all do."""
        with self._halves_lock:
            pending = self._after_pending
            index = pending.index(min(pending))  # the first idle one, if any
            pending[index] += 1
        self._afters[index].put(job)

    def _run_afters(self, index: int, batch: list[_Job]) -> None:
        for job in batch:
            assert job.after is not None
            try:
                job.value = job.after(job.value)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
                job.ok, job.value = False, exc
            with self._halves_lock:
                self._after_pending[index] -= 1
            self._half_done(job)

    def _half_done(self, job: _Job) -> None:
        with self._halves_lock:
            job.halves -= 1
            if job.halves:
                return
        if job.commit_error is not None:  # signed, but never committed: the caller gets the failure
            job.ok, job.value = False, job.commit_error
        _deliver([job])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        self._writer.join()  # the writer first: it may queue after-work
        self._reads.put(None)
        for jobs in self._afters:
            jobs.put(None)
        for thread in self._threads:
            thread.join()
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


def _lock_of(key: str) -> int:
    """A key's advisory lock: 64 bits of its SHA-256, signed as PostgreSQL's bigint (two keys sharing one only
    wait for each other)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _patient(conn: Any) -> None:
    """A new pooled connection waits for a lock at most BUSY_TIMEOUT (set per connection, leaving the URL's own
    options, such as its search_path, as they are)."""
    conn.execute(f"SET lock_timeout = {int(BUSY_TIMEOUT * 1000)}")
    conn.commit()


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, url: str, min_size: int = 1, max_size: int | None = None) -> None:
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:  # pragma: no cover - both are dependencies of spalab
            raise DatabaseError("PostgreSQL needs psycopg and psycopg-pool (spalab depends on both)") from None
        size = max_size or int(os.environ.get("SPALAB_DB_POOL", "8"))
        # A lock held by another transaction is waited for up to BUSY_TIMEOUT, as on SQLite, then the statement
        # fails (LockNotAvailable: `unavailable`, a 503) rather than hanging the request.
        self._pool = ConnectionPool(
            url,
            min_size=min(min_size, size),
            max_size=size,
            open=False,
            timeout=BUSY_TIMEOUT,
            name="spalab",
            configure=_patient,
        )
        try:
            self._pool.open(wait=True, timeout=BUSY_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - psycopg's PoolTimeout names no cause; add the URL
            self._pool.close()
            raise DatabaseError(f"cannot connect to PostgreSQL at {_redact(url)}: {type(exc).__name__}") from None
        self._local = threading.local()

    # A unit (`call`) runs on one pooled connection, in one transaction: its reads and writes are
    # statements on that connection, each write in a savepoint of its own (atomic alone, undone alone, as on
    # SQLite), committed together when the unit ends, even if it then raises. Outside a unit, each call
    # takes a connection and is a transaction of its own.

    def _unit_connection(self) -> Any:
        return getattr(self._local, "conn", None)

    def read(self, fn: Callable[[Connection], T]) -> T:
        conn = self._unit_connection()
        if conn is not None:
            return fn(_PostgresConnection(conn))
        with self._pool.connection() as conn:
            return fn(_PostgresConnection(conn))

    def write(self, fn: Callable[[Connection], T], durable: bool = True) -> T:
        conn = self._unit_connection()
        if conn is not None:
            return self._savepoint(conn, fn, durable)
        # The pool's context commits on a normal exit and rolls back on an exception.
        with self._pool.connection() as conn:
            if not durable:
                conn.execute("SET LOCAL synchronous_commit = off")
            return fn(_PostgresConnection(conn))

    def exclusive(self, fn: Callable[[Connection], T], durable: bool = True, keys: tuple[str, ...] = ()) -> T:
        locks = sorted({_lock_of(key) for key in keys}) if keys else [EXCLUSIVE_LOCK]

        def locked(db: Connection) -> T:
            for lock in locks:  # held until the commit; always in ascending order, so never a deadlock
                db.execute("SELECT pg_advisory_xact_lock(?)", (lock,))
            return fn(db)

        return self.write(locked, durable)

    def _savepoint(self, conn: Any, fn: Callable[[Connection], T], durable: bool) -> T:
        self._local.wrote = True
        self._local.durable |= durable
        conn.execute("SAVEPOINT job")
        try:
            result = fn(_PostgresConnection(conn))
        except BaseException:
            conn.execute("ROLLBACK TO SAVEPOINT job")
            conn.execute("RELEASE SAVEPOINT job")
            raise
        conn.execute("RELEASE SAVEPOINT job")
        return result

    def _unit(self, fn: Callable[[], Any]) -> Any:
        import psycopg
        from psycopg.pq import TransactionStatus

        failure: BaseException | None = None
        with self._pool.connection() as conn:
            self._local.conn, self._local.wrote, self._local.durable = conn, False, False
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - its writes are kept; it is raised once they commit
                failure = exc
            finally:
                self._local.conn = None
            if failure is not None and conn.info.transaction_status == TransactionStatus.INERROR:
                raise failure  # a statement outside any savepoint failed: nothing can commit (rolled back)
            wrote = self._local.wrote
            if wrote and not self._local.durable:
                conn.execute("SET LOCAL synchronous_commit = off")
            try:
                conn.commit()
            except psycopg.OperationalError as exc:
                if not wrote:
                    raise
                # The COMMIT was sent, or was about to be, and no answer came: whether the unit's writes (a
                # code spent, a refresh token rotated) landed is unknown, so this is not `unavailable` ("nothing
                # was done, try again", which could turn the retry into a replay): a 500 (docs/SECURITY.md P22).
                raise CommitUnknown(f"no answer to the commit ({type(exc).__name__})") from None
        if failure is not None:
            raise failure
        return result

    async def call(self, fn: Callable[[], Any], after: Callable[[Any], T] | None = None) -> T:
        if after is None:
            return cast(T, await anyio.to_thread.run_sync(self._unit, fn))
        return await anyio.to_thread.run_sync(lambda: after(self._unit(fn)))

    async def call_read(self, fn: Callable[[], T]) -> T:
        return cast(T, await anyio.to_thread.run_sync(self._unit, fn))

    def close(self) -> None:
        self._pool.close()
