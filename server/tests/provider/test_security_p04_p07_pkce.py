"""docs/SECURITY.md P4–P7: PKCE required for public clients, S256 only, verifier enforced,
no downgrade."""

import secrets

import pytest
from provider_support import (
    CONFIDENTIAL_REDIRECT,
    ISSUER,
    REDIRECT,
    SECRET,
    Flow,
    challenge_of,
    new_verifier,
    response_params,
)


def assert_redirected_error(response, error: str, state: str, redirect_uri: str = REDIRECT) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?")
    got = response_params(location)
    assert got["error"] == error
    assert got["state"] == state
    assert got["iss"] == ISSUER
    assert "code" not in got


def confidential_params(flow: Flow, **overrides: str | None) -> dict[str, str]:
    return flow.code_params(client_id="confidential", redirect_uri=CONFIDENTIAL_REDIRECT, **overrides)


# --- P4: PKCE required for public clients at the authorization endpoint ----------------


@pytest.mark.parametrize("method", [None, "S256"])
@pytest.mark.parametrize("client_id", ["spa", "code-only"])
def test_public_client_without_code_challenge_gets_invalid_request(
    flow: Flow, client_id: str, method: str | None
) -> None:
    """RFC 7636 §4.4.1, RFC 9700 §2.1.1: a public client must send code_challenge."""
    params = flow.code_params(client_id=client_id, code_challenge=None, code_challenge_method=method)
    assert_redirected_error(flow.authorize(params), "invalid_request", params["state"])


def test_public_client_without_code_challenge_gets_no_code_when_signed_in(flow: Flow) -> None:
    """RFC 7636 §4.4.1: the check runs whether or not the user has a session and consent."""
    flow.code()
    params = flow.code_params(code_challenge=None, code_challenge_method=None)
    assert_redirected_error(flow.authorize(params), "invalid_request", params["state"])


# --- P5: S256 only ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["public", "confidential"])
@pytest.mark.parametrize("method", ["plain", None], ids=["plain", "method-missing"])
def test_plain_challenge_is_rejected(flow: Flow, kind: str, method: str | None) -> None:
    """RFC 9700 §2.1.1: only S256; RFC 7636 §4.3 makes a missing method mean plain."""
    # A plain challenge is the verifier itself; 43 characters so it is well-formed as S256 too.
    verifier = secrets.token_urlsafe(32)
    overrides = {"code_challenge": verifier, "code_challenge_method": method}
    if kind == "public":
        params, redirect_uri = flow.code_params(**overrides), REDIRECT
    else:
        params, redirect_uri = confidential_params(flow, **overrides), CONFIDENTIAL_REDIRECT
    assert_redirected_error(flow.authorize(params), "invalid_request", params["state"], redirect_uri)


def test_metadata_lists_only_s256(client) -> None:  # type: ignore[no-untyped-def]
    """RFC 9700 §2.1.1, RFC 8414 §2: code_challenge_methods_supported is exactly S256."""
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        assert client.get(path).json()["code_challenge_methods_supported"] == ["S256"]


# --- P6: the verifier is enforced at the token endpoint -------------------------------


def test_wrong_verifier_is_invalid_grant(flow: Flow) -> None:
    """RFC 7636 §4.6: S256(code_verifier) must equal the stored code_challenge."""
    response = flow.exchange(flow.code(), code_verifier=new_verifier())
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


def test_missing_verifier_is_invalid_request(flow: Flow) -> None:
    """RFC 7636 §4.5: a code issued with a challenge needs the verifier."""
    response = flow.exchange(flow.code(), code_verifier=None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "access_token" not in response.json()


def test_challenge_as_verifier_is_invalid_grant(flow: Flow) -> None:
    """RFC 7636 §4.6: the challenge itself, replayed as verifier, does not match."""
    response = flow.exchange(flow.code(), code_verifier=challenge_of(flow.verifier))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


# --- P7: PKCE downgrade ---------------------------------------------------------------


def test_verifier_for_code_issued_without_challenge_is_rejected(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 9700 §4.8.2: a code_verifier for a code issued without code_challenge is a downgrade."""
    code = flow.code(
        client_id="confidential", redirect_uri=CONFIDENTIAL_REDIRECT, code_challenge=None, code_challenge_method=None
    )
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CONFIDENTIAL_REDIRECT,
        "code_verifier": new_verifier(),
    }
    response = client.post("/token", data=form, auth=("confidential", SECRET))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


@pytest.mark.parametrize("verifier", [None, "wrong"])
def test_confidential_client_must_send_the_verifier_for_a_code_issued_with_a_challenge(
    flow: Flow, verifier: str | None
) -> None:
    """RFC 7636 §4.5, §4.6: a client secret does not replace the verifier once a challenge was sent —
    otherwise a stolen code plus the (leaked or shared) secret would be enough."""
    response = flow.run(confidential_params(flow))
    code = response_params(response.headers["location"])["code"]
    answer = flow.exchange(
        code,
        client_id="confidential",
        redirect_uri=CONFIDENTIAL_REDIRECT,
        client_secret=SECRET,
        code_verifier=None if verifier is None else new_verifier(),
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == ("invalid_request" if verifier is None else "invalid_grant")
