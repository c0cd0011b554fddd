"""docs/SECURITY.md P23: sign-in throttling holds under real concurrency, concurrent password checks
are bounded, and no forwarding header is trusted by default.

A real uvicorn server on 127.0.0.1 (a free port), configured by the CLI's own
`server_config`, in a thread of this process so the tests can read the password
gate's peaks; the clock is the test's, so no decision depends on timing."""

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from provider_support import REAL_ARGON2_CONFIG, Clock, hidden

from spalab.cli import server_config
from spalab.provider import passwords
from spalab.provider.app import create_provider_app
from spalab.provider.config import ProviderConfig, parse_config
from spalab.provider.core import throttle
from spalab.provider.store import Store

ATTEMPTS = 40


@pytest.fixture(scope="module")
def config() -> ProviderConfig:
    """The product's own Argon2 cost: these tests are about password checks and their throttling."""
    return parse_config(REAL_ARGON2_CONFIG, "test config, passwords hashed by the product")


class Server(NamedTuple):
    url: str
    store: Store


@pytest.fixture
def server(config: ProviderConfig, data_dir: Path, clock: Clock) -> Iterator[Server]:
    app = create_provider_app(config, data_dir, clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    running = uvicorn.Server(server_config(app))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not running.started:
        assert thread.is_alive(), "the server did not start"
        threading.Event().wait(0.02)
    yield Server(f"http://127.0.0.1:{sock.getsockname()[1]}", app.state.provider.store)
    running.should_exit = True
    thread.join(10)
    sock.close()
    app.state.provider.store.close()


async def _prepared_forms(
    base: str, usernames: list[str], passwords_: list[str], addresses: list[str]
) -> list[tuple[httpx.AsyncClient, dict[str, str]]]:
    """One browser per attempt, each with its own CSRF cookie and token, from its loopback address."""
    prepared = []
    for username, password, address in zip(usernames, passwords_, addresses, strict=True):
        transport = httpx.AsyncHTTPTransport(local_address=address)
        browser = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=60, transport=transport)
        page = await browser.get("/login", params={"next": "/"})
        assert page.status_code == 200
        form = {"username": username, "password": password, "next": "/", "csrf_token": hidden(page.text, "csrf_token")}
        prepared.append((browser, form))
    return prepared


async def _post_all_at_once(prepared: list[tuple[httpx.AsyncClient, dict[str, str]]]) -> list[httpx.Response]:
    try:
        return await asyncio.gather(*(browser.post("/login", data=form) for browser, form in prepared))
    finally:
        for browser, _ in prepared:
            await browser.aclose()


def _attempt_all(
    base: str, usernames: list[str], passwords_: list[str], addresses: list[str] | None = None
) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        froms = addresses or ["127.0.0.1"] * len(usernames)
        return await _post_all_at_once(await _prepared_forms(base, usernames, passwords_, froms))

    passwords.GATE.reset_peaks()
    return asyncio.run(run())


def test_concurrent_guesses_get_no_more_password_checks_than_the_limit(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/SECURITY.md P23: 40 simultaneous attempts on one account from one address get exactly the
    pair's 5 password checks; the others are 429 before any check, the right password included.
    (The gate's per-account share is opened wide here, so that only the throttle decides.)"""
    monkeypatch.setattr(passwords.GATE, "per_account", ATTEMPTS)
    guesses = ["wrong"] * ATTEMPTS
    guesses[ATTEMPTS // 2] = "wonderland"
    responses = _attempt_all(server.url, ["alice"] * ATTEMPTS, guesses)
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {303, 400, 429}, statuses
    assert statuses[400] + statuses[303] == throttle.PAIR.free, statuses
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 429)
    if statuses[303] == 0:
        # The right password was among the refused: it still cannot get in before the wait.
        again = _attempt_all(server.url, ["alice"], ["wonderland"])
        assert again[0].status_code == 429
    assert passwords.GATE.peak_active <= passwords.GATE.slots


def test_simultaneous_password_checks_are_bounded(server: Server) -> None:
    """docs/SECURITY.md P23: each Argon2 check takes 64 MiB, so at most one per core runs, a bounded
    number waits, and the rest get 503 with Retry-After at once (their attempt not counted).
    Ten more attempts than the gate holds, for distinct accounts from distinct loopback
    addresses (Linux routes all of 127/8 to lo), so no throttle rule refuses any of them."""
    gate = passwords.GATE
    count = gate.slots + gate.queue + 10
    addresses = [f"127.0.0.{2 + n // 10}" for n in range(count)]
    responses = _attempt_all(server.url, [f"user{n}" for n in range(count)], ["guess"] * count, addresses)
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {400, 503}, statuses
    assert 1 <= gate.peak_active <= gate.slots
    assert gate.peak_admitted <= gate.slots + gate.queue
    assert statuses[503] >= 1, statuses
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 503)
    # A 503 checked no password, so it is no failure: only the 400s left rows (3 subjects each).
    assert server.store.login_failure_rows() == 3 * statuses[400]


def test_forwarded_for_is_ignored_by_default(server: Server) -> None:
    """docs/SECURITY.md P23: X-Forwarded-For from a client cannot give each guess a fresh address."""
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=60) as browser:
        page = browser.get("/login", params={"next": "/"})
        form = {"username": "alice", "password": "wrong", "next": "/", "csrf_token": hidden(page.text, "csrf_token")}
        answers = [
            browser.post("/login", data=form, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(throttle.PAIR.free + 1)
        ]
    assert answers == [400] * throttle.PAIR.free + [429]


def test_one_account_cannot_fill_the_password_gate() -> None:
    """docs/SECURITY.md P23: however many browsers an account's owner signs in from, at once, it holds at
    most `per_account` places in the gate; another account still gets one."""
    gate = passwords.CheckGate(slots=1, queue=4, per_account=2)
    gate.admit("bob")
    gate.admit("bob")
    with pytest.raises(passwords.Busy):
        gate.admit("bob")
    gate.admit("alice")
    gate.leave("bob")
    gate.admit("bob")  # a place freed by bob is bob's again


def test_the_gate_bounds_memory_a_cheap_hash_takes_its_share_of_a_place() -> None:
    """docs/SECURITY.md P23: the bound is the checks' memory. A check of a hash configured cheaper than ours
    (8 KiB, a test user's) takes 8 KiB of a 64 MiB place; ours, the dummy's for an unknown account, or a
    costlier one's take a whole place each, as many as before."""
    gate = passwords.CheckGate(slots=1, queue=1, per_account=100)
    cheap = passwords.memory_of(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x"))
    assert cheap == 8 and passwords.memory_of(None) == passwords.CHECK_MEMORY_KIB
    for n in range(100):
        gate.admit(f"user{n}", cheap)
    gate.admit("alice")  # 100 cheap checks (800 KiB) and one of ours fit in two places
    with pytest.raises(passwords.Busy):
        gate.admit("bob")
    gate.leave("alice")
    gate.admit("bob", 4 * passwords.CHECK_MEMORY_KIB)  # costlier than ours: one place, never more
    with pytest.raises(passwords.Busy):
        gate.admit("carol", passwords.memory_of("$argon2id$not a hash"))
    for n in range(100):
        gate.leave(f"user{n}", cheap)
    gate.admit("carol")
    assert gate.memory_kib == 2 * passwords.CHECK_MEMORY_KIB and gate.admitted == 2


def test_a_finished_check_leaves_the_gate_at_once_and_once() -> None:
    """docs/SECURITY.md P23: the worker thread gives the place back when its check is done, so a busy event
    loop (late to resume the caller) does not turn other sign-ins away for checks no longer running; the
    caller's own give-back afterwards (for a check that never ran) then gives nothing back twice."""
    gate = passwords.GATE
    assert gate.admitted == 0 and gate.memory_kib == 0
    gate.admit("dave")
    admission = passwords._Admission("dave", passwords.CHECK_MEMORY_KIB)
    assert passwords._gated_verify(None, "guess", admission) is False  # what the worker thread runs
    assert gate.admitted == 0 and gate.memory_kib == 0
    admission.leave()
    assert gate.admitted == 0 and gate.memory_kib == 0


def test_sign_in_counts_against_the_accounts_share_of_the_gate(server: Server) -> None:
    """docs/SECURITY.md P23: concurrent correct sign-ins of one account beyond its share get 503 at once,
    so they never queue in front of other accounts' sign-ins."""
    count = passwords.GATE.per_account + 6
    addresses = [f"127.0.1.{n + 1}" for n in range(count)]
    responses = _attempt_all(server.url, ["alice"] * count, ["wonderland"] * count, addresses)
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {303, 503}, statuses
    assert 1 <= statuses[303] < count and statuses[503] >= 1, statuses
    assert passwords.GATE.peak_admitted <= passwords.GATE.per_account


def test_max_concurrency_answers_503_beyond_the_limit(config: ProviderConfig, data_dir: Path) -> None:
    """docs/SECURITY.md P22: idle connections cannot use up the server; beyond the limit uvicorn answers 503."""
    app = create_provider_app(config, data_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    running = uvicorn.Server(server_config(app, max_concurrency=5))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not running.started:
        threading.Event().wait(0.02)
    port = sock.getsockname()[1]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    try:
        for conn in idle:
            conn.sendall(b"GET /jwks HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        threading.Event().wait(0.3)
        answer = httpx.get(f"http://127.0.0.1:{port}/jwks", timeout=10)
        assert answer.status_code == 503
    finally:
        for conn in idle:
            conn.close()
        running.should_exit = True
        thread.join(10)
        sock.close()
        app.state.provider.store.close()
