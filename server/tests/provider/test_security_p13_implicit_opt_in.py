"""docs/SECURITY.md P13: implicit only by per-client opt-in; tokens in the fragment only, never a refresh token."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from provider_support import ISSUER, REDIRECT, Flow, response_params, seeded
from starlette.testclient import TestClient

from spalab.provider.app import create_provider_app
from spalab.provider.config import parse_config

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


@pytest.mark.parametrize("response_type", ["token", "id_token token", "token id_token"])
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
    with TestClient(create_provider_app(config, seeded(tmp_path)), base_url=ISSUER) as strict:
        metadata = strict.get("/.well-known/openid-configuration").json()
    assert metadata["response_types_supported"] == ["code"]
    assert "implicit" not in metadata["grant_types_supported"]


# --- consent is per flow: approving the code flow does not approve implicit -------------------------


def _consent_page(response):  # type: ignore[no-untyped-def]
    return response.status_code == 200 and 'name="decision"' in response.text


def test_consent_page_for_implicit_warns_of_the_legacy_flow(flow: Flow) -> None:
    """RFC 9700 §2.1.2: the user approving an implicit client is told tokens travel in the URL."""
    flow.sign_in()
    implicit = flow.authorize(flow.code_params(response_type="token", **IMPLICIT))
    assert _consent_page(implicit)
    assert 'id="legacy-warning"' in implicit.text
    code = flow.authorize(flow.code_params(client_id="code-only"))
    assert _consent_page(code)
    assert 'id="legacy-warning"' not in code.text


@pytest.mark.parametrize("response_type", ["token", "id_token token"])
def test_consent_to_the_code_flow_does_not_approve_implicit(flow: Flow, response_type: str) -> None:
    """RFC 9700 §2.1.2: after consenting to the code flow, an implicit request for the same client and
    scopes shows the consent page, with its legacy warning, instead of issuing tokens silently."""
    flow.code()  # signs in and consents to the code flow for "spa"
    assert flow.authorize(flow.code_params()).status_code == 302  # the code flow is remembered
    implicit = flow.authorize(flow.code_params(response_type=response_type, **IMPLICIT))
    assert _consent_page(implicit), implicit.headers.get("location")
    assert 'id="legacy-warning"' in implicit.text


def test_consent_to_implicit_is_remembered_for_implicit_and_code(flow: Flow) -> None:
    """Approving the legacy flow (with its warning) is remembered like any consent."""
    first = flow.run(flow.code_params(response_type="token", **IMPLICIT))
    assert "access_token" in response_params(first.headers["location"], "fragment")
    again = flow.authorize(flow.code_params(response_type="token", **IMPLICIT))
    assert again.status_code == 302 and "access_token" in response_params(again.headers["location"], "fragment")
    assert flow.authorize(flow.code_params()).status_code == 302


def test_prompt_none_for_implicit_without_its_consent_is_consent_required(flow: Flow) -> None:
    """OIDC Core §3.1.2.6: prompt=none cannot show the legacy flow's consent page."""
    flow.code()
    response = flow.authorize(flow.code_params(response_type="token", prompt="none", **IMPLICIT))
    assert response.status_code == 302
    assert response_params(response.headers["location"], "fragment")["error"] == "consent_required"


def test_a_data_dir_from_before_per_flow_consent_still_opens(tmp_path: Path) -> None:
    """A database made before the implicit column existed gains it; old consents do not cover implicit."""
    import sqlite3

    from spalab.provider.store import Store

    path = tmp_path / "spalab.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE consents (username TEXT NOT NULL, client_id TEXT NOT NULL, scope TEXT NOT NULL,"
        " granted_at INTEGER NOT NULL, PRIMARY KEY (username, client_id))"
    )
    old.execute("INSERT INTO consents VALUES ('alice', 'spa', 'openid profile', 1)")
    old.commit()
    old.close()
    store = Store(path)
    try:
        assert store.consent("alice", "spa") == ({"openid", "profile"}, False)
    finally:
        store.close()
