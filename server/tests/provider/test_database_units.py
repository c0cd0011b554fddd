"""Units of work handed to the database (database.py `call`, `call_read`): what the provider's endpoints
rely on when they await them. On both databases unless the test says otherwise."""

import asyncio
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from spalab.provider import database
from spalab.provider.core.records import CodeRecord, Grant
from spalab.provider.database import Database, SQLiteDatabase, open_database
from spalab.provider.store import AccessRecord, IssuedTokens, RefreshRecord, Store


def opened(tmp_path: Path, database: str | None) -> Database:
    db = open_database(database or tmp_path / "units.sqlite3")
    db.write(lambda c: c.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)"))
    return db


def rows(db: Database) -> set[str]:
    return {row[0] for row in db.read(lambda c: c.execute("SELECT k FROM t").fetchall())}


def insert(db: Database, key: str) -> None:
    db.write(lambda c: c.execute("INSERT INTO t VALUES (?)", (key,)))


def test_a_unit_that_fails_after_writing_keeps_what_it_wrote(tmp_path: Path, database: str | None) -> None:
    """A replayed code or refresh token revokes the grant, then answers invalid_grant by raising: the
    revocation must land all the same (docs/SECURITY.md P9, P12)."""
    db = opened(tmp_path, database)
    try:

        def unit() -> None:
            insert(db, "revoked")
            raise ValueError("invalid_grant")

        with pytest.raises(ValueError, match="invalid_grant"):
            asyncio.run(db.call(unit))
        assert rows(db) == {"revoked"}
    finally:
        db.close()


def test_a_write_that_fails_in_a_unit_undoes_only_itself(tmp_path: Path, database: str | None) -> None:
    db = opened(tmp_path, database)
    try:

        def unit() -> str:
            insert(db, "first")
            with pytest.raises(ValueError):
                db.write(lambda c: (c.execute("INSERT INTO t VALUES ('undone')"), _fail()))
            insert(db, "second")
            return "done"

        assert asyncio.run(db.call(unit)) == "done"
        assert rows(db) == {"first", "second"}
    finally:
        db.close()


def _fail() -> None:
    raise ValueError("this write fails")


def test_a_unit_reads_what_it_wrote(tmp_path: Path, database: str | None) -> None:
    db = opened(tmp_path, database)
    try:

        def unit() -> set[str]:
            insert(db, "mine")
            return rows(db)

        assert asyncio.run(db.call(unit)) == {"mine"}
    finally:
        db.close()


def test_a_unit_is_answered_only_once_its_writes_are_committed(tmp_path: Path, database: str | None) -> None:
    """The answer (a token response) must not leave before the commit: a unit whose commit fails gets
    the failure, not its result. A deferred foreign key fails at COMMIT, after the unit has returned."""
    db = open_database(database or tmp_path / "commit.sqlite3")
    try:
        db.write(lambda c: c.execute("CREATE TABLE parent (k TEXT PRIMARY KEY)"))
        db.write(lambda c: c.execute("CREATE TABLE child (k TEXT REFERENCES parent (k) DEFERRABLE INITIALLY DEFERRED)"))
        if isinstance(db, SQLiteDatabase):
            db._writer_db.execute("PRAGMA foreign_keys = ON")

        def unit() -> str:
            db.write(lambda c: c.execute("INSERT INTO child VALUES ('orphan')"))
            return "tokens"

        with pytest.raises(Exception, match="(?i)foreign key"):
            asyncio.run(db.call(unit))
        assert db.read(lambda c: c.execute("SELECT count(*) FROM child").fetchone())[0] == 0
    finally:
        db.close()


@pytest.mark.sqlite_only
def test_after_work_runs_off_the_writer_and_is_answered_only_once_committed(
    tmp_path: Path, database: str | None
) -> None:
    """A token response is signed on another thread while its group commits; the caller gets the signed
    response only when both are done, and the commit's failure instead if the commit fails."""
    db = SQLiteDatabase(tmp_path / "after.sqlite3")
    try:
        db.write(lambda c: c.execute("CREATE TABLE parent (k TEXT PRIMARY KEY)"))
        db.write(lambda c: c.execute("CREATE TABLE child (k TEXT REFERENCES parent (k) DEFERRABLE INITIALLY DEFERRED)"))
        db._writer_db.execute("PRAGMA foreign_keys = ON")
        threads: list[str] = []

        def sign(value: str) -> str:
            threads.append(threading.current_thread().name)
            return value.replace("un", "")

        def recorded() -> str:
            db.write(lambda c: c.execute("INSERT INTO parent VALUES ('recorded')"))
            return "unsigned"

        assert asyncio.run(db.call(recorded, sign)) == "signed"
        assert len(threads) == 1 and threads[0].startswith("spalab-sqlite-after-commit-")

        # One group: a unit whose write fails at COMMIT, and behind it one that holds the COMMIT back until
        # the first unit's response is signed. The signed response must not leave.
        queued, signed = threading.Event(), threading.Event()

        def sign_and_tell(value: str) -> str:
            result = sign(value)
            signed.set()
            return result

        def never_committed() -> str:
            db.write(lambda c: c.execute("INSERT INTO child VALUES ('orphan')"))  # fails at COMMIT
            return "unsigned"

        async def one_group() -> list[Any]:
            hold = asyncio.ensure_future(db.call(lambda: queued.wait(10)))  # the writer waits: both queue up
            await asyncio.sleep(0.05)
            doomed = asyncio.ensure_future(db.call(never_committed, sign_and_tell))
            later = asyncio.ensure_future(db.call(lambda: signed.wait(10)))
            await asyncio.sleep(0.05)
            queued.set()
            return await asyncio.gather(hold, doomed, later, return_exceptions=True)

        held, doomed, later = asyncio.run(one_group())
        assert held is True and signed.is_set() and len(threads) == 2
        assert isinstance(doomed, Exception) and "foreign key" in str(doomed).lower(), doomed
        assert isinstance(later, Exception)  # the whole group failed

        def failing_sign(value: str) -> str:
            raise RuntimeError("no signing key")

        with pytest.raises(RuntimeError, match="no signing key"):
            asyncio.run(db.call(lambda: "unsigned", failing_sign))
    finally:
        db.close()


def test_two_token_responses_are_signed_at_the_same_time(tmp_path: Path, database: str | None) -> None:
    """An id_token's RSA signature releases the GIL, so two responses signed on two threads take about the
    time of one on two cores: one thread signing every response was the provider's bottleneck under load
    (README, "Speed"). Each after-work here waits until the other has started: signed one
    after the other, the first would time out."""
    db = opened(tmp_path, database)
    both_signing = threading.Barrier(2, timeout=5)

    def sign(value: str) -> str:
        both_signing.wait()
        return value + " signed"

    async def two() -> list[str]:
        return await asyncio.gather(*(db.call(lambda n=n: f"response {n}", sign) for n in (1, 2)))

    try:
        assert asyncio.run(two()) == ["response 1 signed", "response 2 signed"]
    finally:
        db.close()


def test_many_units_at_once_are_each_answered(tmp_path: Path, database: str | None) -> None:
    db = opened(tmp_path, database)

    async def load() -> tuple[list[str], list[set[str]]]:
        writes = [db.call(lambda n=n: insert(db, f"row-{n}") or f"row-{n}") for n in range(200)]
        reads = [db.call_read(lambda: rows(db)) for _ in range(200)]
        written = await asyncio.gather(*writes)
        return written, await asyncio.gather(*reads)

    try:
        written, read = asyncio.run(load())
        assert written == [f"row-{n}" for n in range(200)]
        assert len(read) == 200 and rows(db) == set(written)
    finally:
        db.close()


def test_a_caller_that_gave_up_does_not_stop_the_database(tmp_path: Path, database: str | None) -> None:
    """A client that disconnects cancels its request: the unit still runs (and commits), later ones too."""
    db = opened(tmp_path, database)
    started = threading.Event()
    release = threading.Event()

    def slow() -> str:
        started.set()
        release.wait(10)
        insert(db, "slow")
        return "slow"

    async def scenario() -> str:
        task = asyncio.ensure_future(db.call(slow))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await db.call(lambda: insert(db, "next") or "next")

    try:
        assert asyncio.run(scenario()) == "next"
        assert rows(db) == {"slow", "next"}
    finally:
        db.close()


def test_units_queued_before_close_are_finished(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "close.sqlite3")
    db.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))

    async def scenario() -> list[str]:
        pending = [asyncio.ensure_future(db.call(lambda n=n: insert(db, f"k{n}") or f"k{n}")) for n in range(20)]
        await asyncio.sleep(0)
        await asyncio.get_running_loop().run_in_executor(None, db.close)
        return await asyncio.gather(*pending)

    assert asyncio.run(scenario()) == [f"k{n}" for n in range(20)]
    reopened = SQLiteDatabase(tmp_path / "close.sqlite3")
    try:
        assert rows(reopened) == {f"k{n}" for n in range(20)}
    finally:
        reopened.close()


# --- what reaches the disk before the answer (docs/SECURITY.md P28) ---------------------------------


def test_a_durable_write_is_synced_before_it_returns_and_a_light_one_within_the_delay(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "sync.sqlite3")
    try:
        db.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        synced = db.syncs
        insert(db, "durable")
        assert db.syncs == synced + 1  # counted before write() returned: the answer waited for it
        db.write(lambda c: c.execute("INSERT INTO t VALUES ('light')"), durable=False)
        assert db.syncs == synced + 1  # committed, not yet synced
        assert rows(db) == {"durable", "light"}  # ...but already seen by every reader
        deadline = time.monotonic() + database.SYNC_DELAY + 2
        while db.syncs == synced + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert db.syncs == synced + 2 and db.delayed_syncs == 1
    finally:
        db.close()


def test_light_writes_under_steady_load_are_still_synced_within_the_delay(tmp_path: Path) -> None:
    """A stream of light writes keeps the writer busy: the delayed sync must not wait for a quiet moment."""
    db = SQLiteDatabase(tmp_path / "stream.sqlite3")
    try:
        db.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        synced = db.syncs
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < database.SYNC_DELAY * 2.5:
            db.write(lambda c, n=n: c.execute("INSERT INTO t VALUES (?)", (f"k{n}",)), durable=False)
            n += 1
        assert db.syncs - synced >= 2, (db.syncs - synced, n)
    finally:
        db.close()


def test_one_durable_write_in_a_unit_makes_its_group_durable(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "unit.sqlite3")
    try:
        db.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))
        synced = db.syncs

        def unit() -> None:
            db.write(lambda c: c.execute("INSERT INTO t VALUES ('light')"), durable=False)
            insert(db, "durable")

        asyncio.run(db.call(unit))
        assert db.syncs == synced + 1
        asyncio.run(db.call(lambda: db.write(lambda c: c.execute("INSERT INTO t VALUES ('l2')"), durable=False)))
        assert db.syncs == synced + 1
    finally:
        db.close()


def test_a_light_write_on_postgresql_commits_without_waiting_for_its_flush(postgres_url: str) -> None:
    database = postgres_url
    # The test server runs with synchronous_commit off (pg_support.py); this session turns it on, as a
    # production server has it, so that the light write's own setting shows.
    assert "?options=" in database
    db = open_database(database + quote(" -c synchronous_commit=on", safe=""))
    try:
        show = "SHOW synchronous_commit"
        assert db.write(lambda c: c.execute(show).fetchone()[0]) == "on"
        assert db.write(lambda c: c.execute(show).fetchone()[0], durable=False) == "off"
        assert db.write(lambda c: c.execute(show).fetchone()[0]) == "on"  # SET LOCAL: that transaction only
    finally:
        db.close()


def test_the_store_syncs_every_security_decision_before_answering(tmp_path: Path) -> None:
    """Which store writes may wait for their sync (a power cut only repeats a user's step) and which may
    not (store.Store's docstring, docs/SECURITY.md P28)."""
    store = Store(tmp_path / "store.sqlite3")
    db = store._db
    assert isinstance(db, SQLiteDatabase)
    now = 1_800_000_000
    grant = Grant("g1", "spa", "alice", "openid", now, now, now + 3600, None)
    code = CodeRecord("g1", "spa", "http://localhost/", None, "x" * 43, "S256", now + 60)
    tokens = IssuedTokens(AccessRecord("jti-1", "g1", now + 300), RefreshRecord("rt-1", "g1", now + 3600, None))
    tokens2 = IssuedTokens(AccessRecord("jti-2", "g1", now + 300), RefreshRecord("rt-2", "g1", now + 3600, None))
    light = {
        "create_session": lambda: store.create_session("s1", "alice", now, now + 3600),
        "issue_code": lambda: store.issue_code(grant, "code-1", code),
        "save_pending": lambda: store.save_pending("r1", "s1", {"a": "b"}, now + 60),
        "save_consent": lambda: store.save_consent("alice", "spa", {"openid"}, False, now),
        "reserve_login_attempt": lambda: store.reserve_login_attempt({"user:alice": 10}, now, now - 60, lambda h: None),
        "purge": lambda: store.purge(now, now - 60),
    }
    durable = {
        "redeem_code": lambda: store.redeem_code("code-1", "g1", now, tokens),
        "rotate_refresh_token": lambda: store.rotate_refresh_token("rt-1", "g1", now, tokens2),
        "take_pending": lambda: store.take_pending("r1", "s1", now),
        "use_dpop_proof": lambda: store.use_dpop_proof("proof-1", now + 60, now),
        "revoke_access_token": lambda: store.revoke_access_token("jti-2", now),
        "revoke_grant": lambda: store.revoke_grant("g1", now),
        "delete_session": lambda: store.delete_session("s1"),
    }
    try:
        for name, operation in {**light, **durable}.items():
            before = db.syncs - db.delayed_syncs
            operation()
            synced = db.syncs - db.delayed_syncs - before
            assert synced == (1 if name in durable else 0), name
    finally:
        store.close()


def test_a_commit_without_an_answer_is_not_called_unavailable(postgres_url: str) -> None:
    """docs/SECURITY.md P22: a unit whose COMMIT gets no answer (here its server process is terminated before
    the commit) may or may not have landed. It must not be answered like a database that was merely busy
    (503, "nothing was done, try again": the retry of a spent code would be a replay), but as an error."""
    import psycopg

    db = opened(Path("unused"), postgres_url)
    try:

        def unit() -> None:
            insert(db, "maybe")
            pid = db.read(lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0])
            with psycopg.connect(postgres_url, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (pid,))

        with pytest.raises(database.CommitUnknown) as raised:
            asyncio.run(db.call(unit))
        assert not database.unavailable(raised.value)
        # A unit that only read has nothing to be unsure about: a lost connection is merely unavailable.
        with pytest.raises(Exception) as lost:
            asyncio.run(db.call(lambda: _read_then_lose(db, postgres_url)))
        assert database.unavailable(lost.value)
    finally:
        db.close()


def _read_then_lose(db: Database, url: str) -> None:
    import psycopg

    pid = db.read(lambda c: c.execute("SELECT pg_backend_pid()").fetchone()[0])
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.parametrize(
    ("sqlstate", "transient"),
    [(None, True), ("08006", True), ("40P01", True), ("55P03", True), ("57P01", True), ("54000", False)],
)
def test_only_errors_that_pass_with_time_are_unavailable(sqlstate: str | None, transient: bool) -> None:
    """A value too large for an index (54000) is not cured by retrying: it stays a 500, not a 503 "busy"."""
    import psycopg

    error = psycopg.errors.lookup(sqlstate)("x") if sqlstate else psycopg.OperationalError("connection lost")
    assert database.unavailable(error) is transient
