"""SECURITY.md P8–P9: authorization codes are single use, short-lived, and bound to
the client and redirect URI they were issued for."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from provider_support import REDIRECT, SECRET, SPA, TEST_CONFIG, Flow, api
from spalab.config import ConfigError, ProviderConfig, parse_config
from spalab.provider_app import create_provider_app
from spalab.store import CodeRecord, Store

RACERS = 8
ROUNDS = 10


def refresh(client, refresh_token: str):  # type: ignore[no-untyped-def]
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "spa"})


# --- P8: single use; replay revokes what the code issued --------------------------------


def test_second_exchange_is_invalid_grant_and_revokes_the_first_tokens(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.1.2, §10.5: a replayed code is refused and the tokens it issued are revoked."""
    code = flow.code()
    first = flow.exchange(code)
    assert first.status_code == 200
    tokens = first.json()
    assert api(client, tokens["access_token"]).status_code == 200
    second = flow.exchange(code)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert "access_token" not in second.json()
    assert api(client, tokens["access_token"]).status_code == 401
    assert refresh(client, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_replay_also_revokes_tokens_from_later_refreshes(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.1.2: everything issued from the code's grant goes, rotated tokens included."""
    code = flow.code()
    first = flow.exchange(code).json()
    rotated = refresh(client, first["refresh_token"]).json()
    assert api(client, rotated["access_token"]).status_code == 200
    assert flow.exchange(code).json()["error"] == "invalid_grant"
    assert api(client, rotated["access_token"]).status_code == 401
    assert refresh(client, rotated["refresh_token"]).json()["error"] == "invalid_grant"


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
def live_providers(config: ProviderConfig, tmp_path: Path) -> Iterator[list[str]]:
    """Two provider instances on one data dir, as in a multi-instance deployment."""
    with serving(create_provider_app(config, tmp_path)) as first, serving(create_provider_app(config, tmp_path)) as second:
        yield [first, second]


def race_to_redeem(base_urls: list[str], form: dict[str, str]) -> list[httpx.Response]:
    """RACERS token requests released together, spread over the instances."""
    start = threading.Barrier(RACERS)
    answers: list[httpx.Response] = []

    def redeem(base_url: str) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as racer:
            start.wait()
            answers.append(racer.post("/token", data=form))

    threads = [threading.Thread(target=redeem, args=(base_urls[i % len(base_urls)],)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_concurrent_redemptions_of_one_code_exactly_one_succeeds(live_providers: list[str]) -> None:
    """RFC 6749 §4.1.2: a code is used at most once, even by requests that arrive together."""
    with httpx.Client(base_url=live_providers[0], follow_redirects=False) as browser:
        flow = Flow(browser)  # type: ignore[arg-type]
        for _ in range(ROUNDS):
            form = {"grant_type": "authorization_code", "code": flow.code(), "redirect_uri": REDIRECT,
                    "client_id": "spa", "code_verifier": flow.verifier}  # fmt: skip
            answers = race_to_redeem(live_providers, form)
            assert len(answers) == RACERS
            assert sorted(a.status_code for a in answers) == [200] + [400] * (RACERS - 1)
            assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)


def race_to_consume(stores: list[Store], code: str) -> list[bool]:
    """RACERS threads released together, spread over the stores, each consuming the code."""
    start = threading.Barrier(RACERS)
    wins: list[bool] = []

    def consume(store: Store) -> None:
        start.wait()
        wins.append(store.consume_code(code, 1_800_000_000))

    threads = [threading.Thread(target=consume, args=(stores[i % len(stores)],)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return wins


def test_consume_code_is_atomic_across_store_instances(tmp_path: Path) -> None:
    """RFC 6749 §4.1.2: two provider instances on one database never both consume a code."""
    path = tmp_path / "shared.sqlite3"
    stores = [Store(path), Store(path)]
    try:
        for round_ in range(20):
            code = f"code-{round_}"
            stores[0].save_code(code, CodeRecord("grant", "spa", REDIRECT, None, None, None, 2_000_000_000))
            assert sorted(race_to_consume(stores, code)) == [False] * (RACERS - 1) + [True], round_
    finally:
        for store in stores:
            store.close()


# --- P9: lifetime ≤ 60 s, bound to client and redirect URI ----------------------------


def test_code_older_than_60_seconds_is_invalid_grant(flow: Flow, clock) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.1.2: codes are short-lived (60 s at most here, SECURITY.md P9)."""
    code = flow.code()
    clock.advance(61)
    response = flow.exchange(code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_within_its_lifetime_is_accepted(flow: Flow, clock) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.1.2: control for the expiry test — 59 s is still in time."""
    code = flow.code()
    clock.advance(59)
    assert flow.exchange(code).status_code == 200


def test_config_refuses_a_code_lifetime_over_60_seconds() -> None:
    """RFC 6749 §4.1.2: the lifetime cannot be configured above 60 s (SECURITY.md P9)."""
    with pytest.raises(ConfigError):
        parse_config("code_lifetime = 61\n" + TEST_CONFIG, "test config")


@pytest.mark.parametrize("other", ["code-only", "confidential"])
def test_code_used_by_another_client_is_invalid_grant(flow: Flow, client, other: str) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.1.3: the code must have been issued to the client redeeming it."""
    code = flow.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": flow.verifier}  # fmt: skip
    if other == "confidential":
        response = client.post("/token", data=form, auth=("confidential", SECRET))
    else:
        response = client.post("/token", data={**form, "client_id": other})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_with_a_different_redirect_uri_is_invalid_grant(flow: Flow) -> None:
    """RFC 6749 §4.1.3: redirect_uri at the token endpoint must be the one the code was issued for."""
    code = flow.code(redirect_uri=SPA + "/cb?a=1")
    for redirect_uri in (REDIRECT, SPA + "/cb?a=1&b=2", SPA + "/cb"):
        response = flow.exchange(code, redirect_uri=redirect_uri)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
