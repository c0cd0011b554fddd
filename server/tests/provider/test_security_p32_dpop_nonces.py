"""docs/SECURITY.md P32: with `dpop_nonce = true` the provider demands server nonces in DPoP proofs (RFC 9449
§8 at the token endpoint, §9 at the resources), hands them out in DPoP-Nonce, and rotates them."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from dpop_support import TOKEN_URL, Holder, dpop_call, exchange, refresh
from provider_support import ISSUER, TEST_CONFIG, Clock, Flow, api, seeded
from starlette.testclient import TestClient

from spalab.provider.app import create_provider_app
from spalab.provider.config import parse_config
from spalab.provider.dpop import NONCE_PERIOD

NONCE_CONFIG = TEST_CONFIG.replace("request_log = true\n", "request_log = true\ndpop_nonce = true\n", 1)


@pytest.fixture
def nonce_client(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    app = create_provider_app(parse_config(NONCE_CONFIG, "nonce config"), seeded(tmp_path), clock=clock)
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
        yield client


def _token_nonce(flow: Flow, holder: Holder, clock: Clock) -> str:
    """What a client learns on its first token request: use_dpop_nonce, and the nonce."""
    response = exchange(flow, holder.proof("POST", TOKEN_URL, clock.now))
    assert (response.status_code, response.json()["error"]) == (400, "use_dpop_nonce")
    return response.headers["dpop-nonce"]


def test_the_token_endpoint_demands_a_nonce_and_hands_one_out(nonce_client: TestClient, clock: Clock) -> None:
    """RFC 9449 §8: a proof without the server's nonce → 400 use_dpop_nonce with DPoP-Nonce; the retry with it
    works (the code was not spent), and its answer carries the nonce too."""
    flow, holder = Flow(nonce_client), Holder()
    form_code = flow.code()
    first = exchange_with(flow, form_code, holder.proof("POST", TOKEN_URL, clock.now))
    assert (first.status_code, first.json()["error"]) == (400, "use_dpop_nonce")
    nonce = first.headers["dpop-nonce"]
    assert first.headers["cache-control"] == "no-store"
    retry = exchange_with(flow, form_code, holder.proof("POST", TOKEN_URL, clock.now, nonce=nonce))
    assert retry.status_code == 200, retry.text
    assert retry.headers["dpop-nonce"] == nonce


def exchange_with(flow: Flow, code: str, proof: str):  # type: ignore[no-untyped-def]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://localhost:8000/",
        "client_id": "spa",
        "code_verifier": flow.verifier,
    }
    return flow.client.post("/token", data=form, headers={"DPoP": proof})


@pytest.mark.parametrize("nonce", ["made-up", ""])
def test_a_nonce_the_server_never_gave_is_refused(nonce_client: TestClient, clock: Clock, nonce: str) -> None:
    """RFC 9449 §4.3 (10), §8: only the server's own nonce."""
    flow = Flow(nonce_client)
    response = exchange(flow, Holder().proof("POST", TOKEN_URL, clock.now, nonce=nonce))
    assert (response.status_code, response.json()["error"]) == (400, "use_dpop_nonce")


def test_nonces_rotate_and_an_old_one_expires(nonce_client: TestClient, clock: Clock) -> None:
    """RFC 9449 §8.2: the nonce changes every period; the previous one is still good for one period, then not."""
    flow, holder = Flow(nonce_client), Holder()
    nonce = _token_nonce(flow, holder, clock)
    clock.advance(NONCE_PERIOD)
    still_good = exchange(flow, holder.proof("POST", TOKEN_URL, clock.now, nonce=nonce))
    assert still_good.status_code == 200, still_good.text
    newer = still_good.headers["dpop-nonce"]
    assert newer != nonce  # rotated: the answer hands out the new one
    clock.advance(NONCE_PERIOD)
    stale = refresh(
        nonce_client, still_good.json()["refresh_token"], holder.proof("POST", TOKEN_URL, clock.now, nonce=nonce)
    )
    assert (stale.status_code, stale.json()["error"]) == (400, "use_dpop_nonce")
    renewed = refresh(
        nonce_client, still_good.json()["refresh_token"], holder.proof("POST", TOKEN_URL, clock.now, nonce=newer)
    )
    assert renewed.status_code == 200, "the refused proof did not spend the refresh token"


def test_the_resources_demand_their_own_nonce(nonce_client: TestClient, clock: Clock) -> None:
    """RFC 9449 §9: the API answers 401 use_dpop_nonce with a DPoP challenge and its own nonce; the token
    endpoint's nonce is not the API's (a client keeps one per server)."""
    flow, holder = Flow(nonce_client), Holder()
    token_nonce = _token_nonce(flow, holder, clock)
    tokens = exchange(flow, holder.proof("POST", TOKEN_URL, clock.now, nonce=token_nonce)).json()
    refused = dpop_call(nonce_client, holder, tokens["access_token"], clock.now, nonce=token_nonce)
    assert (refused.status_code, refused.json()["error"]) == (401, "use_dpop_nonce")
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and 'error="use_dpop_nonce"' in challenge
    api_nonce = refused.headers["dpop-nonce"]
    assert api_nonce != token_nonce
    answered = dpop_call(nonce_client, holder, tokens["access_token"], clock.now, nonce=api_nonce)
    assert answered.status_code == 200
    assert answered.headers["dpop-nonce"] == api_nonce


def test_instances_on_one_database_agree_on_nonces(tmp_path: Path, clock: Clock) -> None:
    """docs/SECURITY.md P32: the nonce key is in the store, so another instance (or a restart) accepts the nonce."""
    config = parse_config(NONCE_CONFIG, "nonce config")
    data_dir = seeded(tmp_path)
    first, second = (create_provider_app(config, data_dir, clock=clock) for _ in range(2))
    with (
        TestClient(first, base_url=ISSUER, follow_redirects=False) as one,
        TestClient(second, base_url=ISSUER, follow_redirects=False) as other,
    ):
        holder = Holder()
        nonce = _token_nonce(Flow(one), holder, clock)
        assert exchange(Flow(other), holder.proof("POST", TOKEN_URL, clock.now, nonce=nonce)).status_code == 200


def test_clients_without_dpop_see_no_nonce(nonce_client: TestClient) -> None:
    """Bearer clients are unaffected: no DPoP-Nonce, no demand."""
    flow = Flow(nonce_client)
    tokens = flow.tokens()
    assert tokens["token_type"] == "Bearer"
    response = api(nonce_client, tokens["access_token"])
    assert response.status_code == 200 and "dpop-nonce" not in response.headers
    assert "dpop-nonce" not in flow.exchange(flow.code()).headers
