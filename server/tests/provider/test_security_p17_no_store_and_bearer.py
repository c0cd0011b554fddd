"""docs/SECURITY.md P17: token responses are never cached; the API takes tokens from the
Authorization header only and answers with RFC 6750 challenges."""

import pytest
from provider_support import Flow, api
from starlette.testclient import TestClient

PROTECTED = ["/api/me", "/api/contacts", "/userinfo"]


def _challenge(response) -> str:  # type: ignore[no-untyped-def]
    value: str = response.headers["www-authenticate"]
    return value


def test_successful_token_responses_are_no_store(flow: Flow, client: TestClient) -> None:
    """RFC 6749 §5.1: code exchange and refresh answers carry Cache-Control: no-store."""
    exchanged = flow.exchange(flow.code())
    assert exchanged.status_code == 200
    assert exchanged.headers["cache-control"] == "no-store"
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "client_id": "spa", "refresh_token": exchanged.json()["refresh_token"]},
    )
    assert refreshed.status_code == 200
    assert refreshed.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "authorization_code", "client_id": "spa", "code": "nope", "redirect_uri": "x"},
        {"grant_type": "refresh_token", "client_id": "spa", "refresh_token": "nope"},
        {"grant_type": "password", "client_id": "spa"},
        {"client_id": "confidential", "grant_type": "refresh_token", "refresh_token": "x"},
    ],
)
def test_token_error_responses_are_no_store(client: TestClient, form: dict[str, str]) -> None:
    """RFC 6749 §5.2: error answers from the token endpoint are not cached either."""
    response = client.post("/token", data=form)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]
    assert response.headers["cache-control"] == "no-store"


def test_introspection_and_revocation_responses_are_no_store(flow: Flow, client: TestClient) -> None:
    """RFC 7662 §2.2, RFC 6749 §5.1: answers about tokens are not cached."""
    token = flow.tokens()["access_token"]
    introspected = client.post("/introspect", data={"token": token}, auth=("confidential", "s3cret-for-tests"))
    assert introspected.headers["cache-control"] == "no-store"
    revoked = client.post("/revoke", data={"token": token, "client_id": "spa"})
    assert revoked.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", PROTECTED)
def test_access_token_in_the_query_is_rejected_even_when_valid(flow: Flow, client: TestClient, path: str) -> None:
    """RFC 6750 §2.3, RFC 9700 §4.3.2: a token in the URL leaks through logs and Referer → 400."""
    token = flow.tokens()["access_token"]
    response = client.get(path, params={"access_token": token})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    challenge = _challenge(response)
    assert challenge.startswith("Bearer") and 'error="invalid_request"' in challenge
    # Not even together with a valid header: the URL copy has already leaked.
    both = client.get(path, params={"access_token": token}, headers={"Authorization": f"Bearer {token}"})
    assert both.status_code == 400
    # Nor when it is not the first parameter.
    later = client.get(path, params={"x": "1", "access_token": token}, headers={"Authorization": f"Bearer {token}"})
    assert later.status_code == 400 and later.json()["error"] == "invalid_request"
    # Nor with its name percent-encoded: the server decodes it like any other parameter.
    encoded = client.get(f"{path}?access%5Ftoken={token}", headers={"Authorization": f"Bearer {token}"})
    assert encoded.status_code == 400 and encoded.json()["error"] == "invalid_request"


@pytest.mark.parametrize("path", PROTECTED)
def test_missing_token_gets_a_bare_bearer_challenge(client: TestClient, path: str) -> None:
    """RFC 6750 §3.1: without credentials, 401 and a Bearer challenge with no error code."""
    response = client.get(path)
    assert response.status_code == 401
    challenge = _challenge(response)
    assert challenge.startswith("Bearer")
    assert "error=" not in challenge


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer a.b.c", "Basic c3BhOng=", "Bearer"])
def test_bad_token_gets_invalid_token(client: TestClient, path: str, header: str) -> None:
    """RFC 6750 §3.1: a malformed, forged or wrong-scheme credential → 401 error="invalid_token"."""
    response = client.get(path, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in _challenge(response)


def test_expired_token_gets_invalid_token(flow: Flow, client: TestClient, clock, config) -> None:  # type: ignore[no-untyped-def]
    """RFC 6750 §3.1: an expired token is invalid_token."""
    token = flow.tokens()["access_token"]
    clock.advance(config.access_token_lifetime)
    response = api(client, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in _challenge(response)


@pytest.mark.parametrize(("path", "scope"), [("/api/contacts", "contacts.read"), ("/userinfo", "openid")])
def test_insufficient_scope_gets_403(flow: Flow, client: TestClient, path: str, scope: str) -> None:
    """RFC 6750 §3.1: a valid token without the needed scope → 403 error="insufficient_scope"."""
    granted = "openid profile" if scope != "openid" else "profile email"
    tokens = flow.exchange(flow.code(scope=granted)).json()
    response = api(client, tokens["access_token"], path)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    challenge = _challenge(response)
    assert 'error="insufficient_scope"' in challenge and f'scope="{scope}"' in challenge


def test_api_responses_are_no_store(flow: Flow, client: TestClient) -> None:
    """RFC 6750 §5.3: protected answers and their errors are not cached."""
    token = flow.tokens()["access_token"]
    assert api(client, token).headers["cache-control"] == "no-store"
    assert client.get("/api/me").headers["cache-control"] == "no-store"
