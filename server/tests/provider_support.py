"""Fixtures and helpers for the provider's HTTP-level tests (re-exported by conftest.py).

A module with a name of its own, because `from conftest import ...` would name
whichever conftest loaded first when server/, web/ and e2e tests run together.

The app runs for real (SQLite file in a temporary data dir, real RSA keys, real
Argon2id); the test client speaks HTTP to it in-process. The clock is the only
thing under the test's control, so lifetimes can be tested without sleeping.

Two costs are paid once per session, not per test: one RSA signing key, put into
each test's data dir through the store (`seeded`), and the test users' password
hashes, made with cheap Argon2id parameters that the hashes themselves carry
(`password_hash` in TEST_CONFIG). The product's own parameters are unchanged; the
tests about Argon2 and throttling use REAL_ARGON2_CONFIG, hashed by the product.
"""

import base64
import functools
import hashlib
import re
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import psycopg
import pytest
import uvicorn
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from spalab.provider.app import create_provider_app
from spalab.provider.config import ProviderConfig, parse_config
from spalab.provider.keys import SIGNING_ALGS, new_signing_key
from spalab.provider.store import Store

ISSUER = "http://127.0.0.1:9000"
SPA = "http://localhost:8000"
REDIRECT = SPA + "/"
CONFIDENTIAL_REDIRECT = SPA + "/confidential/callback"
POST_LOGOUT = SPA + "/signed-out"
SECRET = "s3cret-for-tests"

_CLIENTS_CONFIG = f"""
issuer = "{ISSUER}"
request_log = true

[[clients]]
client_id = "spa"
name = "Test SPA"
redirect_uris = ["{REDIRECT}", "{SPA}/cb?a=1"]
post_logout_redirect_uris = ["{POST_LOGOUT}", "{SPA}/bye?from=spa"]
allow_implicit = true

[[clients]]
client_id = "code-only"
redirect_uris = ["{REDIRECT}"]

[[clients]]
client_id = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{CONFIDENTIAL_REDIRECT}"]

[[clients]]
client_id = "other-spa"
redirect_uris = ["{SPA}/other"]
post_logout_redirect_uris = ["{SPA}/other-bye"]
allow_implicit = true
scopes = ["openid", "profile"]

"""

_USERS = {"alice": ("wonderland", '{ name = "Alice Liddell", email = "alice@example.test" }'), "bob": ("builder", None)}


def _users(password_line) -> str:  # type: ignore[no-untyped-def]
    return "".join(
        f'\n[[users]]\nusername = "{name}"\n{password_line(password)}\n' + (f"claims = {claims}\n" if claims else "")
        for name, (password, claims) in _USERS.items()
    )


# Tests only: Argon2id at its cheapest (argon2 verifies with the parameters a hash names).
_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
TEST_CONFIG = _CLIENTS_CONFIG + _users(lambda password: f'password_hash = "{_FAST_HASHER.hash(password)}"')
# The same users hashed by the product as the config loads (real cost): for the Argon2 and throttling tests.
REAL_ARGON2_CONFIG = _CLIENTS_CONFIG + _users(lambda password: f'password = "{password}"')


@functools.cache
def _session_keys() -> list[tuple[str, str]]:
    """One signing key of each kind per test session (generating an RSA key takes a noticeable fraction of a
    second)."""
    return [new_signing_key(alg) for alg in SIGNING_ALGS]


def seeded(data_dir: Path, database: str | None = None) -> Path:
    """`data_dir` (or the PostgreSQL `database`) with this session's signing key in its store, put there
    through the store's own API."""
    store = Store(database or data_dir / "spalab.sqlite3")
    try:
        if not store.signing_keys():
            for kid, private_jwk in _session_keys():
                store.add_signing_key(kid, private_jwk, 0)
    finally:
        store.close()
    return data_dir


def table_rows(app: object) -> dict[str, int]:
    """Rows per table of the app's database (either kind), read through the store's own connections."""
    store: Store = app.state.provider.store  # type: ignore[attr-defined]

    def count(db: Any) -> dict[str, int]:
        if db.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        tables = [row[0] for row in db.execute(sql).fetchall()]
        return {table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) for table in tables}

    return store._db.read(count)


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the provider app runs on both databases, except those marked
    `sqlite_only` (they read the SQLite file itself)."""
    if "database" in metafunc.fixturenames:
        backends = ("sqlite",) if metafunc.definition.get_closest_marker("sqlite_only") else BACKENDS
        metafunc.parametrize("database", backends, indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str | None:
    """The store's database: None for the SQLite file in the data dir, else a PostgreSQL URL (a schema
    of its own on the session's server, pg_support.py)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return None


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: int = 1_800_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def config() -> ProviderConfig:
    return parse_config(TEST_CONFIG, "test config")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def data_dir(tmp_path: Path, database: str | None) -> Path:
    return seeded(tmp_path, database)


@pytest.fixture
def app(config: ProviderConfig, data_dir: Path, clock: Clock, database: str | None):  # type: ignore[no-untyped-def]
    app = create_provider_app(config, data_dir, clock=clock, database=database)
    yield app
    app.state.provider.store.close()


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=ISSUER, follow_redirects=False, raise_server_exceptions=False) as c:
        yield c


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden field {name} in page"
    return match.group(1)


def response_params(location: str, component: str | None = None) -> dict[str, str]:
    """The parameters of a redirect back to the client, from query or fragment."""
    parts = urlsplit(location)
    raw = parts.fragment if component == "fragment" else parts.query
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


class Flow:
    """Drives the browser side of /authorize: sign-in and consent, like a user."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.verifier = new_verifier()

    def code_params(self, **overrides: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "client_id": "spa",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid profile email contacts.read",
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge_of(self.verifier),
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, params: dict[str, str]):  # type: ignore[no-untyped-def]
        return self.client.get("/authorize?" + urlencode(params))

    def sign_in(self, username: str = "alice", password: str = "wonderland", next_url: str = "/"):  # type: ignore[no-untyped-def]
        page = self.client.get("/login", params={"next": next_url})
        assert page.status_code == 200
        form = {
            "username": username,
            "password": password,
            "next": next_url,
            "csrf_token": hidden(page.text, "csrf_token"),
        }
        return self.client.post("/login", data=form)

    def run(self, params: dict[str, str], decision: str = "allow", username: str = "alice"):  # type: ignore[no-untyped-def]
        """From /authorize to the redirect back to the client; returns that response."""
        response = self.authorize(params)
        if response.status_code == 302 and response.headers["location"].startswith("/login"):
            next_url = parse_qs(urlsplit(response.headers["location"]).query)["next"][0]
            signed_in = self.sign_in(username, next_url=next_url)
            assert signed_in.status_code == 303, signed_in.text
            response = self.client.get(signed_in.headers["location"])
        if response.status_code == 200 and "Allow access?" in response.text:
            response = self.client.post(
                "/consent",
                data={
                    "request_id": hidden(response.text, "request_id"),
                    "csrf_token": hidden(response.text, "csrf_token"),
                    "decision": decision,
                },
            )
        return response

    def code(self, **overrides: str | None) -> str:
        response = self.run(self.code_params(**overrides))
        assert response.status_code in (302, 303), response.text
        return response_params(response.headers["location"])["code"]

    def exchange(self, code: str, **overrides: str | None):  # type: ignore[no-untyped-def]
        form: dict[str, str | None] = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "spa",
            "code_verifier": self.verifier,
        }
        form.update(overrides)
        return self.client.post("/token", data={k: v for k, v in form.items() if v is not None})

    def tokens(self) -> dict[str, str]:
        response = self.exchange(self.code())
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def confidential_tokens(flow: Flow) -> dict[str, str]:
    """Signs in and exchanges a code as the confidential client (PKCE and its secret)."""
    response = flow.run(
        flow.code_params(client_id="confidential", redirect_uri=CONFIDENTIAL_REDIRECT, scope="openid offline_access")
    )
    code = response_params(response.headers["location"])["code"]
    answer = flow.exchange(code, client_id="confidential", redirect_uri=CONFIDENTIAL_REDIRECT, client_secret=SECRET)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


@pytest.fixture
def flow(client: TestClient) -> Flow:
    return Flow(client)


def api(client: TestClient, token: str, path: str = "/api/me"):  # type: ignore[no-untyped-def]
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


# --- real servers, for what only real concurrency shows ---------------------------------------


@contextmanager
def serving(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serves an app with uvicorn on a free 127.0.0.1 port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", access_log=False, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def live_providers(config: ProviderConfig, tmp_path: Path, database: str | None) -> Iterator[list[str]]:
    """Two provider instances on one database (the data dir's SQLite file, or PostgreSQL), as in a
    multi-instance deployment."""
    data_dir = seeded(tmp_path, database)
    apps = [create_provider_app(config, data_dir, database=database) for _ in range(2)]
    try:
        with serving(apps[0]) as first, serving(apps[1]) as second:
            yield [first, second]
    finally:
        for app in apps:
            app.state.provider.store.close()


def race(
    base_urls: list[str], path: str, form: dict[str, str], racers: int, headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    """`racers` POSTs released together by a barrier, spread over the instances."""
    start = threading.Barrier(racers)
    answers: list[httpx.Response] = []

    def send(base_url: str) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as racer:
            start.wait()
            answers.append(racer.post(path, data=form, headers=headers))

    threads = [threading.Thread(target=send, args=(base_urls[i % len(base_urls)],)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


@contextmanager
def writes_held(database: Path | str) -> Iterator[None]:
    """While open, nothing can write codes or refresh tokens, but everything can read: SQLite's write
    lock held by a connection of our own, or on PostgreSQL an EXCLUSIVE lock on those tables (which
    SELECTs pass)."""
    if isinstance(database, Path):
        holder = sqlite3.connect(database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    with psycopg.connect(database) as pg:
        pg.execute("LOCK TABLE codes, refresh_tokens IN EXCLUSIVE MODE")
        yield
        pg.rollback()


def race_past_the_check(
    base_urls: list[str], path: str, form: dict[str, str], database: Path | str
) -> list[httpx.Response]:
    """One request per instance, each made to pass its "already used?" look-up before any of them
    can write: a third connection holds the write lock until all are waiting to consume. So every
    loser loses at the atomic consume itself (the race), never at the earlier look-up."""
    answers: list[httpx.Response] = []
    threads = [
        threading.Thread(target=lambda url=url: answers.append(httpx.post(url + path, data=form, timeout=60)))
        for url in base_urls
    ]
    with writes_held(database):
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # every request reads, validates, and blocks on the write lock (busy timeout 10 s)
    for thread in threads:
        thread.join(timeout=60)
    return answers
