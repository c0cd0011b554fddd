"""docs/SECURITY.md P34: a token request with a DPoP proof binds the access token to the proof's key (RFC 9449
§5, §6.1), and a public client's refresh token too; a client registered with `dpop_bound_access_tokens`
must send a proof (§5.2)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from dpop_support import TOKEN_URL, Holder, claims_of, dpop_call, dpop_tokens, exchange, redeem, refresh
from provider_support import (
    CONFIDENTIAL_REDIRECT,
    ISSUER,
    REDIRECT,
    SECRET,
    TEST_CONFIG,
    Clock,
    Flow,
    api,
    response_params,
    seeded,
)
from starlette.testclient import TestClient

from spalab.provider.app import create_provider_app
from spalab.provider.config import ConfigError, parse_config

BOUND_CLIENT = f"""
[[clients]]
client_id = "bound-spa"
redirect_uris = ["{REDIRECT}"]
dpop_bound_access_tokens = true
"""


def test_a_proof_binds_the_access_token_to_its_key(flow: Flow, client: TestClient, clock: Clock) -> None:
    """RFC 9449 §5, §6.1: token_type DPoP and cnf.jkt = the RFC 7638 thumbprint of the proof's key."""
    holder = Holder()
    tokens = dpop_tokens(flow, holder, clock.now)
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": holder.jkt}
    assert dpop_call(client, holder, tokens["access_token"], clock.now).status_code == 200


def test_introspection_shows_the_binding_to_the_tokens_own_client(flow: Flow, client: TestClient, clock: Clock) -> None:
    """RFC 9449 §6.2: an introspected bound token has token_type DPoP and its cnf."""
    holder = Holder()
    response = flow.run(
        flow.code_params(client_id="confidential", redirect_uri=CONFIDENTIAL_REDIRECT, scope="openid offline_access")
    )
    code = response_params(response.headers["location"])["code"]
    tokens = exchange(
        flow,
        holder.proof("POST", TOKEN_URL, clock.now),
        code=code,
        client_id="confidential",
        client_secret=SECRET,
        redirect_uri=CONFIDENTIAL_REDIRECT,
    )
    assert tokens.status_code == 200, tokens.text
    body = client.post("/introspect", data={"token": tokens.json()["access_token"]}, auth=("confidential", SECRET))
    assert body.json()["token_type"] == "DPoP" and body.json()["cnf"] == {"jkt": holder.jkt}


def test_without_a_proof_tokens_stay_bearer_tokens(flow: Flow, client: TestClient) -> None:
    """RFC 9449 §5: DPoP is the client's choice (unless registered otherwise); nothing changes for Bearer clients."""
    tokens = flow.tokens()
    assert tokens["token_type"] == "Bearer"
    assert "cnf" not in claims_of(tokens["access_token"])
    assert api(client, tokens["access_token"]).status_code == 200
    assert refresh(client, tokens["refresh_token"]).json()["token_type"] == "Bearer"


def test_a_public_clients_refresh_token_needs_a_proof_of_the_same_key(
    flow: Flow, client: TestClient, clock: Clock
) -> None:
    """RFC 9449 §5: the refresh token is bound to the key: without a proof → invalid_dpop_proof, with another
    key → invalid_grant; neither spends it, and the right key gets new tokens bound to the same key."""
    holder = Holder()
    tokens = dpop_tokens(flow, holder, clock.now)
    without = refresh(client, tokens["refresh_token"])
    assert (without.status_code, without.json()["error"]) == (400, "invalid_dpop_proof")
    other_key = refresh(client, tokens["refresh_token"], Holder().proof("POST", TOKEN_URL, clock.now))
    assert (other_key.status_code, other_key.json()["error"]) == (400, "invalid_grant")
    renewed = refresh(client, tokens["refresh_token"], holder.proof("POST", TOKEN_URL, clock.now))
    assert renewed.status_code == 200, renewed.text
    assert claims_of(renewed.json()["access_token"])["cnf"] == {"jkt": holder.jkt}
    # The rotated refresh token is bound as well.
    assert refresh(client, renewed.json()["refresh_token"]).json()["error"] == "invalid_dpop_proof"
    assert dpop_call(client, holder, renewed.json()["access_token"], clock.now).status_code == 200


def test_a_confidential_clients_refresh_token_is_not_bound(flow: Flow, client: TestClient, clock: Clock) -> None:
    """RFC 9449 §5: a confidential client authenticates when it refreshes, so its refresh token is not bound;
    each new access token is bound to the key of the proof that came with the refresh, if any."""
    response = flow.run(
        flow.code_params(client_id="confidential", redirect_uri=CONFIDENTIAL_REDIRECT, scope="openid offline_access")
    )
    code = response_params(response.headers["location"])["code"]
    first = exchange(
        flow,
        Holder().proof("POST", TOKEN_URL, clock.now),
        code=code,
        client_id="confidential",
        client_secret=SECRET,
        redirect_uri=CONFIDENTIAL_REDIRECT,
    ).json()
    assert first["token_type"] == "DPoP"
    plain = refresh(client, first["refresh_token"], client_id="confidential", client_secret=SECRET)
    assert plain.status_code == 200 and plain.json()["token_type"] == "Bearer"
    other = Holder()
    rebound = refresh(
        client,
        plain.json()["refresh_token"],
        other.proof("POST", TOKEN_URL, clock.now),
        client_id="confidential",
        client_secret=SECRET,
    )
    assert claims_of(rebound.json()["access_token"])["cnf"] == {"jkt": other.jkt}


@pytest.fixture
def bound_client(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    config = parse_config(TEST_CONFIG + BOUND_CLIENT, "config with a DPoP-only client")
    app = create_provider_app(config, seeded(tmp_path), clock=clock)
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
        yield client


def test_a_client_registered_with_dpop_bound_access_tokens_must_send_a_proof(
    bound_client: TestClient, clock: Clock
) -> None:
    """RFC 9449 §5.2: every token request of such a client without a proof is refused (invalid_dpop_proof),
    before the code is spent; with a proof the exchange works and so does the refresh."""
    flow = Flow(bound_client)
    code = flow.code(client_id="bound-spa")
    without = redeem(flow, code, None, client_id="bound-spa")
    assert (without.status_code, without.json()["error"]) == (400, "invalid_dpop_proof")
    holder = Holder()
    tokens = redeem(flow, code, holder.proof("POST", TOKEN_URL, clock.now), client_id="bound-spa")
    assert tokens.status_code == 200 and tokens.json()["token_type"] == "DPoP"
    renewed = refresh(
        bound_client, tokens.json()["refresh_token"], holder.proof("POST", TOKEN_URL, clock.now), client_id="bound-spa"
    )
    assert renewed.status_code == 200


def test_dpop_bound_access_tokens_cannot_be_combined_with_implicit() -> None:
    """RFC 9449 §5.2 / docs/SECURITY.md P34: implicit tokens leave through the URL without a proof, so a client
    that must only get bound tokens cannot allow implicit: the configuration says so, naming the key."""
    text = TEST_CONFIG + BOUND_CLIENT + "allow_implicit = true\n"
    with pytest.raises(ConfigError, match="dpop_bound_access_tokens"):
        parse_config(text, "bad config")


def test_the_config_keys_are_typed(tmp_path: Path) -> None:
    """README: wrong types are errors naming the key."""
    with pytest.raises(ConfigError, match="dpop_nonce"):
        parse_config(TEST_CONFIG.replace("request_log = true\n", 'request_log = true\ndpop_nonce = "yes"\n'), "x")
    with pytest.raises(ConfigError, match="dpop_bound_access_tokens"):
        parse_config(TEST_CONFIG + BOUND_CLIENT.replace("= true", "= 1"), "x")


def test_a_data_dir_from_before_dpop_still_opens_and_its_refresh_tokens_are_unbound(tmp_path: Path) -> None:
    """A database made before refresh tokens carried a DPoP key gains the column; its tokens are bound to none."""
    import sqlite3

    from spalab.provider.store import Store, digest

    path = tmp_path / "spalab.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE refresh_tokens (token_hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL,"
        " expires_at INTEGER NOT NULL, used_at INTEGER)"
    )
    old.execute("INSERT INTO refresh_tokens VALUES (?, 'g', 99, NULL)", (digest("rt"),))
    old.commit()
    old.close()
    store = Store(path)
    try:
        assert store.find_refresh_token("rt") == ("g", False, 99, None)
        store.save_refresh_token("rt2", "g", 99, "jkt")
        assert store.find_refresh_token("rt2") == ("g", False, 99, "jkt")
    finally:
        store.close()
