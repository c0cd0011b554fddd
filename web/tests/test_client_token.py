"""The token endpoint for a public client: code exchange with PKCE, refresh rotation
(RFC 6749 §4.1.3, §5, §6; RFC 7636 §4.5; RFC 9700 §4.14.2)."""

import json

from client_support import (
    CLIENT_ID,
    ISSUER,
    NOW,
    REDIRECT_URI,
    VERIFY,
    make_client,
    make_metadata,
    make_transaction,
    raises,
    response,
)
from client_vectors import CODE_FLOW_ACCESS_TOKEN, JWKS, TOKENS

from spalab_auth.core.encoding import parse_query
from spalab_auth.core.errors import (
    AtHashMismatch,
    ConfigurationError,
    DiscoveryError,
    InvalidIdToken,
    InvalidTokenResponse,
    IssuerMismatch,
    NonceMismatch,
    OAuthClientError,
    TokenEndpointError,
)
from spalab_auth.core.jwt import compute_at_hash
from spalab_auth.core.session import TokenSet
from spalab_auth.core.token import (
    build_code_exchange_request,
    build_refresh_request,
    parse_refresh_response,
    parse_token_response,
)

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass


def token_body(**changes: object) -> str:
    body = {
        "access_token": CODE_FLOW_ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "refresh_token": "rt-1",
        "scope": "openid profile",
    }
    for name in changes:
        if changes[name] is None:
            body.pop(name, None)
        else:
            body[name] = changes[name]
    return json.dumps(body)


def parse(body: str, status: int = 200, **kwargs: "Any") -> TokenSet:
    return parse_token_response(
        response(status, body), make_metadata(), make_client(), NOW, make_transaction(), **kwargs
    )


def reason_of(
    body: str, error: "type[OAuthClientError]" = InvalidTokenResponse, status: int = 200, **kwargs: "Any"
) -> OAuthClientError:
    with raises(error) as caught:
        parse(body, status, **kwargs)
    return caught.error


def test_code_exchange_request_carries_the_verifier_and_no_secret() -> None:
    """RFC 6749 §4.1.3 / RFC 7636 §4.5: grant_type, code, redirect_uri, client_id, code_verifier (C3)."""
    tx = make_transaction()
    request = build_code_exchange_request(make_metadata(), make_client(), tx, "the code")
    assert (request.method, request.url) == ("POST", ISSUER + "/token")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.body is not None
    assert parse_query(request.body) == [
        ("grant_type", "authorization_code"),
        ("code", "the code"),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", CLIENT_ID),
        ("code_verifier", tx.code_verifier),
    ]
    assert "client_secret" not in request.body and "Authorization" not in request.headers


def test_code_exchange_guards() -> None:
    """RFC 9700 §4.4 / RFC 7636 §4.5: right issuer, a verifier, a code."""
    tx = make_transaction()
    tx.issuer = "https://evil.example"
    with raises(IssuerMismatch):
        build_code_exchange_request(make_metadata(), make_client(), tx, "c")
    with raises(ConfigurationError) as caught:
        build_code_exchange_request(make_metadata(), make_client(), make_transaction("token", "fragment"), "c")
    assert caught.error.reason == "missing_code_verifier"
    with raises(ConfigurationError) as caught:
        build_code_exchange_request(make_metadata(), make_client(), make_transaction(), "")
    assert caught.error.reason == "missing_code"
    with raises(DiscoveryError):
        build_code_exchange_request(
            make_metadata(code_challenge_methods_supported=None), make_client(), make_transaction(), "c"
        )


def test_successful_token_response() -> None:
    """RFC 6749 §5.1: tokens, absolute expiry from now, scopes."""
    tokens = parse(token_body())
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == (
        CODE_FLOW_ACCESS_TOKEN,
        "rt-1",
        NOW + 300,
    )
    assert tokens.scopes == ["openid", "profile"] and tokens.token_type == "Bearer"
    assert tokens.checks == [("token_response", "ok")]


def test_token_type_is_case_insensitive() -> None:
    """RFC 6749 §5.1: token_type is case-insensitive."""
    for token_type in ("bearer", "BEARER", "BeArEr"):
        assert parse(token_body(token_type=token_type)).token_type == "Bearer"


def test_omitted_scope_and_expiry() -> None:
    """RFC 6749 §5.1: omitted scope means the requested one; expires_in is optional."""
    tokens = parse(token_body(scope=None, expires_in=None, refresh_token=None))
    assert tokens.scopes == ["openid", "profile"] and tokens.expires_at is None and tokens.refresh_token is None


def test_malformed_success_responses() -> None:
    """RFC 6749 §5.1: access_token and token_type are required; members have their types."""
    cases = [
        (token_body(access_token=None), "missing_access_token"),
        (token_body(access_token=""), "missing_access_token"),
        (token_body(token_type=None), "missing_token_type"),
        (token_body(token_type="DPoP"), "unsupported_token_type"),
        (token_body(expires_in="300"), "invalid_expires_in"),
        (token_body(expires_in=-1), "invalid_expires_in"),
        (token_body(expires_in=True), "invalid_expires_in"),
        # RFC 8259 §6: no infinite numbers, though json reads 1e400 as one (sign_out then failed on it)
        (token_body(expires_in=300).replace('"expires_in": 300', '"expires_in": 1e400'), "invalid_expires_in"),
        (token_body(refresh_token=7), "malformed_parameter"),
        ("not json", "invalid_json"),
        ("[]", "invalid_json"),
    ]
    for body, reason in cases:
        assert reason_of(body).reason == reason, body


def test_error_response_carries_the_oauth_error_code() -> None:
    """RFC 6749 §5.2: the error code reaches the caller as TokenEndpointError.error."""
    body = json.dumps({"error": "invalid_grant", "error_description": "code already used"})
    error = reason_of(body, TokenEndpointError, status=400)
    assert (error.code, error.error, error.error_description, error.status) == (
        "token_endpoint_error",
        "invalid_grant",
        "code already used",
        400,
    )
    assert error.checks == [("token_response", "failed")]


def test_error_response_without_json() -> None:
    """RFC 6749 §5.2: a non-JSON failure still raises TokenEndpointError, without a code."""
    error = reason_of("<h1>Bad gateway</h1>", TokenEndpointError, status=502)
    assert (error.error, error.status, error.reason) == (None, 502, "http_status")


def test_id_token_from_the_token_endpoint_is_validated() -> None:
    """OIDC Core §3.1.3.7: the code flow's ID token is checked, nonce included."""
    tokens = parse(token_body(id_token=TOKENS["id_code_flow_at_hash"]), jwks=JWKS, verify=VERIFY)
    assert tokens.id_token_claims is not None and tokens.id_token_claims["sub"] == "alice"
    assert tokens.subject == "alice"
    assert ("nonce", "ok") in tokens.checks and ("at_hash", "ok") in tokens.checks
    with raises(NonceMismatch):
        parse(token_body(id_token=TOKENS["id_wrong_nonce"]), jwks=JWKS, verify=VERIFY)
    with raises(InvalidIdToken) as caught:
        parse(token_body(id_token=TOKENS["id_other_audience"]))
    assert caught.error.reason == "audience_mismatch"


def test_a_token_workers_stand_in_is_bound_to_the_id_token_by_the_hash_the_worker_reports() -> None:
    """OIDC Core §3.2.2.9, docs/SECURITY.md C12: the page holds a stand-in for the access token; the
    at_hash the worker computed over the real one must match the id_token's, or the answer is refused."""
    held = token_body(access_token="held-by-worker", refresh_token="held-by-worker")
    body = json.loads(held)
    body["id_token"] = TOKENS["id_code_flow_at_hash"]
    held = json.dumps(body)
    worker_hash = compute_at_hash(CODE_FLOW_ACCESS_TOKEN, "RS256")
    tokens = parse(held, jwks=JWKS, verify=VERIFY, access_token_hash=worker_hash)
    assert ("at_hash", "ok") in tokens.checks and tokens.access_token == "held-by-worker"
    with raises(AtHashMismatch):  # another token than the id_token names
        parse(held, jwks=JWKS, verify=VERIFY, access_token_hash=compute_at_hash("another-token", "RS256"))
    with raises(AtHashMismatch):  # no hash from the worker: the stand-in itself is hashed, and differs
        parse(held, jwks=JWKS, verify=VERIFY)


def test_refresh_request() -> None:
    """RFC 6749 §6: grant_type=refresh_token with client_id, no secret."""
    request = build_refresh_request(make_metadata(), make_client(), "rt-1", "openid")
    assert parse_query(request.body or "") == [
        ("grant_type", "refresh_token"),
        ("refresh_token", "rt-1"),
        ("client_id", CLIENT_ID),
        ("scope", "openid"),
    ]
    with raises(ConfigurationError):
        build_refresh_request(make_metadata(), make_client(), "")


def previous_tokens() -> TokenSet:
    return parse(token_body(id_token=TOKENS["id_code_flow"]), jwks=JWKS, verify=VERIFY)


def test_refresh_rotates_the_refresh_token() -> None:
    """RFC 9700 §4.14.2: the new refresh token replaces the old one."""
    body = token_body(access_token="at-2", refresh_token="rt-2", scope=None)
    tokens = parse_refresh_response(response(200, body), make_metadata(), make_client(), previous_tokens(), NOW + 100)
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == ("at-2", "rt-2", NOW + 400)
    assert tokens.scopes == ["openid", "profile"] and tokens.id_token == TOKENS["id_code_flow"]
    assert ("refresh_token", "rotated") in tokens.checks


def test_refresh_keeps_the_old_token_when_none_is_returned() -> None:
    """RFC 6749 §6: without a new refresh token the old one stays usable."""
    body = token_body(access_token="at-2", refresh_token=None, scope="openid")
    tokens = parse_refresh_response(response(200, body), make_metadata(), make_client(), previous_tokens(), NOW + 100)
    assert tokens.refresh_token == "rt-1" and tokens.scopes == ["openid"]
    assert ("refresh_token", "kept") in tokens.checks


def test_refreshed_id_token_must_keep_the_subject() -> None:
    """OIDC Core §12.2: iss and sub of a refreshed ID token are unchanged."""
    ok = token_body(id_token=TOKENS["id_refreshed"])
    tokens = parse_refresh_response(
        response(200, ok), make_metadata(), make_client(), previous_tokens(), NOW + 300, JWKS, VERIFY
    )
    assert tokens.id_token == TOKENS["id_refreshed"]
    bad = token_body(id_token=TOKENS["id_refreshed_other_sub"])
    with raises(InvalidIdToken) as caught:
        parse_refresh_response(
            response(200, bad), make_metadata(), make_client(), previous_tokens(), NOW + 300, JWKS, VERIFY
        )
    assert caught.error.reason == "sub_mismatch"


def test_refresh_error_is_a_token_endpoint_error() -> None:
    """RFC 9700 §4.14.2: a reused refresh token gets invalid_grant."""
    body = json.dumps({"error": "invalid_grant"})
    with raises(TokenEndpointError) as caught:
        parse_refresh_response(response(400, body), make_metadata(), make_client(), TokenSet("a", "Bearer", NOW), NOW)
    assert caught.error.error == "invalid_grant"


def test_code_exchange_for_another_client_is_refused() -> None:
    """RFC 6749 §4.1.3: client_id and redirect_uri match the authorization request."""
    tx = make_transaction()
    tx.client_id = "other-client"
    with raises(ConfigurationError) as caught:
        build_code_exchange_request(make_metadata(), make_client(), tx, "c")
    assert caught.error.reason == "transaction_client"


def test_refresh_needs_a_token_endpoint() -> None:
    """RFC 8414 §2: the refresh grant goes to the token endpoint."""
    metadata = make_metadata(token_endpoint=None, response_types_supported=["token"])
    with raises(DiscoveryError) as caught:
        build_refresh_request(metadata, make_client(), "rt-1")
    assert caught.error.reason == "missing_endpoint"


def test_a_request_that_asked_for_a_fresh_sign_in_checks_the_id_tokens_auth_time() -> None:
    """OIDC Core §3.1.2.1: the code exchange of a sign-in with max_age (prompt=login: 0) takes its id_token only
    with an auth_time no older than that (the recorded token's sign-in is from 5 s before NOW)."""
    tx = make_transaction()
    tx.max_age, tx.created_at = 0, NOW + 120  # asked two minutes after that sign-in
    body = token_body(id_token=TOKENS["id_code_flow_at_hash"])
    with raises(InvalidIdToken) as caught:
        parse_token_response(response(200, body), make_metadata(), make_client(), NOW, tx, jwks=JWKS, verify=VERIFY)
    assert caught.error.reason == "stale_sign_in"
    assert parse(body, jwks=JWKS, verify=VERIFY).id_token_claims is not None  # without max_age: as before
