"""Token revocation (RFC 7009) for a public client."""

import json

from client_support import CLIENT_ID, ISSUER, make_client, make_metadata, raises, response

from spalab_auth.core.encoding import parse_query
from spalab_auth.core.errors import ConfigurationError, RevocationError
from spalab_auth.core.revocation import build_revocation_request, parse_revocation_response


def test_revocation_request() -> None:
    """RFC 7009 §2.1: token, token_type_hint and client_id, form-encoded POST."""
    request = build_revocation_request(make_metadata(), make_client(), "rt-1", "refresh_token")
    assert (request.method, request.url) == ("POST", ISSUER + "/revoke")
    assert parse_query(request.body or "") == [
        ("token", "rt-1"),
        ("token_type_hint", "refresh_token"),
        ("client_id", CLIENT_ID),
    ]


def test_revocation_request_guards() -> None:
    """RFC 7009 §2.1: a token is required; the hint is a registered type."""
    cases = [
        (make_metadata(), "", None, "missing_token"),
        (make_metadata(), "t", "id_token", "invalid_token_type_hint"),
        (make_metadata(revocation_endpoint=None), "t", None, "missing_endpoint"),
    ]
    for metadata, token, hint, reason in cases:
        with raises(ConfigurationError) as caught:
            build_revocation_request(metadata, make_client(), token, hint)
        assert caught.error.reason == reason


def test_revocation_success_ignores_the_body() -> None:
    """RFC 7009 §2.2: 200 means revoked (or already invalid)."""
    parse_revocation_response(response(200, "", content_type=None))  # no error raised


def test_revocation_errors() -> None:
    """RFC 7009 §2.2.1: 503 means retry; other errors carry an OAuth error code."""
    with raises(RevocationError) as caught:
        parse_revocation_response(response(503, ""))
    assert (caught.error.reason, caught.error.status) == ("unavailable", 503)
    with raises(RevocationError) as caught:
        parse_revocation_response(response(400, json.dumps({"error": "unsupported_token_type"})))
    assert (caught.error.error, caught.error.reason) == ("unsupported_token_type", "error_response")
    with raises(RevocationError) as caught:
        parse_revocation_response(response(500, "oops"))
    assert (caught.error.error, caught.error.reason) == (None, "http_status")
