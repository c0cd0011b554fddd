"""docs/SECURITY.md P8–P9: authorization codes are single use, short-lived, and bound to
the client and redirect URI they were issued for."""

import threading
from pathlib import Path

import httpx
import pytest
from provider_support import REDIRECT, SECRET, SPA, TEST_CONFIG, Flow, api, race, race_past_the_check

from spalab.provider.config import ConfigError, parse_config
from spalab.provider.core.records import CodeRecord
from spalab.provider.store import Store

RACERS = 8
ROUNDS = 10


def refresh(client, refresh_token: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "spa"}
    )


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


def test_concurrent_redemptions_of_one_code_exactly_one_succeeds(live_providers: list[str]) -> None:
    """RFC 6749 §4.1.2: a code is used at most once, even by requests that arrive together."""
    with httpx.Client(base_url=live_providers[0], follow_redirects=False) as browser:
        flow = Flow(browser)  # type: ignore[arg-type]
        for _ in range(ROUNDS):
            form = {
                "grant_type": "authorization_code",
                "code": flow.code(),
                "redirect_uri": REDIRECT,
                "client_id": "spa",
                "code_verifier": flow.verifier,
            }
            answers = race(live_providers, "/token", form, RACERS)
            assert len(answers) == RACERS
            assert sorted(a.status_code for a in answers) == [200] + [400] * (RACERS - 1)
            assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)
            # RFC 6749 §4.1.2: the losers are replays of the code, so the winner's tokens are revoked too.
            winner = next(a for a in answers if a.status_code == 200).json()
            assert api(browser, winner["access_token"]).status_code == 401  # type: ignore[arg-type]


def test_losing_the_race_to_redeem_a_code_revokes_the_winners_tokens(
    live_providers: list[str], tmp_path: Path, database: str | None
) -> None:
    """RFC 6749 §4.1.2: a redemption that loses the race at the atomic consume is a replay like any
    other, so what the winner got is revoked (the attacker may be the winner)."""
    with httpx.Client(base_url=live_providers[0], follow_redirects=False) as browser:
        flow = Flow(browser)  # type: ignore[arg-type]
        form = {
            "grant_type": "authorization_code",
            "code": flow.code(),
            "redirect_uri": REDIRECT,
            "client_id": "spa",
            "code_verifier": flow.verifier,
        }
        answers = race_past_the_check(live_providers, "/token", form, database or tmp_path / "spalab.sqlite3")
        assert sorted(a.status_code for a in answers) == [200, 400]
        winner = next(a for a in answers if a.status_code == 200).json()
        assert api(browser, winner["access_token"]).status_code == 401  # type: ignore[arg-type]


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
    """RFC 6749 §4.1.2: codes are short-lived (60 s at most here, docs/SECURITY.md P9)."""
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
    """RFC 6749 §4.1.2: the lifetime cannot be configured above 60 s (docs/SECURITY.md P9)."""
    with pytest.raises(ConfigError):
        parse_config("code_lifetime = 61\n" + TEST_CONFIG, "test config")


@pytest.mark.parametrize("other", ["code-only", "confidential"])
def test_code_used_by_another_client_is_invalid_grant(flow: Flow, client, other: str) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.1.3: the code must have been issued to the client redeeming it."""
    code = flow.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": flow.verifier}
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
