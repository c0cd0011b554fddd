"""SECURITY.md P13: implicit only by per-client opt-in; tokens in the fragment only, never a refresh token."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from spalab.config import parse_config
from spalab.provider_app import create_provider_app
from starlette.testclient import TestClient

from provider_support import ISSUER, REDIRECT, Flow, response_params

IMPLICIT = {"code_challenge": None, "code_challenge_method": None}


@pytest.mark.parametrize("response_type", ["token", "id_token token"])
def test_client_without_opt_in_gets_unauthorized_client(flow: Flow, response_type: str) -> None:
    """RFC 9700 §2.1.2: a client that did not opt in to implicit → unauthorized_client, no token."""
    params = flow.code_params(client_id="code-only", response_type=response_type, **IMPLICIT)
    response = flow.authorize(params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    got = response_params(location, "fragment")
    assert got["error"] == "unauthorized_client"
    assert got["state"] == params["state"] and got["iss"] == ISSUER
    assert "access_token" not in location and "id_token=" not in location


def test_client_without_opt_in_gets_no_token_even_when_signed_in(flow: Flow) -> None:
    """RFC 9700 §2.1.2: the refusal does not depend on the session: a signed-in user gets no token either."""
    flow.code(client_id="code-only")  # signs in and consents for code-only
    params = flow.code_params(client_id="code-only", response_type="token", **IMPLICIT)
    response = flow.run(params)
    assert response.status_code == 302
    got = response_params(response.headers["location"], "fragment")
    assert got["error"] == "unauthorized_client"
    assert "access_token" not in got


@pytest.mark.parametrize("response_type", ["token", "id_token token"])
def test_opted_in_client_gets_tokens_in_the_fragment_only_and_no_refresh_token(flow: Flow, response_type: str) -> None:
    """RFC 9700 §2.1.2, RFC 6749 §4.2.2: access token in the fragment, never the query; no refresh token."""
    params = flow.code_params(response_type=response_type, scope="openid profile offline_access", **IMPLICIT)
    response = flow.run(params)
    assert response.status_code in (302, 303)
    location = response.headers["location"]
    parts = urlsplit(location)
    assert parts.query == ""
    got = response_params(location, "fragment")
    assert got["access_token"] and got["token_type"] == "Bearer"
    assert got["iss"] == ISSUER
    assert "refresh_token" not in got
    assert "refresh_token" not in location
    assert "code" not in got


@pytest.mark.parametrize("response_type", ["token", "id_token token"])
def test_token_with_response_mode_query_is_refused(flow: Flow, response_type: str) -> None:
    """OAuth 2.0 Multiple Response Types §5: tokens never travel in the query → invalid_request."""
    params = flow.code_params(response_type=response_type, response_mode="query", **IMPLICIT)
    response = flow.run(params)
    assert response.status_code == 302
    location = response.headers["location"]
    # The error itself goes in the fragment, where the client expects a token response.
    assert urlsplit(location).query == ""
    got = response_params(location, "fragment")
    assert got["error"] == "invalid_request"
    assert "access_token" not in location and "id_token=" not in location


def test_metadata_lists_implicit_only_when_a_client_opted_in(client: TestClient, tmp_path: Path) -> None:
    """RFC 9700 §2.1.2: without any opted-in client, discovery offers `code` alone."""
    assert "token" in client.get("/.well-known/openid-configuration").json()["response_types_supported"]
    config = parse_config(f'issuer = "{ISSUER}"\n[[clients]]\nclient_id = "c"\nredirect_uris = ["{REDIRECT}"]\n', "t")
    with TestClient(create_provider_app(config, tmp_path), base_url=ISSUER) as strict:
        metadata = strict.get("/.well-known/openid-configuration").json()
    assert metadata["response_types_supported"] == ["code"]
    assert "implicit" not in metadata["grant_types_supported"]
