"""SECURITY.md P18: codes and tokens carry at least 128 bits of randomness; failed sign-ins are
throttled (429) per account and per address."""

import base64
import re
from collections.abc import Iterator

import pytest
from joserfc import jwt
from starlette.testclient import TestClient

from provider_support import ISSUER, Clock, Flow, hidden, response_params

SAMPLES = 40
BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def _assert_random_secrets(samples: list[str]) -> None:
    """Unique, base64url, and long enough to hold ≥ 128 bits (22 base64url characters)."""
    assert len(set(samples)) == len(samples), "a value repeated"
    for value in samples:
        assert BASE64URL.match(value), value
        assert len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))) >= 16, value
    # A counter or a timestamp with a random tail would reuse few characters per position.
    for position in range(22):
        assert len({value[position] for value in samples}) >= SAMPLES // 4, f"position {position} barely varies"


def test_authorization_codes_have_128_bits(flow: Flow) -> None:
    """RFC 6749 §10.10: codes cannot be guessed (≤ 2^-128 per guess)."""
    flow.code()  # sign in and consent once; then each request is answered at once
    codes = []
    for _ in range(SAMPLES):
        response = flow.authorize(flow.code_params())
        assert response.status_code == 302
        codes.append(response_params(response.headers["location"])["code"])
    _assert_random_secrets(codes)


def test_refresh_tokens_and_access_token_ids_have_128_bits(flow: Flow, client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §10.10, RFC 9068 §2.2: refresh tokens and access-token jti cannot be guessed."""
    keys = app.state.provider.issuer.keys.key_set
    tokens = flow.tokens()
    refresh_tokens, jtis = [tokens["refresh_token"]], []
    for _ in range(SAMPLES):
        jtis.append(jwt.decode(tokens["access_token"], keys, algorithms=["RS256"]).claims["jti"])
        response = client.post("/token", data={"grant_type": "refresh_token", "client_id": "spa",
                                               "refresh_token": tokens["refresh_token"]})  # fmt: skip
        assert response.status_code == 200
        tokens = response.json()
        refresh_tokens.append(tokens["refresh_token"])
    _assert_random_secrets(refresh_tokens)
    _assert_random_secrets(jtis)


# --- throttling -------------------------------------------------------------------------


@pytest.fixture
def browsers(app) -> Iterator:  # type: ignore[no-untyped-def, type-arg]
    """Browsers at distinct client addresses, all talking to the same provider."""
    opened: list[TestClient] = []

    def at(address: str) -> TestClient:
        browser = TestClient(app, base_url=ISSUER, follow_redirects=False, client=(address, 50000))
        opened.append(browser.__enter__())
        return browser

    yield at
    for browser in opened:
        browser.__exit__(None, None, None)


def _sign_in(browser: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    page = browser.get("/login", params={"next": "/"})
    form = {"username": username, "password": password, "next": "/", "csrf_token": hidden(page.text, "csrf_token")}
    return browser.post("/login", data=form)


def _assert_throttled(response) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert retry_after > 0
    assert "spalab_session_" not in response.headers.get("set-cookie", "")
    return retry_after


def test_a_few_failures_do_not_lock_anyone_out(browsers) -> None:  # type: ignore[no-untyped-def]
    """SECURITY.md P18: below the limit the right password still signs in."""
    browser = browsers("192.0.2.1")
    for _ in range(4):
        assert _sign_in(browser, "alice", "wrong").status_code == 400
    assert _sign_in(browser, "alice", "wonderland").status_code == 303


def test_failures_for_one_account_from_many_addresses_throttle_the_account(browsers) -> None:  # type: ignore[no-untyped-def]
    """SECURITY.md P18: guessing one account's password from many addresses is throttled per account."""
    for n in range(5):
        assert _sign_in(browsers(f"192.0.2.{10 + n}"), "alice", "wrong").status_code == 400
    fresh_address = browsers("192.0.2.99")
    _assert_throttled(_sign_in(fresh_address, "alice", "wrong"))
    # While throttled, even the right password is refused (it must not confirm a guess).
    _assert_throttled(_sign_in(fresh_address, "alice", "wonderland"))
    _assert_throttled(_sign_in(fresh_address, "ALICE", "wonderland"))
    # Another account from that address is unaffected.
    assert _sign_in(fresh_address, "bob", "builder").status_code == 303


def test_failures_from_one_address_for_many_accounts_throttle_the_address(browsers) -> None:  # type: ignore[no-untyped-def]
    """SECURITY.md P18: spraying passwords over many usernames from one address is throttled per address."""
    sprayer = browsers("203.0.113.7")
    for name in ("carol", "dave", "erin", "bob", "mallory"):
        assert _sign_in(sprayer, name, "password1").status_code == 400
    _assert_throttled(_sign_in(sprayer, "frank", "password1"))
    _assert_throttled(_sign_in(sprayer, "alice", "wonderland"))
    # The accounts themselves are not locked for everyone else.
    assert _sign_in(browsers("203.0.113.8"), "alice", "wonderland").status_code == 303


def test_sign_in_works_again_after_the_window(browsers, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    """SECURITY.md P18: the throttle is temporary: after Retry-After seconds the user gets in."""
    browser = browsers("198.51.100.5")
    for _ in range(5):
        _sign_in(browser, "alice", "wrong")
    retry_after = _assert_throttled(_sign_in(browser, "alice", "wonderland"))
    clock.advance(retry_after - 1)
    _assert_throttled(_sign_in(browser, "alice", "wonderland"))
    clock.advance(1)
    assert _sign_in(browser, "alice", "wonderland").status_code == 303
