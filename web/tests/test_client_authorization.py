"""The authorization request for code + PKCE and implicit (RFC 6749 §4.1.1, §4.2.1)."""

from client_support import (
    CLIENT_ID,
    ISSUER,
    REDIRECT_URI,
    make_client,
    make_metadata,
    make_transaction,
    raises,
)

from spalab_auth.core.authorization import build_authorization_url
from spalab_auth.core.encoding import parse_query
from spalab_auth.core.errors import ConfigurationError, DiscoveryError, IssuerMismatch
from spalab_auth.core.pkce import code_challenge_s256
from spalab_auth.core.urls import split_url


def params_of(url: str) -> "tuple[str, dict[str, str]]":
    base, query, fragment = split_url(url)
    assert fragment == ""
    return base, dict(parse_query(query))


def test_code_request_always_sends_s256_challenge() -> None:
    """RFC 7636 §4.3 / RFC 9700 §2.1.1: every code request carries an S256 challenge (C3)."""
    for mode in ("query", "fragment"):
        tx = make_transaction("code", mode)
        base, params = params_of(build_authorization_url(make_metadata(), make_client(), tx))
        assert base == ISSUER + "/authorize"
        assert params["code_challenge"] == code_challenge_s256(tx.code_verifier or "")
        assert params["code_challenge_method"] == "S256"
        assert params["response_type"] == "code" and params["response_mode"] == mode
        assert (params["client_id"], params["redirect_uri"], params["state"]) == (
            CLIENT_ID,
            REDIRECT_URI,
            tx.state,
        )
        assert "code_verifier" not in params


def test_implicit_request_sends_nonce_and_no_pkce() -> None:
    """OIDC Core §3.2.2.1: implicit requests carry a nonce; PKCE does not apply."""
    for response_type in ("token", "id_token token"):
        tx = make_transaction(response_type, "fragment")
        _, params = params_of(build_authorization_url(make_metadata(), make_client(), tx))
        assert params["response_type"] == response_type
        assert params["response_mode"] == "fragment"
        assert params["nonce"] == tx.nonce
        assert "code_challenge" not in params


def test_a_code_request_may_name_the_dpop_key_and_an_implicit_one_may_not() -> None:
    """RFC 9449 §10: dpop_jkt binds the code to the key that redeems it; the implicit flow has no code."""
    jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    _, params = params_of(build_authorization_url(make_metadata(), make_client(), make_transaction(), None, jkt))
    assert params["dpop_jkt"] == jkt
    _, params = params_of(build_authorization_url(make_metadata(), make_client(), make_transaction()))
    assert "dpop_jkt" not in params
    implicit = make_transaction("token", "fragment")
    with raises(ConfigurationError) as caught:
        build_authorization_url(make_metadata(), make_client(), implicit, None, jkt)
    assert caught.error.reason == "dpop_needs_code_flow"


def test_endpoint_query_is_preserved() -> None:
    """RFC 6749 §3.1: the authorization endpoint's own query is kept."""
    metadata = make_metadata(authorization_endpoint=ISSUER + "/authorize?tenant=a")
    _, params = params_of(build_authorization_url(metadata, make_client(), make_transaction()))
    assert params["tenant"] == "a" and params["response_type"] == "code"


def test_transaction_for_another_issuer_is_refused() -> None:
    """RFC 9700 §4.4: a transaction is bound to the issuer it was started for (mix-up)."""
    tx = make_transaction()
    tx.issuer = "https://other.example"
    with raises(IssuerMismatch) as caught:
        build_authorization_url(make_metadata(), make_client(), tx)
    assert caught.error.reason == "transaction_issuer"


def test_transaction_for_another_client_is_refused() -> None:
    """RFC 6749 §4.1.3: client_id and redirect_uri are those of this client."""
    tx = make_transaction()
    tx.redirect_uri = "http://localhost:8000/other"
    with raises(ConfigurationError) as caught:
        build_authorization_url(make_metadata(), make_client(), tx)
    assert caught.error.reason == "transaction_client"


def test_unadvertised_response_type_or_mode_is_refused() -> None:
    """RFC 8414 §2 / OIDC Discovery §3: only request what the provider offers."""
    with raises(ConfigurationError) as caught:
        build_authorization_url(
            make_metadata(response_types_supported=["code"]),
            make_client(),
            make_transaction("token", "fragment"),
        )
    assert caught.error.reason == "unsupported_response_type"
    with raises(ConfigurationError) as caught:
        build_authorization_url(
            make_metadata(response_modes_supported=["query"]),
            make_client(),
            make_transaction("code", "fragment"),
        )
    assert caught.error.reason == "unsupported_response_mode"


def test_code_request_needs_provider_s256() -> None:
    """RFC 9700 §2.1.1: no code request to a provider without S256 (C3)."""
    with raises(DiscoveryError) as caught:
        build_authorization_url(
            make_metadata(code_challenge_methods_supported=["plain"]), make_client(), make_transaction()
        )
    assert caught.error.reason == "pkce_s256_unsupported"


def test_code_request_needs_a_verifier() -> None:
    """RFC 7636 §4.1: the transaction must hold a verifier (C3)."""
    tx = make_transaction()
    tx.code_verifier = None
    with raises(ConfigurationError) as caught:
        build_authorization_url(make_metadata(), make_client(), tx)
    assert caught.error.reason == "missing_code_verifier"


def test_id_token_needs_openid_scope() -> None:
    """OIDC Core §3.2.2.1: an id_token is only issued for scope openid."""
    tx = make_transaction("id_token token", "fragment", scope="profile")
    with raises(ConfigurationError) as caught:
        build_authorization_url(make_metadata(), make_client("profile"), tx)
    assert caught.error.reason == "openid_scope_required"


def test_a_request_with_max_age_sends_it_and_needs_openid() -> None:
    """OIDC Core §3.1.2.1: max_age (prompt=login is max_age 0) goes with the request, which must be an
    OpenID request: only its id_token's auth_time can show how old the sign-in was."""
    tx = make_transaction()
    tx.max_age = 0
    _, params = params_of(build_authorization_url(make_metadata(), make_client(), tx, "login"))
    assert (params["prompt"], params["max_age"]) == ("login", "0")
    _, params = params_of(build_authorization_url(make_metadata(), make_client(), make_transaction()))
    assert "max_age" not in params
    oauth_only = make_transaction(scope="profile")
    oauth_only.max_age = 300
    with raises(ConfigurationError) as caught:
        build_authorization_url(make_metadata(), make_client("profile"), oauth_only)
    assert caught.error.reason == "max_age_needs_openid"
