"""docs/SECURITY.md P19: access tokens are audience-restricted RFC 9068 JWTs; the API refuses tokens
meant for another audience and tokens of another type, even when the provider signed them."""

from typing import Any

import pytest
from joserfc import jwt
from provider_support import ISSUER, Flow, api
from starlette.testclient import TestClient

PROTECTED = ["/api/me", "/api/contacts", "/userinfo"]


def _claims(app, token: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    claims: dict[str, Any] = jwt.decode(token, app.state.provider.issuer.keys.key_set, algorithms=["ES256"]).claims
    return claims


def _resign(app, claims: dict[str, Any], typ: str = "at+jwt") -> str:  # type: ignore[no-untyped-def]
    """Signs with the provider's own current key, as a token for another resource would be."""
    token: str = app.state.provider.issuer.keys.sign(claims, typ, app.state.provider.clock())
    return token


def test_resigned_token_with_unchanged_claims_is_accepted(flow: Flow, client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    """RFC 9068 §4: control: the test's re-signing produces tokens the API would accept."""
    claims = _claims(app, flow.tokens()["access_token"])
    assert api(client, _resign(app, claims)).status_code == 200


@pytest.mark.parametrize("audience", ["https://other.example/api", ISSUER, "spa", ["https://other.example/api"]])
def test_token_for_another_audience_is_refused(flow: Flow, client: TestClient, app, audience) -> None:  # type: ignore[no-untyped-def]
    """RFC 9068 §4: the resource server must reject a token whose aud does not name it."""
    claims = _claims(app, flow.tokens()["access_token"])
    token = _resign(app, {**claims, "aud": audience})
    for path in PROTECTED:
        response = api(client, token, path)
        assert response.status_code == 401, path
        assert response.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_token_without_audience_is_refused(flow: Flow, client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    """RFC 9068 §2.2: aud is required."""
    claims = _claims(app, flow.tokens()["access_token"])
    del claims["aud"]
    assert api(client, _resign(app, claims)).status_code == 401


def test_id_token_used_as_access_token_is_refused(flow: Flow, client: TestClient) -> None:
    """RFC 9068 §4, OIDC Core §2: an id_token (typ JWT, aud = client) is not an access token."""
    id_token = flow.tokens()["id_token"]
    for path in PROTECTED:
        response = api(client, id_token, path)
        assert response.status_code == 401, path
        assert response.json()["error"] == "invalid_token"


def test_jwt_of_another_type_with_the_api_audience_is_refused(flow: Flow, client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    """RFC 9068 §4: typ must be at+jwt, so no other JWT the provider signs can pass as an access token."""
    claims = _claims(app, flow.tokens()["access_token"])
    for typ in ("JWT", "jwt", "id_token"):
        assert api(client, _resign(app, claims, typ)).status_code == 401, typ


def test_token_from_another_issuer_is_refused(flow: Flow, client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    """RFC 9068 §4: iss must be this provider."""
    claims = _claims(app, flow.tokens()["access_token"])
    assert api(client, _resign(app, {**claims, "iss": "http://127.0.0.1:9001"})).status_code == 401
