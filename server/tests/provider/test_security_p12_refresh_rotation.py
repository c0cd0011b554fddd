"""docs/SECURITY.md P12: refresh tokens rotate; reuse revokes the family; the absolute lifetime holds."""

from pathlib import Path

import httpx
from provider_support import Clock, Flow, api, race, race_past_the_check
from starlette.testclient import TestClient

RACERS = 64


def _refresh(client: TestClient, refresh_token: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "spa"}
    )


def test_refresh_rotates_and_the_used_token_is_spent(flow: Flow, client: TestClient) -> None:
    """RFC 9700 §4.14.2: each refresh returns a new refresh token; the old one cannot be used again."""
    first = flow.tokens()
    second = _refresh(client, first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] not in (first["refresh_token"], "")
    third = _refresh(client, second.json()["refresh_token"])
    assert third.status_code == 200


def test_reuse_of_a_rotated_refresh_token_revokes_the_whole_family(flow: Flow, client: TestClient) -> None:
    """RFC 9700 §4.14.2: replaying an old refresh token → invalid_grant, and every token of the grant dies."""
    first = flow.tokens()
    newest = _refresh(client, first["refresh_token"]).json()
    assert api(client, newest["access_token"]).status_code == 200

    replay = _refresh(client, first["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"

    # The legitimate holder's newest refresh token is revoked too (the attacker may hold it) ...
    after = _refresh(client, newest["refresh_token"])
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"
    # ... and so is every access token of the family.
    for access_token in (first["access_token"], newest["access_token"]):
        response = api(client, access_token)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


def test_reuse_does_not_touch_another_grant(client: TestClient) -> None:
    """RFC 9700 §4.14.2: revocation is per family: another sign-in's tokens keep working."""
    mine, other = Flow(client), Flow(client)
    first = mine.tokens()
    unrelated = other.tokens()
    _refresh(client, first["refresh_token"])
    assert _refresh(client, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert api(client, unrelated["access_token"]).status_code == 200
    assert _refresh(client, unrelated["refresh_token"]).status_code == 200


def test_rotation_never_extends_the_absolute_lifetime(flow: Flow, client: TestClient, clock: Clock, config) -> None:  # type: ignore[no-untyped-def]
    """RFC 9700 §4.14.2: a rotated token inherits the family's expiry, so refreshing forever is impossible."""
    lifetime = config.refresh_token_lifetime
    token = flow.tokens()["refresh_token"]
    # Refresh a few times across the lifetime: each rotation works while the family is alive.
    for _ in range(3):
        clock.advance(lifetime // 4)
        response = _refresh(client, token)
        assert response.status_code == 200
        token = response.json()["refresh_token"]
    clock.advance(lifetime - 3 * (lifetime // 4) - 1)
    fresh = _refresh(client, token)
    assert fresh.status_code == 200, "still inside the absolute lifetime"
    clock.advance(1)
    # Rotated one second ago, but the family was born `lifetime` seconds ago.
    expired = _refresh(client, fresh.json()["refresh_token"])
    assert expired.status_code == 400
    assert expired.json()["error"] == "invalid_grant"


def test_refresh_token_is_bound_to_its_client(flow: Flow, client: TestClient) -> None:
    """RFC 6749 §6: a refresh token presented by another client is refused."""
    token = flow.tokens()["refresh_token"]
    stolen = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "code-only"}
    )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"


def test_concurrent_refreshes_with_one_token_exactly_one_succeeds_and_the_family_is_revoked(
    live_providers: list[str],
) -> None:
    """RFC 9700 §4.14.2: 64 requests with one refresh token, released together over two instances on
    one database: exactly one gets tokens; every other one is a reuse, so the whole family is revoked,
    the winner's new tokens included."""
    with httpx.Client(base_url=live_providers[0], follow_redirects=False) as browser:
        tokens = Flow(browser).tokens()  # type: ignore[arg-type]
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
        answers = race(live_providers, "/token", form, RACERS)
        assert sorted(a.status_code for a in answers) == [200] + [400] * (RACERS - 1)
        assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)
        winner = next(a for a in answers if a.status_code == 200).json()
        assert api(browser, winner["access_token"]).status_code == 401  # type: ignore[arg-type]
        assert _refresh(browser, winner["refresh_token"]).json()["error"] == "invalid_grant"  # type: ignore[arg-type]


def test_losing_the_race_to_refresh_revokes_the_family(
    live_providers: list[str], tmp_path: Path, database: str | None
) -> None:
    """RFC 9700 §4.14.2: a refresh that loses at the atomic "mark used" is a reuse: the family is revoked."""
    with httpx.Client(base_url=live_providers[0], follow_redirects=False) as browser:
        tokens = Flow(browser).tokens()  # type: ignore[arg-type]
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
        answers = race_past_the_check(live_providers, "/token", form, database or tmp_path / "spalab.sqlite3")
        assert sorted(a.status_code for a in answers) == [200, 400]
        winner = next(a for a in answers if a.status_code == 200).json()
        assert api(browser, winner["access_token"]).status_code == 401  # type: ignore[arg-type]
