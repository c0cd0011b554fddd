"""Provider metadata (OIDC Discovery §4, RFC 8414) and the discovered issuer (C2)."""

import json

from client_support import ISSUER, metadata_document, raises, response

from spalab_auth.core.discovery import (
    OAUTH_AUTHORIZATION_SERVER,
    ProviderMetadata,
    build_authorization_server_request,
    build_discovery_request,
    discovery_url,
    merge_authorization_server_metadata,
    parse_discovery_response,
)
from spalab_auth.core.errors import DiscoveryError, IssuerMismatch

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass


def parse(document: object, **kwargs: "Any") -> ProviderMetadata:
    return parse_discovery_response(ISSUER, response(200, json.dumps(document)), **kwargs)


def test_discovery_request_targets_openid_configuration() -> None:
    """OIDC Discovery §4.1: GET {issuer}/.well-known/openid-configuration."""
    request = build_discovery_request(ISSUER)
    assert (request.method, request.url) == ("GET", ISSUER + "/.well-known/openid-configuration")
    assert request.body is None


def test_rfc8414_url_inserts_well_known_before_the_path() -> None:
    """RFC 8414 §3.1: the well-known segment goes between host and issuer path."""
    assert (
        discovery_url("https://idp.example", OAUTH_AUTHORIZATION_SERVER)
        == "https://idp.example/.well-known/oauth-authorization-server"
    )
    assert (
        discovery_url("https://idp.example/tenant/a", OAUTH_AUTHORIZATION_SERVER)
        == "https://idp.example/.well-known/oauth-authorization-server/tenant/a"
    )
    assert discovery_url("https://idp.example/tenant/") == "https://idp.example/tenant/.well-known/openid-configuration"


def test_unknown_well_known_suffix_is_refused() -> None:
    """RFC 8414 §3: only the registered well-known suffixes."""
    with raises(DiscoveryError) as caught:
        build_discovery_request(ISSUER, "jwks")
    assert caught.error.reason == "well_known"


def test_valid_metadata_is_remembered() -> None:
    """RFC 8414 §2 / RFC 9207 §3: endpoints and iss support are kept."""
    metadata = parse(metadata_document())
    assert metadata.issuer == ISSUER
    assert metadata.token_endpoint == ISSUER + "/token"
    assert metadata.authorization_response_iss_parameter_supported is True
    assert metadata.supports_pkce_s256()


def test_discovered_issuer_must_equal_the_configured_one() -> None:
    """OIDC Discovery §4.3 / RFC 8414 §3.3: the issuer must be identical, byte for byte (C2)."""
    for other in [
        ISSUER + "/",
        "HTTP://127.0.0.1:9000",
        "http://localhost:9000",
        "https://evil.example",
        None,
    ]:
        with raises(IssuerMismatch) as caught:
            parse(metadata_document(issuer=other) if other else metadata_document(issuer=None))
        assert caught.error.reason == "discovered_issuer"
        assert caught.error.parameter == "issuer"


def test_non_200_is_a_discovery_error() -> None:
    """RFC 8414 §3.2: success is 200 OK."""
    with raises(DiscoveryError) as caught:
        parse_discovery_response(ISSUER, response(404, "{}"))
    assert caught.error.reason == "http_status"


def test_content_type_must_be_json() -> None:
    """RFC 8414 §3.2: the response is application/json."""
    body = json.dumps(metadata_document())
    with raises(DiscoveryError) as caught:
        parse_discovery_response(ISSUER, response(200, body, content_type="text/html"))
    assert caught.error.reason == "content_type"
    metadata = parse_discovery_response(ISSUER, response(200, body, content_type="Application/JSON; charset=utf-8"))
    assert metadata.issuer == ISSUER


def test_body_must_be_a_json_object() -> None:
    """RFC 8414 §3.2: the metadata is a JSON object."""
    for body in ["[]", "<html>", ""]:
        with raises(DiscoveryError) as caught:
            parse_discovery_response(ISSUER, response(200, body))
        assert caught.error.reason == "invalid_json"


def test_required_members_must_be_present() -> None:
    """RFC 8414 §2: authorization_endpoint, token_endpoint and response_types_supported."""
    cases = [
        ("authorization_endpoint", "missing_endpoint"),
        ("token_endpoint", "missing_endpoint"),
        ("response_types_supported", "missing_parameter"),
    ]
    for name, reason in cases:
        with raises(DiscoveryError) as caught:
            parse(metadata_document(**{name: None}))
        assert (caught.error.reason, caught.error.parameter) == (reason, name)


def test_implicit_only_provider_needs_no_token_endpoint() -> None:
    """RFC 8414 §2: token_endpoint may be absent when only implicit is offered."""
    document = metadata_document(token_endpoint=None, response_types_supported=["token"])
    assert parse(document, require_code_flow=False).token_endpoint is None


def test_endpoints_must_be_https_or_loopback() -> None:
    """RFC 8414 §2: endpoints are https URLs."""
    with raises(DiscoveryError) as caught:
        parse(metadata_document(token_endpoint="http://evil.example/token"))
    assert (caught.error.reason, caught.error.parameter) == ("insecure_endpoint", "token_endpoint")
    with raises(DiscoveryError) as caught:
        parse(metadata_document(jwks_uri=ISSUER + "/jwks#x"))
    assert caught.error.reason == "endpoint_has_fragment"


def test_code_flow_requires_s256() -> None:
    """RFC 9700 §2.1.1 / RFC 8414 §2: no S256 (or no list at all) means no code flow (C3)."""
    for methods in (["plain"], None):
        with raises(DiscoveryError) as caught:
            parse(metadata_document(code_challenge_methods_supported=methods))
        assert caught.error.reason == "pkce_s256_unsupported"


def test_code_flow_requires_response_type_code() -> None:
    """RFC 8414 §2: the provider must offer response_type=code for the code flow."""
    with raises(DiscoveryError) as caught:
        parse(metadata_document(response_types_supported=["token"]))
    assert caught.error.reason == "unsupported_response_type"


def test_malformed_lists_are_refused() -> None:
    """RFC 8414 §2: *_supported members are arrays of strings."""
    with raises(DiscoveryError) as caught:
        parse(metadata_document(code_challenge_methods_supported="S256"))
    assert (caught.error.reason, caught.error.parameter) == (
        "malformed_parameter",
        "code_challenge_methods_supported",
    )


def test_iss_support_defaults_to_false_and_modes_to_query_fragment() -> None:
    """RFC 9207 §3 / OIDC Discovery §3: the documented defaults apply."""
    metadata = parse(
        metadata_document(authorization_response_iss_parameter_supported=None, response_modes_supported=None)
    )
    assert metadata.authorization_response_iss_parameter_supported is False
    assert metadata.response_modes_supported == ["query", "fragment"]
    metadata = parse(metadata_document(authorization_response_iss_parameter_supported="true"))
    assert metadata.authorization_response_iss_parameter_supported is False


def test_cached_metadata_is_revalidated() -> None:
    """C2: metadata read back from a cache passes the same issuer check."""
    metadata = parse(metadata_document())
    assert ProviderMetadata.from_json(metadata.to_json(), ISSUER).issuer == ISSUER
    with raises(IssuerMismatch):
        ProviderMetadata.from_json(metadata.to_json(), "https://other.example")


def test_missing_content_type_is_refused() -> None:
    """RFC 8414 §3.2: the response must say it is application/json."""
    with raises(DiscoveryError) as caught:
        parse_discovery_response(ISSUER, response(200, json.dumps(metadata_document()), content_type=None))
    assert caught.error.reason == "content_type"


def test_lists_must_hold_only_strings() -> None:
    """RFC 8414 §2: response_types_supported is an array of strings."""
    with raises(DiscoveryError) as caught:
        parse(metadata_document(response_types_supported=["code", 1]))
    assert caught.error.parameter == "response_types_supported"
    assert "127.0.0.1" in repr(parse(metadata_document()))


def merged(first: "dict[str, Any]", second: object) -> ProviderMetadata:
    return merge_authorization_server_metadata(parse(first), response(200, json.dumps(second)))


def test_rfc8414_request_targets_oauth_authorization_server() -> None:
    """RFC 8414 §3.1: GET /.well-known/oauth-authorization-server{issuer path}."""
    request = build_authorization_server_request(ISSUER)
    assert (request.method, request.url) == ("GET", ISSUER + "/.well-known/oauth-authorization-server")
    assert request.body is None


def test_revocation_endpoint_listed_only_in_rfc8414_metadata_is_merged() -> None:
    """OIDC Discovery §3 leaves revocation_endpoint out; RFC 8414 §2 lists it: use it."""
    first = metadata_document(revocation_endpoint=None, introspection_endpoint=None)
    metadata = merged(first, metadata_document())
    assert metadata.revocation_endpoint == ISSUER + "/revoke"
    assert metadata.introspection_endpoint == ISSUER + "/introspect"
    assert ProviderMetadata.from_json(metadata.to_json(), ISSUER).revocation_endpoint == ISSUER + "/revoke"


def test_merge_keeps_what_the_openid_document_says() -> None:
    """Only missing optional endpoints are taken; nothing else from the second document."""
    second = metadata_document(
        revocation_endpoint=ISSUER + "/other-revoke", token_endpoint=ISSUER + "/other-token", jwks_uri=ISSUER + "/k"
    )
    metadata = merged(metadata_document(introspection_endpoint=None), second)
    assert metadata.revocation_endpoint == ISSUER + "/revoke"
    assert metadata.token_endpoint == ISSUER + "/token"
    assert metadata.jwks_uri == ISSUER + "/jwks"
    assert metadata.introspection_endpoint == ISSUER + "/introspect"


def test_rfc8414_metadata_of_another_issuer_is_refused() -> None:
    """RFC 8414 §3.3: the document's issuer must equal the configured one (C2)."""
    first = metadata_document(revocation_endpoint=None)
    for other in [ISSUER + "/", "https://evil.example", None]:
        with raises(IssuerMismatch) as caught:
            merged(first, metadata_document(issuer=other, revocation_endpoint="https://evil.example/revoke"))
        assert (caught.error.reason, caught.error.parameter) == ("discovered_issuer", "issuer")


def test_rfc8414_response_must_be_usable() -> None:
    """RFC 8414 §3.2 / §2: 200, application/json, a JSON object, secure endpoints."""
    base = parse(metadata_document(revocation_endpoint=None))
    cases = [
        (response(404, "{}"), "http_status"),
        (response(200, json.dumps(metadata_document()), content_type="text/html"), "content_type"),
        (response(200, "[]"), "invalid_json"),
        (
            response(200, json.dumps(metadata_document(revocation_endpoint="http://evil.example/r"))),
            "insecure_endpoint",
        ),
        (response(200, json.dumps(metadata_document(revocation_endpoint=ISSUER + "/r#x"))), "endpoint_has_fragment"),
    ]
    for answer, reason in cases:
        with raises(DiscoveryError) as caught:
            merge_authorization_server_metadata(base, answer)
        assert caught.error.reason == reason
