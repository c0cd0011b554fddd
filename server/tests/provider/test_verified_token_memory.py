"""The key ring remembers the access tokens it verified (spalab.provider.keys.KeyRing, VERIFIED_TOKENS): an
SPA presents one token many times. What it remembers is only "this exact text is a token we signed, typ
at+jwt"; every use still validates exp, iss, aud (docs/SECURITY.md P17, P19) and asks the store whether
the token or its grant was revoked (P12, P25)."""

import pytest
from provider_support import Clock, Flow, api
from starlette.testclient import TestClient

from spalab.provider import keys


def test_a_remembered_token_still_expires(flow: Flow, client: TestClient, clock: Clock) -> None:
    token = flow.tokens()["access_token"]
    assert api(client, token).status_code == 200
    assert api(client, token, "/userinfo").status_code == 200
    clock.advance(24 * 3600)
    response = api(client, token)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_a_remembered_token_still_stops_working_when_revoked(flow: Flow, client: TestClient) -> None:
    tokens = flow.tokens()
    assert api(client, tokens["access_token"]).status_code == 200
    revoked = client.post("/revoke", data={"token": tokens["refresh_token"], "client_id": "spa"})
    assert revoked.status_code == 200
    assert api(client, tokens["access_token"]).status_code == 401


def test_only_tokens_that_verified_are_remembered(flow: Flow, client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    token = flow.tokens()["access_token"]
    ring = app.state.provider.issuer.keys
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert api(client, forged).status_code == 401
    assert forged not in ring._verified
    assert api(client, token).status_code == 200 and token in ring._verified
    assert api(client, forged).status_code == 401  # the real token remembered changes nothing for another text


def test_the_memory_is_bounded(flow: Flow, client: TestClient, app, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(keys, "VERIFIED_TOKENS", 2)
    first, second, third = (flow.tokens()["access_token"] for _ in range(3))
    for token in (first, second, third):
        assert api(client, token).status_code == 200
    assert list(app.state.provider.issuer.keys._verified) == [second, third]
    assert api(client, first).status_code == 200  # forgotten, so verified again


def test_a_reload_of_the_keys_makes_every_token_checked_again(
    flow: Flow, client: TestClient, app, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P37: a remembered token counts only while the key set that verified it is the ring's; after
    a reload (a rotation may retire a key) it is verified again against the keys published then."""
    ring = app.state.provider.issuer.keys
    token = flow.tokens()["access_token"]
    assert api(client, token).status_code == 200
    before = ring._verified[token][1]
    assert before is ring.key_set
    ring.reload(clock() + keys.KEY_RELOAD)
    assert ring.key_set is not before
    assert api(client, token).status_code == 200
    assert ring._verified[token][1] is ring.key_set
