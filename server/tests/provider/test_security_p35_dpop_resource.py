"""docs/SECURITY.md P35: the demo API and userinfo take a DPoP-bound token only with the DPoP scheme and a
proof of its key that hashes it (`ath`), refuse it as Bearer, and answer with DPoP challenges (RFC 9449 §7)."""

from typing import Any

import pytest
from dpop_support import REMOVE, Holder, dpop_call, dpop_tokens
from provider_support import ISSUER, Clock, Flow, api
from starlette.testclient import TestClient

# (method, path) of every protected resource
RESOURCES = [("GET", "/api/me"), ("GET", "/api/contacts"), ("GET", "/userinfo"), ("POST", "/userinfo")]
ALGS = 'algs="ES256 ES384 PS256 RS256"'


@pytest.fixture
def bound(flow: Flow, clock: Clock) -> tuple[Holder, str]:
    holder = Holder()
    return holder, dpop_tokens(flow, holder, clock.now)["access_token"]


def _refused(response: Any, status: int, error: str) -> str:
    assert (response.status_code, response.json()["error"]) == (status, error), response.text
    challenge: str = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP realm="spalab"') and f'error="{error}"' in challenge, challenge
    assert ALGS in challenge
    assert response.headers["cache-control"] == "no-store"
    return challenge


@pytest.mark.parametrize(("method", "path"), RESOURCES)
def test_a_bound_token_with_its_proof_is_accepted(
    client: TestClient, clock: Clock, bound: tuple[Holder, str], method: str, path: str
) -> None:
    """RFC 9449 §7.1: Authorization: DPoP <token> and a proof with htm, htu and ath of this request."""
    holder, token = bound
    response = dpop_call(client, holder, token, clock.now, path, method)
    assert response.status_code == 200, response.text
    assert response.json().get("sub", "alice") == "alice" and "error" not in response.json()


@pytest.mark.parametrize(("method", "path"), RESOURCES)
def test_a_bound_token_presented_as_bearer_is_refused(
    client: TestClient, clock: Clock, bound: tuple[Holder, str], method: str, path: str
) -> None:
    """RFC 9449 §7.2: the downgrade: a stolen bound token sent as Bearer (with or without a proof beside it)
    → 401 invalid_token with a DPoP challenge."""
    holder, token = bound
    plain = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    _refused(plain, 401, "invalid_token")
    proof = holder.proof(method, ISSUER + path, clock.now, access_token=token)
    beside = client.request(method, path, headers={"Authorization": f"Bearer {token}", "DPoP": proof})
    _refused(beside, 401, "invalid_token")


@pytest.mark.parametrize(("method", "path"), RESOURCES)
def test_a_proof_without_ath_is_refused(
    client: TestClient, clock: Clock, bound: tuple[Holder, str], method: str, path: str
) -> None:
    """RFC 9449 §4.3 (12), §7.1: at a resource the proof must carry ath."""
    holder, token = bound
    _refused(dpop_call(client, holder, token, clock.now, path, method, ath=REMOVE), 401, "invalid_dpop_proof")


def test_a_proof_hashing_another_token_is_refused(
    flow: Flow, client: TestClient, clock: Clock, bound: tuple[Holder, str]
) -> None:
    """RFC 9449 §4.3 (12): ath ties the proof to one token: a proof made for the holder's other token fails."""
    holder, token = bound
    other_token = dpop_tokens(Flow(client), holder, clock.now)["access_token"]
    proof = holder.proof("GET", ISSUER + "/api/me", clock.now, access_token=other_token)
    response = client.get("/api/me", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    _refused(response, 401, "invalid_dpop_proof")


def test_a_proof_of_another_key_is_refused(client: TestClient, clock: Clock, bound: tuple[Holder, str]) -> None:
    """RFC 9449 §7.1: the proof's key must be the one in the token's cnf.jkt (a thief's own key proves nothing)."""
    _, token = bound
    _refused(dpop_call(client, Holder(), token, clock.now), 401, "invalid_dpop_proof")


def test_the_dpop_scheme_without_a_proof_is_refused(client: TestClient, bound: tuple[Holder, str]) -> None:
    """RFC 9449 §7.1: the DPoP scheme needs the DPoP header."""
    _, token = bound
    _refused(client.get("/api/me", headers={"Authorization": f"DPoP {token}"}), 401, "invalid_dpop_proof")


@pytest.mark.parametrize(
    ("label", "claims"),
    [
        ("htm of another method", {"htm": "POST"}),
        ("htu of another resource", {"htu": ISSUER + "/api/contacts"}),
        ("a stale iat", {"iat": 1_800_000_000 - 300}),
        ("typ JWT", {"header": {"typ": "JWT"}}),
    ],
)
def test_the_proof_is_checked_in_full_at_the_resource(
    client: TestClient, clock: Clock, bound: tuple[Holder, str], label: str, claims: dict[str, Any]
) -> None:
    """RFC 9449 §4.3, §7.1: the same checks as at the token endpoint, for this request."""
    holder, token = bound
    _refused(dpop_call(client, holder, token, clock.now, **claims), 401, "invalid_dpop_proof")


def test_an_unbound_token_under_the_dpop_scheme_is_refused(flow: Flow, client: TestClient, clock: Clock) -> None:
    """RFC 9449 §7.1: a bearer token is not a DPoP token, even with a valid proof of some key."""
    token = flow.tokens()["access_token"]
    _refused(dpop_call(client, Holder(), token, clock.now), 401, "invalid_token")


def test_insufficient_scope_gets_a_dpop_challenge(flow: Flow, client: TestClient, clock: Clock) -> None:
    """RFC 6750 §3.1, RFC 9449 §7.1: a bound token without contacts.read → 403 insufficient_scope, DPoP challenge."""
    holder = Holder()
    token = dpop_tokens(flow, holder, clock.now, code=flow.code(scope="openid"))["access_token"]
    challenge = _refused(dpop_call(client, holder, token, clock.now, "/api/contacts"), 403, "insufficient_scope")
    assert 'scope="contacts.read"' in challenge


def test_without_credentials_both_schemes_are_offered(client: TestClient) -> None:
    """RFC 9449 §7.1, RFC 6750 §3: no token → 401, a Bearer and a DPoP challenge (with algs), no error code."""
    challenge = client.get("/api/me").headers["www-authenticate"]
    assert challenge == f'Bearer realm="spalab", DPoP realm="spalab", {ALGS}'


def test_bearer_tokens_work_as_before_beside_any_dpop_header(flow: Flow, client: TestClient) -> None:
    """RFC 6750: an unbound token as Bearer works, and a DPoP header beside it is not looked at."""
    token = flow.tokens()["access_token"]
    assert api(client, token).status_code == 200
    junk = client.get("/api/me", headers={"Authorization": f"Bearer {token}", "DPoP": "junk"})
    assert junk.status_code == 200
    bad = client.get("/api/me", headers={"Authorization": "Bearer nope"})
    assert bad.headers["www-authenticate"] == 'Bearer realm="spalab", error="invalid_token"'


def test_a_revoked_bound_token_is_refused(flow: Flow, client: TestClient, clock: Clock) -> None:
    """RFC 7009: revoking a bound token (no proof needed to revoke) ends it for its holder too."""
    holder = Holder()
    token = dpop_tokens(flow, holder, clock.now)["access_token"]
    assert client.post("/revoke", data={"token": token, "client_id": "spa"}).status_code == 200
    _refused(dpop_call(client, holder, token, clock.now), 401, "invalid_token")
