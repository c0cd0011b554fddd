"""docs/SECURITY.md P28: storage is bounded. Expired codes, sessions, pending requests, token
records, finished grants and old login failures are purged, while what replay detection
needs stays until it can no longer matter."""

import asyncio
import math
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from dpop_support import TOKEN_URL, Holder
from provider_support import (
    ISSUER,
    REDIRECT,
    Clock,
    Flow,
    api,
    challenge_of,
    hidden,
    new_verifier,
    response_params,
    table_rows,
)
from starlette.applications import Starlette
from starlette.testclient import TestClient

from spalab.provider import store
from spalab.provider.app import create_provider_app
from spalab.provider.config import parse_config
from spalab.provider.core import dpop, throttle
from spalab.provider.frontchannel import PENDING_LIFETIME
from spalab.provider.keys import SIGNING_ALGS
from spalab.provider.purge import INTERVAL

DB = "spalab.sqlite3"
SHM = Path("/dev/shm")


class RowCounter:
    """Rows per table of the provider's database, read through a connection of our own."""

    def __init__(self, data_dir: Path) -> None:
        self.db = sqlite3.connect(f"file:{data_dir / DB}?mode=ro", uri=True)
        self.tables = [row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        self.sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in self.tables)

    def __call__(self) -> dict[str, int]:
        return dict(zip(self.tables, self.db.execute(self.sql).fetchone(), strict=True))

    def pages(self) -> int:
        """The database file's size in pages (freed pages are reused, not returned)."""
        return int(self.db.execute("PRAGMA page_count").fetchone()[0])


def refresh(client: TestClient, token: str) -> httpx.Response:
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "spa"})


def run_due_purge(client: TestClient) -> None:
    """Any request runs a due purge, after its response (purge.py)."""
    assert client.get("/jwks").status_code == 200


# --- what a purge must keep ------------------------------------------------------------


def test_replayed_refresh_token_still_revokes_its_family_after_a_purge(
    client: TestClient, flow: Flow, clock: Clock, data_dir: Path
) -> None:
    """RFC 9700 §4.14.2: a used refresh token stays known until the family's absolute expiry,
    so a replay after a purge still revokes the family instead of meeting "unknown token"."""
    first = flow.tokens()
    rotated = refresh(client, first["refresh_token"]).json()
    clock.advance(3600)  # the family's code and access tokens are long expired
    run_due_purge(client)
    assert table_rows(client.app)["access_tokens"] == 0  # the purge ran
    replay = refresh(client, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The family is revoked: the token rotated in good faith no longer works either.
    assert refresh(client, rotated["refresh_token"]).json()["error"] == "invalid_grant"


def test_replayed_code_still_revokes_until_it_expires(client: TestClient, flow: Flow, clock: Clock) -> None:
    """RFC 6749 §4.1.2: a consumed code stays known until it expires, so a replay after a
    purge still revokes what the code issued."""
    flow.sign_in()  # this first request runs a purge; the next falls due INTERVAL later
    clock.advance(INTERVAL // 2)
    code = flow.code()
    tokens = flow.exchange(code).json()
    clock.advance(INTERVAL // 2)  # a purge is due, the code (60 s) is not yet expired
    run_due_purge(client)
    replay = flow.exchange(code)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert api(client, tokens["access_token"]).status_code == 401


def test_access_token_outliving_its_grant_works_until_it_expires(
    client: TestClient, flow: Flow, clock: Clock, data_dir: Path
) -> None:
    """RFC 9068 §4: a refresh just before the family's absolute expiry yields an access token
    that outlives the grant; the grant is purged only once nothing refers to it."""
    tokens = flow.tokens()
    clock.advance(8 * 3600 - 10)  # the test config's refresh_token_lifetime is 8 hours
    late = refresh(client, tokens["refresh_token"]).json()
    clock.advance(INTERVAL)  # a purge is due; the grant has expired, the new access token not
    run_due_purge(client)
    assert table_rows(client.app)["refresh_tokens"] == 0  # the purge ran
    assert api(client, late["access_token"]).status_code == 200
    clock.advance(300)
    run_due_purge(client)
    assert table_rows(client.app)["grants"] == 0


# --- what a purge must remove ---------------------------------------------------------------


def _exchange(flow: Flow) -> dict[str, str]:
    code = flow.code()
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "spa",
        "code_verifier": flow.verifier,
    }


def test_everything_expired_is_purged(
    client: TestClient, flow: Flow, clock: Clock, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/SECURITY.md P28, P31: once every lifetime has passed, only keys, the provider's own secrets and
    consents remain, however many batches that takes."""
    monkeypatch.setattr(store, "PURGE_BATCH", 2)
    for _ in range(3):  # a session, grants, codes, access and refresh tokens, a consent, DPoP proofs seen
        proof = Holder().proof("POST", TOKEN_URL, clock.now)
        assert flow.client.post("/token", data=_exchange(flow), headers={"DPoP": proof}).status_code == 200
    assert flow.authorize(flow.code_params(prompt="consent")).status_code == 200  # left pending
    assert flow.sign_in(password="wrong").status_code == 400  # two login failures
    assert all(table_rows(client.app).values())
    clock.advance(8 * 3600 + 1)  # the longest lifetime in the test config
    run_due_purge(client)
    kept = {table for table, rows in table_rows(client.app).items() if rows}
    assert kept == {"signing_keys", "provider_secrets", "consents", "schema_version"}


@pytest.mark.sqlite_only
def test_every_purge_statement_reads_through_an_index(app: object, data_dir: Path) -> None:
    """docs/SECURITY.md P28: a purge never scans a whole table, however large it has grown."""
    with sqlite3.connect(data_dir / DB) as db:
        for rule in (*store.EXPIRED, store.LOGIN_FAILURES_EXPIRED):
            plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + store.purge_sql(*rule), (0, 1))]
            assert not [step for step in plan if step.startswith("SCAN")], rule[0]


@pytest.mark.sqlite_only
def test_a_token_response_is_on_disk_before_it_is_answered(app: Starlette, flow: Flow) -> None:
    """docs/SECURITY.md P28: the write-ahead log (WAL mode) is synced by the writer itself before it answers
    a durable write, such as a code's redemption; SQLite's own setting is NORMAL, so the session and the
    code written on the way there did not wait for a sync of their own (test_database_units.py pins which
    writes are which)."""
    db = app.state.provider.store._db
    connection = db._writer_db  # the connection that commits: the settings are per connection
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1
    code = flow.code()  # a sign-in, a session, a consent, a code: light writes
    immediate = db.syncs - db.delayed_syncs
    assert flow.exchange(code).status_code == 200
    assert db.syncs - db.delayed_syncs == immediate + 1


# --- steady use ---------------------------------------------------------------------------

FLOWS = 10_000
STEP = 5  # seconds on the test clock between flows
SIDE_EVERY = 500  # flows between an abandoned consent page and a failed sign-in
LIFETIMES = {
    "access_token_lifetime": 300,
    "refresh_token_lifetime": 1800,
    "code_lifetime": 60,
    "session_lifetime": 3600,
}
STEADY_CONFIG = f"""
issuer = "{ISSUER}"
{chr(10).join(f"{key} = {value}" for key, value in LIFETIMES.items())}

[[clients]]
client_id = "spa"
redirect_uris = ["{REDIRECT}"]

[[users]]
username = "alice"
password = "wonderland"
"""
# Per table: rows one flow adds, and how long a row is kept at most (its lifetime plus
# one purge interval). None: a fixed number of rows, whatever the traffic.
ROWS_KEPT = {
    "grants": (1, LIFETIMES["refresh_token_lifetime"] + INTERVAL),
    "codes": (1, LIFETIMES["code_lifetime"] + INTERVAL),
    "access_tokens": (2, LIFETIMES["access_token_lifetime"] + INTERVAL),
    "refresh_tokens": (2, LIFETIMES["refresh_token_lifetime"] + INTERVAL),
    "sessions": (STEP / LIFETIMES["session_lifetime"], LIFETIMES["session_lifetime"] + INTERVAL),
    "pending_authorizations": (1 / SIDE_EVERY, PENDING_LIFETIME + INTERVAL),
    "login_failures": (2 / SIDE_EVERY, throttle.WINDOW + INTERVAL),
    # Each flow sends two DPoP proofs; one is remembered until its iat leaves the window (docs/SECURITY.md P31).
    "dpop_proofs": (2, dpop.IAT_WINDOW + 1 + INTERVAL),
    "signing_keys": None,
    "provider_secrets": None,
    "consents": None,
    "schema_version": None,
}


def steady_limit(table: str) -> int:
    """Twice what the flows add while a row is kept: independent of how many flows run."""
    rate = ROWS_KEPT[table]
    if rate is None:
        # A fixed few: a signing key of each kind, one row per schema migration, one consent, the provider's
        # two secrets (CSRF, DPoP nonces).
        return {"signing_keys": len(SIGNING_ALGS), "schema_version": len(store.MIGRATIONS)}.get(table, 2)
    per_flow, seconds = rate
    return math.ceil(2 * per_flow * (seconds / STEP + 1))


class Browser:
    """One signed-in browser and its SPA, driving complete flows over in-process HTTP."""

    def __init__(self, http: httpx.AsyncClient, clock: Clock) -> None:
        self.http = http
        self.clock = clock
        self.dpop = Holder()  # the SPA's DPoP key: its token requests carry proofs (docs/SECURITY.md P31)
        self.verifier = new_verifier()
        # No openid: an id_token adds no row, and its RSA signature took a third of the run's time.
        self.params = {
            "client_id": "spa",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "profile",
            "state": "st",
            "code_challenge": challenge_of(self.verifier),
            "code_challenge_method": "S256",
        }

    async def sign_in(self, next_url: str, password: str = "wonderland") -> httpx.Response:
        page = await self.http.get("/login", params={"next": next_url})
        form = {
            "username": "alice",
            "password": password,
            "next": next_url,
            "csrf_token": hidden(page.text, "csrf_token"),
        }
        return await self.http.post("/login", data=form)

    async def authorize(self, **extra: str) -> httpx.Response:
        response = await self.http.get("/authorize", params={**self.params, **extra})
        if response.headers.get("location", "").startswith("/login"):  # the session expired
            signed_in = await self.sign_in("/authorize?" + urlencode(self.params))
            response = await self.http.get(signed_in.headers["location"])
        return response

    async def consent(self) -> None:
        page = await self.authorize()
        form = {
            "request_id": hidden(page.text, "request_id"),
            "csrf_token": hidden(page.text, "csrf_token"),
            "decision": "allow",
        }
        assert (await self.http.post("/consent", data=form)).status_code == 303

    async def complete_flow(self) -> None:
        """/authorize with a session and remembered consent → /token → refresh, each with a DPoP proof."""
        code = response_params((await self.authorize()).headers["location"])["code"]
        exchange = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "spa",
            "code_verifier": self.verifier,
        }
        tokens = (await self.http.post("/token", data=exchange, headers=self._proof())).json()
        renewal = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
        refreshed = await self.http.post("/token", data=renewal, headers=self._proof())
        assert refreshed.status_code == 200, refreshed.text

    def _proof(self) -> dict[str, str]:
        return {"DPoP": self.dpop.proof("POST", TOKEN_URL, self.clock())}

    async def side_events(self) -> None:
        """An abandoned consent page (a pending request) and a failed sign-in (two failures)."""
        assert (await self.authorize(prompt="consent")).status_code == 200
        assert (await self.sign_in("/", password="wrong")).status_code == 400


async def run_flows(app: object, clock: Clock, count_rows: RowCounter) -> tuple[dict[str, int], int]:
    """Runs FLOWS flows, STEP seconds apart, checking every table's rows after each one;
    returns the most rows each table held, and the file's pages after a fifth of the run."""
    most, early_pages = dict.fromkeys(count_rows.tables, 0), 0
    limits = {table: steady_limit(table) for table in count_rows.tables}
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        browser = Browser(http, clock)
        await browser.consent()
        for n in range(FLOWS):
            await browser.complete_flow()
            if n % SIDE_EVERY == SIDE_EVERY - 1:
                await browser.side_events()
            for table, rows in count_rows().items():
                assert rows <= limits[table], f"{table}: {rows} rows after {n + 1} flows"
                most[table] = max(most[table], rows)
            if n == FLOWS // 5:
                early_pages = count_rows.pages()
            clock.advance(STEP)
    return most, early_pages


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir in RAM (tmpfs) where there is one: the same SQLite file, but its fsync at
    every commit (synchronous=FULL) costs nothing there, while on this machine's disk it made
    the run more than twice as long. Row counts do not depend on the disk."""
    if not SHM.is_dir():
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=SHM, prefix="spalab-p28-") as path:
        yield Path(path)


def test_ten_thousand_flows_keep_every_table_bounded(fast_dir: Path) -> None:
    """docs/SECURITY.md P28: under steady use no table grows with the number of flows."""
    clock = Clock()
    app = create_provider_app(parse_config(STEADY_CONFIG, "steady config"), fast_dir, clock=clock)
    count_rows = RowCounter(fast_dir)
    assert set(count_rows.tables) == set(ROWS_KEPT)  # a new table needs a purge rule and a limit
    started = time.perf_counter()
    most, early_pages = asyncio.run(run_flows(app, clock, count_rows))
    print(
        f"{FLOWS} flows in {time.perf_counter() - started:.1f} s; most rows per table: {most};"
        f" pages after {FLOWS // 5} flows: {early_pages}, at the end: {count_rows.pages()}"
    )
    # The file stops growing too: the pages purged rows free are used again.
    assert count_rows.pages() <= 2 * early_pages
    # The limits do not depend on FLOWS and are far below what the run created (10,000 grants).
    assert FLOWS > 10 * steady_limit("grants")


def test_an_account_keeps_a_bounded_number_of_sessions(tmp_path: Path) -> None:
    """docs/SECURITY.md P28: signing in again and again adds no more than SESSIONS_PER_USER live sessions per
    account; the newest ones are kept (the browser that just signed in stays signed in)."""
    from spalab.provider.store import SESSIONS_PER_USER, Store

    store = Store(tmp_path / "sessions.sqlite3")
    try:
        now = 1_800_000_000
        for n in range(SESSIONS_PER_USER + 15):
            store.create_session(f"session-{n}", "alice", now, now + 3600)
        store.create_session("bob-1", "bob", now, now + 3600)
        live = [n for n in range(SESSIONS_PER_USER + 15) if store.get_session(f"session-{n}", now)]
        assert live == list(range(15, SESSIONS_PER_USER + 15))
        assert store.get_session("bob-1", now) == ("bob", now)
    finally:
        store.close()
