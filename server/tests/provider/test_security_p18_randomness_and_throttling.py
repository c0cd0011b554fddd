"""docs/SECURITY.md P18: codes and tokens carry at least 128 bits of randomness; failed sign-ins are
throttled (429) per account and per address. P23: throttling slows guessing without letting
anyone lock out others, and its table stays bounded (real concurrency: test_security_p23_throttling)."""

import base64
import re
from collections.abc import Iterator

import pytest
from joserfc import jwt
from provider_support import ISSUER, REAL_ARGON2_CONFIG, Clock, Flow, hidden, response_params
from starlette.testclient import TestClient

from spalab.provider.config import ProviderConfig, parse_config
from spalab.provider.core import throttle
from spalab.provider.store import Store

SAMPLES = 40
BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture(scope="module")
def config() -> ProviderConfig:
    """The product's own Argon2 cost: these tests are about password checks and their throttling."""
    return parse_config(REAL_ARGON2_CONFIG, "test config, passwords hashed by the product")


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
        jtis.append(jwt.decode(tokens["access_token"], keys, algorithms=["ES256"]).claims["jti"])
        response = client.post(
            "/token", data={"grant_type": "refresh_token", "client_id": "spa", "refresh_token": tokens["refresh_token"]}
        )
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


def _fail(browser: TestClient, username: str, times: int) -> None:
    for _ in range(times):
        assert _sign_in(browser, username, "wrong").status_code == 400


def _rows(app, subject: str | None) -> int:  # type: ignore[no-untyped-def]
    return app.state.provider.store.login_failure_rows(subject)  # type: ignore[no-any-return]


def test_a_few_failures_do_not_lock_anyone_out(browsers) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P18: below the limit the right password still signs in."""
    browser = browsers("192.0.2.1")
    _fail(browser, "alice", 4)
    assert _sign_in(browser, "alice", "wonderland").status_code == 303


def test_guessing_from_one_address_waits_longer_after_each_failure(browsers, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P18, P23 (NIST SP 800-63B §5.2.2): 5 free failures per (account, address), then
    waits of 15 s doubling to a 5-minute cap, counted from the latest failure."""
    guesser = browsers("192.0.2.2")
    _fail(guesser, "alice", 5)
    for expected in (15, 30, 60, 120, 240, 300):
        assert _assert_throttled(_sign_in(guesser, "alice", "wrong")) == expected
        # While throttled, even the right password is refused (it must not confirm a guess).
        _assert_throttled(_sign_in(guesser, "alice", "wonderland"))
        _assert_throttled(_sign_in(guesser, "ALICE", "wonderland"))
        clock.advance(expected - 1)
        assert _assert_throttled(_sign_in(guesser, "alice", "wrong")) == 1
        clock.advance(1)
        _fail(guesser, "alice", 1)
    # Another account from that address is unaffected.
    assert _sign_in(guesser, "bob", "builder").status_code == 303


def test_failures_are_remembered_for_15_minutes(browsers, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P18: failures count for 15 minutes (a shorter memory would let guessing speed up)."""
    guesser = browsers("192.0.2.3")
    _fail(guesser, "alice", 5)
    clock.advance(15 * 60 - 1)
    _fail(guesser, "alice", 1)  # the sixth failure within 15 minutes: now 30 s
    assert _assert_throttled(_sign_in(guesser, "alice", "wrong")) == 30


def test_a_victim_elsewhere_is_not_locked_out_by_a_guesser(browsers) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P23: one address's failures throttle that address's guessing only."""
    guesser = browsers("192.0.2.4")
    _fail(guesser, "alice", 5)
    _assert_throttled(_sign_in(guesser, "alice", "wonderland"))
    assert _sign_in(browsers("192.0.2.5"), "alice", "wonderland").status_code == 303


def test_failures_from_one_address_for_many_accounts_throttle_the_address(browsers, app) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P18, P23: spraying passwords over many usernames from one address is throttled
    per address (20 failures), without locking the accounts for anyone else."""
    victim = browsers("203.0.113.7")
    assert _sign_in(victim, "alice", "wonderland").status_code == 303  # this browser now has a device cookie
    sprayer = browsers("203.0.113.7")
    for n in range(20):
        _fail(sprayer, f"user{n}", 1)
    assert _assert_throttled(_sign_in(sprayer, "frank", "password1")) == 60
    _assert_throttled(_sign_in(sprayer, "alice", "wonderland"))
    # The accounts are not locked for anyone else: another address, or a browser that signed in
    # to the account before, even at the sprayer's address (the demo's 127.0.0.1 is shared).
    assert _sign_in(browsers("203.0.113.8"), "alice", "wonderland").status_code == 303
    assert _sign_in(victim, "alice", "wonderland").status_code == 303
    # That browser's cookie is for alice only.
    _assert_throttled(_sign_in(victim, "bob", "builder"))


def test_failures_for_one_account_from_many_addresses_throttle_the_account(browsers) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P18, P23: distributed guessing of one account is throttled per account (30
    failures), but a browser that signed in to the account before still gets in."""
    victim = browsers("198.51.100.1")
    assert _sign_in(victim, "alice", "wonderland").status_code == 303
    for n in range(6):
        _fail(browsers(f"192.0.2.{10 + n}"), "alice", 5)
    fresh_address = browsers("192.0.2.99")
    assert _assert_throttled(_sign_in(fresh_address, "alice", "wonderland")) == 60
    assert _sign_in(fresh_address, "bob", "builder").status_code == 303
    assert _sign_in(victim, "alice", "wonderland").status_code == 303


def test_only_a_device_cookie_for_the_account_counts(browsers) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P23: a device cookie issued for another account, or a made-up one, does not move
    an attempt off the pair's count."""
    guesser = browsers("192.0.2.6")
    _fail(guesser, "alice", 5)
    assert _sign_in(guesser, "bob", "builder").status_code == 303  # the guesser's own account
    assert any(name.startswith("spalab_device_") for name in guesser.cookies)
    _assert_throttled(_sign_in(guesser, "alice", "wrong"))
    for name in [n for n in guesser.cookies if n.startswith("spalab_device_")]:
        guesser.cookies.set(name, "made-up." + "0" * 64, domain="127.0.0.1")
    _assert_throttled(_sign_in(guesser, "alice", "wrong"))


def test_a_device_cookie_has_its_own_limit(browsers) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P23: a stolen device cookie is throttled like a pair: 5 failures, then 15 s."""
    browser = browsers("192.0.2.7")
    assert _sign_in(browser, "alice", "wonderland").status_code == 303
    _fail(browser, "alice", 5)
    assert _assert_throttled(_sign_in(browser, "alice", "wonderland")) == 15


def test_old_failure_rows_are_purged(browsers, clock: Clock, app) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P23: the login_failures table keeps no row older than 15 minutes."""
    _fail(browsers("192.0.2.8"), "alice", 5)
    assert _rows(app, None) == 15  # pair, address and account, five times
    clock.advance(15 * 60)
    assert _sign_in(browsers("192.0.2.9"), "bob", "wrong").status_code == 400
    assert _rows(app, None) == 3  # only the attempt just made


def test_failure_rows_are_capped_per_subject(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P23: however a decision goes, a subject keeps at most its `keep` rows."""
    store = Store(tmp_path / "db.sqlite")
    for now in range(1000, 1020):
        store.reserve_login_attempt({"pair:x|192.0.2.1": 3, "addr:192.0.2.1": 7}, now, now - 900, lambda _: None)
    assert (store.login_failure_rows("pair:x|192.0.2.1"), store.login_failure_rows("addr:192.0.2.1")) == (3, 7)
    store.close()


@pytest.mark.parametrize(
    ("rule", "free", "waits"),
    [
        (throttle.PAIR, 5, [15, 30, 60, 120, 240, 300, 300, 300]),
        (throttle.DEVICE, 5, [15, 30, 60, 120, 240, 300, 300, 300]),
        (throttle.ADDRESS, 20, [60, 120, 240, 480, 900, 900, 900]),
        (throttle.ACCOUNT, 30, [60, 120, 240, 480, 900, 900, 900]),
    ],
    ids=["pair", "device", "address", "account"],
)
def test_each_rule_allows_its_free_failures_then_doubles_to_its_cap(
    rule: throttle.Rule, free: int, waits: list[int]
) -> None:
    """docs/SECURITY.md P18, P23: the policy in numbers (throttle.py explains the choice)."""
    now = 1_000_000
    failures = [now] * (free - 1)
    assert rule.wait(failures, now) is None
    for expected in waits:
        failures.append(now)
        assert rule.wait(failures, now) == expected
        assert rule.wait(failures, now + expected) is None
    # Failures count for 15 minutes after they happen, not a second longer.
    assert rule.wait([now - 15 * 60 + 1] * (free - 1) + [now], now) == waits[0]
    assert rule.wait([now - 15 * 60] * (free - 1) + [now], now) is None
    # The newest `keep` failures decide as all of them do, so the store may drop the rest.
    assert len(failures) > rule.keep
    assert rule.wait(failures[-rule.keep :], now) == rule.wait(failures, now)


@pytest.mark.parametrize(
    "rule", [throttle.PAIR, throttle.ADDRESS, throttle.ACCOUNT], ids=["pair", "address", "account"]
)
def test_a_relentless_guesser_gets_few_guesses_per_window(rule: throttle.Rule) -> None:
    """docs/SECURITY.md P23: guessing as fast as allowed for a day, no 15-minute window holds more
    than `keep` failures."""
    failures: list[int] = []
    for now in range(0, 24 * 3600):
        if rule.wait(failures[-rule.keep - 1 :], now) is None:
            failures.append(now)
    busiest = max(sum(1 for t in failures if start <= t < start + 15 * 60) for start in failures)
    assert busiest <= rule.keep


def test_ipv4_clients_of_a_dual_stack_socket_count_as_their_ipv4_address() -> None:
    """docs/SECURITY.md P23: ::ffff:a.b.c.d is the IPv4 client a.b.c.d, not one /64 shared by every IPv4 client."""
    first = throttle.subjects("alice", "::ffff:192.0.2.1", None)
    second = throttle.subjects("alice", "::ffff:198.51.100.7", None)
    assert set(first) != set(second)
    assert set(first) == set(throttle.subjects("alice", "192.0.2.1", None))


def test_any_user_name_is_throttled_and_none_is_kept(browsers, app) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P23: what was typed as a user name (here 4,000 characters, too long for a PostgreSQL
    index entry as text) is counted like any other and stored only as a digest of its subjects: a password
    typed into the name field by mistake is not kept."""
    browser = browsers("192.0.2.44")
    typed = "密" * 4000
    assert _sign_in(browser, typed, "wrong").status_code == 400
    assert _rows(app, f"user:{typed}") == 1

    def subjects(db):  # type: ignore[no-untyped-def]
        return [row[0] for row in db.execute("SELECT subject FROM login_failures").fetchall()]

    stored = app.state.provider.store._db.read(subjects)
    assert stored and all(re.fullmatch(r"[0-9a-f]{64}", subject) for subject in stored)
