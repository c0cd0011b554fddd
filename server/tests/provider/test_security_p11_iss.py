"""docs/SECURITY.md P11: `iss` (RFC 9207) on every authorization response, success and
error, in the same URL component as the other parameters."""

from urllib.parse import urlsplit

import pytest
from provider_support import ISSUER, REDIRECT, SPA, Flow, response_params

NO_PKCE = {"code_challenge": None, "code_challenge_method": None}
IMPLICIT = {"response_type": "token", **NO_PKCE, "nonce": None}
HYBRID_IMPLICIT = {"response_type": "id_token token", **NO_PKCE}


def assert_response_in(location: str, component: str, state: str, redirect_uri: str = REDIRECT) -> dict[str, str]:
    """iss, state and the rest all in `component`; the other component carries nothing of ours."""
    base, _, _ = redirect_uri.partition("?")
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == base
    got = response_params(location, component)
    assert got["iss"] == ISSUER
    assert got["state"] == state
    registered_query = urlsplit(redirect_uri).query
    if component == "fragment":
        assert parts.query == registered_query
    else:
        assert parts.fragment == ""
    return got


def test_metadata_advertises_the_iss_parameter(client) -> None:  # type: ignore[no-untyped-def]
    """RFC 9207 §3: authorization_response_iss_parameter_supported is true in both documents."""
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        assert client.get(path).json()["authorization_response_iss_parameter_supported"] is True


SUCCESS = {
    "code-query": ({}, "query", "code"),
    "code-fragment": ({"response_mode": "fragment"}, "fragment", "code"),
    "code-registered-query": ({"redirect_uri": SPA + "/cb?a=1"}, "query", "code"),
    "code-fragment-registered-query": (
        {"redirect_uri": SPA + "/cb?a=1", "response_mode": "fragment"},
        "fragment",
        "code",
    ),
    "token": (IMPLICIT, "fragment", "access_token"),
    "id-token-token": (HYBRID_IMPLICIT, "fragment", "id_token"),
    "token-registered-query": ({**IMPLICIT, "redirect_uri": SPA + "/cb?a=1"}, "fragment", "access_token"),
}


@pytest.mark.parametrize(("overrides", "component", "credential"), SUCCESS.values(), ids=SUCCESS.keys())
def test_success_response_carries_iss_beside_the_credential(
    flow: Flow, overrides: dict[str, str | None], component: str, credential: str
) -> None:
    """RFC 9207 §2: iss with the code or token, in the same component."""
    params = flow.code_params(**overrides)
    got = assert_response_in(flow.run(params).headers["location"], component, params["state"], params["redirect_uri"])
    assert got[credential]
    assert "error" not in got


def test_success_without_pages_carries_iss(flow: Flow) -> None:
    """RFC 9207 §2: also when consent is remembered and the response is immediate."""
    flow.code()
    params = flow.code_params(prompt="none")
    response = flow.authorize(params)
    assert response.status_code == 302
    assert assert_response_in(response.headers["location"], "query", params["state"])["code"]


# How each error is provoked: straight at /authorize, after signing in, or by denying consent.
ERRORS = {
    "invalid-scope": ("authorize", {"scope": "openid bogus"}, "query", "invalid_scope"),
    "invalid-scope-implicit": ("authorize", {**IMPLICIT, "scope": "bogus"}, "fragment", "invalid_scope"),
    "invalid-scope-code-fragment": (
        "authorize",
        {"scope": "bogus", "response_mode": "fragment"},
        "fragment",
        "invalid_scope",
    ),
    "unsupported-response-type": ("authorize", {"response_type": "bogus"}, "query", "unsupported_response_type"),
    "unsupported-hybrid-response-type": (
        "authorize",
        {"response_type": "code id_token"},
        "fragment",
        "unsupported_response_type",
    ),
    "unsupported-token-response-type": (
        "authorize",
        {**IMPLICIT, "response_type": "id_token"},
        "fragment",
        "unsupported_response_type",
    ),
    "missing-response-type": ("authorize", {"response_type": None}, "query", "invalid_request"),
    "missing-pkce": ("authorize", NO_PKCE, "query", "invalid_request"),
    "pkce-with-implicit": (
        "authorize",
        {**IMPLICIT, "code_challenge": "x" * 43, "code_challenge_method": "S256"},
        "fragment",
        "invalid_request",
    ),
    "implicit-in-query": ("authorize", {**IMPLICIT, "response_mode": "query"}, "fragment", "invalid_request"),
    "implicit-missing-nonce": ("authorize", {**HYBRID_IMPLICIT, "nonce": None}, "fragment", "invalid_request"),
    "bad-response-mode": ("authorize", {"response_mode": "form_post"}, "query", "invalid_request"),
    "unauthorized-client-implicit": (
        "authorize",
        {**IMPLICIT, "client_id": "code-only"},
        "fragment",
        "unauthorized_client",
    ),
    "login-required": ("authorize", {"prompt": "none"}, "query", "login_required"),
    "login-required-implicit": ("authorize", {**IMPLICIT, "prompt": "none"}, "fragment", "login_required"),
    "consent-required": ("signed_in", {"prompt": "none"}, "query", "consent_required"),
    "consent-required-implicit": ("signed_in", {**IMPLICIT, "prompt": "none"}, "fragment", "consent_required"),
    "access-denied": ("deny", {}, "query", "access_denied"),
    "access-denied-code-fragment": ("deny", {"response_mode": "fragment"}, "fragment", "access_denied"),
    "access-denied-implicit": ("deny", IMPLICIT, "fragment", "access_denied"),
    "access-denied-registered-query": ("deny", {"redirect_uri": SPA + "/cb?a=1"}, "query", "access_denied"),
}


@pytest.mark.parametrize(("how", "overrides", "component", "error"), ERRORS.values(), ids=ERRORS.keys())
def test_error_response_carries_iss_beside_the_error(
    flow: Flow, how: str, overrides: dict[str, str | None], component: str, error: str
) -> None:
    """RFC 9207 §2: iss on error responses too, in the component the response mode names."""
    params = flow.code_params(**overrides)
    if how == "signed_in":
        assert flow.sign_in().status_code == 303
    if how == "deny":
        response = flow.run(params, decision="deny")
        assert response.status_code == 303
    else:
        response = flow.authorize(params)
        assert response.status_code == 302
    got = assert_response_in(response.headers["location"], component, params["state"], params["redirect_uri"])
    assert got["error"] == error
    assert "code" not in got and "access_token" not in got
