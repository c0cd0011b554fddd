"""Calling the protected API with a Bearer token (RFC 6750) and reading refusals."""

import json

from client_support import ISSUER, make_metadata, raises, response

from spalab_auth.core.api import (
    bearer_challenge,
    build_api_request,
    build_userinfo_request,
    parse_api_response,
    parse_challenges,
    parse_userinfo_response,
)
from spalab_auth.core.errors import ApiError, ConfigurationError

API = ISSUER + "/api/hello"


def test_token_goes_in_the_authorization_header_only() -> None:
    """RFC 6750 §2.1 / RFC 9700 §2.4: Authorization: Bearer, never the URL."""
    request = build_api_request(API, "abc.DEF-_~+/==")
    assert (request.method, request.url, request.body) == ("GET", API, None)
    assert request.headers["Authorization"] == "Bearer abc.DEF-_~+/=="


def test_token_in_the_url_is_refused() -> None:
    """RFC 6750 §5.3: access tokens are not passed in page URLs."""
    with raises(ConfigurationError) as caught:
        build_api_request(API + "?access_token=abc", "abc")
    assert caught.error.reason == "token_in_url"


def test_non_b64token_values_are_refused() -> None:
    """RFC 6750 §2.1: the credential is a b64token, so nothing can be smuggled into headers."""
    for bad in ("", "a b", "abc\r\nX-Evil: 1", "é", "==", None):
        with raises(ConfigurationError) as caught:
            build_api_request(API, bad)  # type: ignore[arg-type]  # None on purpose
        assert caught.error.reason == "invalid_access_token"


def test_userinfo_request_and_sub_check() -> None:
    """OIDC Core §5.3.4: UserInfo sub must equal the ID token's sub."""
    request = build_userinfo_request(make_metadata(), "tok")
    assert request.url == ISSUER + "/userinfo"
    assert parse_userinfo_response(response(200, json.dumps({"sub": "alice"})), "alice") == {"sub": "alice"}
    with raises(ApiError) as caught:
        parse_userinfo_response(response(200, json.dumps({"sub": "mallory"})), "alice")
    assert caught.error.reason == "sub_mismatch"
    with raises(ConfigurationError):
        build_userinfo_request(make_metadata(userinfo_endpoint=None), "tok")


def test_success_bodies() -> None:
    """RFC 9110 §8.3: JSON when labelled JSON, otherwise text."""
    assert parse_api_response(response(200, '{"hello": "alice"}')) == {"hello": "alice"}
    assert parse_api_response(response(200, "hi", content_type="text/plain")) == "hi"
    with raises(ApiError) as caught:
        parse_api_response(response(200, "{"))
    assert caught.error.reason == "invalid_json"


def test_refusal_carries_the_www_authenticate_error() -> None:
    """RFC 6750 §3.1: invalid_token (401) and insufficient_scope (403) reach the caller."""
    header = 'Bearer realm="api", error="invalid_token", error_description="The token \\"expired\\""'
    with raises(ApiError) as caught:
        parse_api_response(response(401, "", WWW_Authenticate=header))
    error = caught.error
    assert (error.code, error.status, error.error, error.error_description) == (
        "api_error",
        401,
        "invalid_token",
        'The token "expired"',
    )
    with raises(ApiError) as caught:
        parse_api_response(response(403, "", www_authenticate='Bearer error=insufficient_scope, scope="api.write"'))
    assert caught.error.error == "insufficient_scope"


def test_refusal_without_a_challenge() -> None:
    """RFC 6750 §3: a plain failure has no error code."""
    with raises(ApiError) as caught:
        parse_api_response(response(500, "boom"))
    assert (caught.error.status, caught.error.error, caught.error.reason) == (500, None, "http_status")


def test_challenge_parser_handles_several_schemes() -> None:
    """RFC 9110 §11.6.1: a header may carry several challenges; Bearer is picked."""
    header = 'Basic realm="x", DPoP algs="ES256", Bearer error="invalid_token", realm="api"'
    assert [scheme for scheme, _ in parse_challenges(header)] == ["Basic", "DPoP", "Bearer"]
    assert bearer_challenge(header) == {"error": "invalid_token", "realm": "api"}
    assert bearer_challenge("") == {} and bearer_challenge("Basic abc==") == {}


def test_userinfo_refusal_is_an_api_error() -> None:
    """OIDC Core §5.3.3: a UserInfo error is reported like any protected resource's."""
    header = 'Bearer error="invalid_token"'
    with raises(ApiError) as caught:
        parse_userinfo_response(response(401, "", www_authenticate=header), "alice")
    assert (caught.error.status, caught.error.error) == (401, "invalid_token")
