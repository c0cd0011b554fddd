"""docs/SECURITY.md P22: a database that does not answer in time (its write lock held by another process past
BUSY_TIMEOUT; on PostgreSQL a lock past lock_timeout, the pool exhausted, the server gone) gets a 503 with
Retry-After - `temporarily_unavailable` from the JSON endpoints (readable cross-origin, so the SPA can say so),
a page from the others - never a 500, and loses nothing: the same request succeeds once the database
answers. Real locks on real databases, taken by another connection, as a backup or a migration would."""

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
import pytest
from provider_support import ISSUER, SPA, Clock, Flow, api, hidden
from starlette.testclient import TestClient

from spalab.provider import database as database_module
from spalab.provider.app import create_provider_app
from spalab.provider.config import ProviderConfig
from spalab.provider.keys import KEY_RELOAD
from spalab.provider.store import SQLITE_FILE

# The provider's patience in these tests, and how long the other connection holds its lock at most: long
# enough that a provider that waited for the lock instead of giving up would answer 200 (and fail the test),
# not hang it.
PATIENCE = 0.5
HELD_AT_MOST = 6.0


@contextmanager
def everything_locked(location: Path | str, postgres_lock: str | None = None) -> Iterator[None]:
    """Every table locked against writes by a connection of our own (on PostgreSQL, `postgres_lock` instead
    when given), released when the block ends or after HELD_AT_MOST seconds, whichever comes first."""
    release = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        if isinstance(location, Path):
            holder = sqlite3.connect(location, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            holding.set()
            release.wait(HELD_AT_MOST)
            holder.execute("ROLLBACK")
            holder.close()
            return
        with psycopg.connect(location) as pg:
            lock = postgres_lock
            if lock is None:
                sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                tables = [row[0] for row in pg.execute(sql).fetchall()]
                lock = f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE"
            pg.execute(lock)
            holding.set()
            release.wait(HELD_AT_MOST)
            pg.rollback()

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join()


@pytest.fixture
def impatient_client(
    config: ProviderConfig, data_dir: Path, database: str | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT", PATIENCE)
    app = create_provider_app(config, data_dir, database=database)
    try:
        with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
            yield client
    finally:
        app.state.provider.store.close()


def test_a_token_request_the_database_cannot_answer_gets_503_and_loses_nothing(
    impatient_client: TestClient, data_dir: Path, database: str | None
) -> None:
    flow = Flow(impatient_client)
    code = flow.code()
    with everything_locked(database or data_dir / SQLITE_FILE):
        started = time.monotonic()
        busy = flow.exchange(code)
        waited = time.monotonic() - started
        cross_origin = impatient_client.post(
            "/token", data={"grant_type": "authorization_code", "client_id": "spa"}, headers={"Origin": SPA}
        )
    assert busy.status_code == 503, busy.text
    assert busy.json()["error"] == "temporarily_unavailable" and busy.headers["retry-after"] == "1"
    assert "Traceback" not in busy.text
    assert waited < HELD_AT_MOST - 1  # it gave up after its patience, not when the lock went
    # The SPA can read why (CORS headers on the 503), so it can tell the user, not a network error.
    assert cross_origin.headers.get("access-control-allow-origin") == SPA
    # Nothing was decided: the same code is still good, once.
    assert flow.exchange(code).status_code == 200
    assert flow.exchange(code).status_code == 400


def test_a_sign_in_the_database_cannot_answer_gets_a_503_page(
    impatient_client: TestClient, data_dir: Path, database: str | None
) -> None:
    """The sign-in form's POST writes (the throttle's counters, the session): the user gets a page saying to
    try again, and the same form then signs in."""
    flow = Flow(impatient_client)
    page = impatient_client.get("/login", params={"next": "/"})
    form = {"username": "alice", "password": "wonderland", "next": "/", "csrf_token": hidden(page.text, "csrf_token")}
    with everything_locked(database or data_dir / SQLITE_FILE):
        busy = impatient_client.post("/login", data=form)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.headers["content-type"].startswith("text/html") and "The provider is busy" in busy.text
    assert "Traceback" not in busy.text
    assert impatient_client.post("/login", data=form).status_code == 303
    assert flow.code()  # signed in: the flow goes through without the form


def test_sign_in_decisions_wait_only_for_the_same_subjects(
    config: ProviderConfig, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/SECURITY.md P23 on PostgreSQL: the throttle decides under a lock per subject (the account, the
    address, the pair), not one lock for every sign-in on the database. While another instance holds Alice's
    account, her sign-in waits (and, past the patience, is told to try again); Bob's goes ahead, and so does
    everyone's while the database-wide lock (a migration's) is held."""
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT", PATIENCE)
    app = create_provider_app(config, tmp_path, database=postgres_url)
    try:
        with TestClient(app, base_url=ISSUER, follow_redirects=False) as client, psycopg.connect(postgres_url) as other:
            other.execute("SELECT pg_advisory_xact_lock(%s)", (database_module._lock_of("user:alice"),))
            browser = Flow(client)
            assert browser.sign_in("alice", "wonderland").status_code == 503
            assert browser.sign_in("bob", "builder").status_code == 303
            other.rollback()
            other.execute("SELECT pg_advisory_xact_lock(%s)", (database_module.EXCLUSIVE_LOCK,))
            assert browser.sign_in("alice", "wonderland").status_code == 303
            other.rollback()
    finally:
        app.state.provider.store.close()


def keys_unreadable(postgres_url: str) -> AbstractContextManager[None]:
    """signing_keys locked against reads too (what ALTER TABLE or VACUUM FULL on it would hold)."""
    return everything_locked(postgres_url, "LOCK TABLE signing_keys IN ACCESS EXCLUSIVE MODE")


def test_a_spent_code_or_refresh_token_is_answered_even_if_the_keys_cannot_be_read_again(
    config: ProviderConfig, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JWTs of a token response are signed after its transaction committed, and signing first reads the
    keys again when a minute has passed. If that read fails, the loaded keys sign: a 503 then would tell the
    client to send again a code or refresh token that is already spent, and the retry would be a replay that
    revokes the grant (PostgreSQL, where a lock can block a read)."""
    monkeypatch.setattr(database_module, "BUSY_TIMEOUT", PATIENCE)
    clock = Clock()
    app = create_provider_app(config, tmp_path, clock=clock, database=postgres_url)
    try:
        with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
            flow = Flow(client)
            tokens = flow.tokens()
            clock.advance(KEY_RELOAD)  # the key ring's reload is due at the next signature
            code = flow.code()
            form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
            with keys_unreadable(postgres_url):
                exchanged = flow.exchange(code)
                refreshed = client.post("/token", data=form)
            assert exchanged.status_code == 200, exchanged.text
            assert refreshed.status_code == 200, refreshed.text
            assert api(client, exchanged.json()["access_token"]).status_code == 200
            assert api(client, refreshed.json()["access_token"]).status_code == 200
    finally:
        app.state.provider.store.close()
