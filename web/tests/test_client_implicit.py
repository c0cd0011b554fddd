"""Implicit flow defences (C6): nonce, at_hash and the token-substitution check."""

from client_support import (
    ISSUER,
    NOW,
    REDIRECT_URI,
    VERIFY,
    make_client,
    make_metadata,
    make_transaction,
    raises,
    tamper_claims,
)
from client_vectors import JWKS, OPAQUE_ACCESS_TOKEN, TOKENS

from spalab_auth.core.callback import parse_callback
from spalab_auth.core.encoding import build_query
from spalab_auth.core.errors import (
    AtHashMismatch,
    ConfigurationError,
    InvalidAccessToken,
    InvalidIdToken,
    TokenSubstitution,
)
from spalab_auth.core.implicit import implicit_signature_inputs, validate_implicit_response
from spalab_auth.core.jwks import PrecomputedVerifier
from spalab_auth.core.session import TokenSet

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass


def callback(
    response_type: str,
    access_token: str,
    id_token: "str | None" = None,
    verify: "Any" = VERIFY,
    scope: "str | None" = None,
    max_age: "int | None" = None,
    at: float = NOW,
) -> TokenSet:
    tx = make_transaction(response_type, "fragment")
    tx.max_age, tx.created_at = max_age, at
    params = [
        ("access_token", access_token),
        ("token_type", "Bearer"),
        ("expires_in", "600"),
        ("state", tx.state),
        ("iss", ISSUER),
    ]
    if id_token:
        params.append(("id_token", id_token))
    if scope:
        params.append(("scope", scope))
    result = parse_callback(REDIRECT_URI + "#" + build_query(params), tx, make_metadata(), at)
    return validate_implicit_response(result, make_metadata(), make_client(), tx, at + 1, JWKS, verify)


def test_id_token_token_with_jwt_access_token() -> None:
    """C6: id_token (nonce, at_hash) and an at+jwt naming this client both check out."""
    tokens = callback("id_token token", TOKENS["at_jwt"], TOKENS["id_for_at_jwt"])
    assert tokens.access_token == TOKENS["at_jwt"] and tokens.expires_at == NOW + 1 + 600
    assert tokens.refresh_token is None and (tokens.id_token_claims or {}).get("sub") == "alice"
    names = [name for name, outcome in tokens.checks if outcome == "ok"]
    for name in (
        "state",
        "iss",
        "nonce",
        "at_hash",
        "access_token_signature",
        "access_token_client",
        "token_binding",
    ):
        assert name in names, name


def test_opaque_access_token_bound_by_at_hash() -> None:
    """OIDC Core §3.2.2.9: an opaque token is shown to be ours by the ID token's at_hash (C6)."""
    tokens = callback("id_token token", OPAQUE_ACCESS_TOKEN, TOKENS["id_for_opaque"], scope="openid profile")
    assert tokens.scopes == ["openid", "profile"]
    assert ("token_binding", "ok") in tokens.checks


def test_token_only_with_jwt_access_token() -> None:
    """RFC 9068 §2.2: without an ID token, a JWT access token naming this client suffices (C6)."""
    tokens = callback("token", TOKENS["at_jwt"])
    assert tokens.id_token is None and tokens.scopes == ["openid", "profile"]


def test_jwt_access_token_with_azp_only_is_accepted() -> None:
    """RFC 9068 §2.2: azp names the client when client_id is absent."""
    assert callback("token", TOKENS["at_jwt_azp_only"]).access_token


def test_opaque_token_without_id_token_is_refused() -> None:
    """RFC 9700 §4.1 / C6: nothing shows an opaque token was issued to this client."""
    with raises(TokenSubstitution) as caught:
        callback("token", OPAQUE_ACCESS_TOKEN)
    assert caught.error.reason == "unbound_access_token"
    assert caught.error.checks[-1] == ("token_binding", "failed")


def test_access_token_of_another_client_is_refused() -> None:
    """RFC 9068 §2.2 / C6: a token issued to another client is a substitution."""
    with raises(TokenSubstitution) as caught:
        callback("token", TOKENS["at_jwt_other_client"])
    assert (caught.error.reason, caught.error.parameter) == ("client_id_mismatch", "client_id")


def test_access_token_naming_no_client_is_refused() -> None:
    """RFC 9068 §2.2: client_id is required in a JWT access token."""
    with raises(TokenSubstitution) as caught:
        callback("token", TOKENS["at_jwt_no_client"])
    assert caught.error.reason == "missing_client_id"


def test_jwt_without_at_jwt_type_is_treated_as_opaque() -> None:
    """RFC 9068 §2.1: only typ at+jwt marks a JWT access token; others need an at_hash."""
    with raises(TokenSubstitution) as caught:
        callback("token", TOKENS["at_jwt_plain_typ"])
    assert caught.error.reason == "unbound_access_token"


def test_access_token_from_another_issuer_is_refused() -> None:
    """RFC 9068 §4: iss of the access token is the provider's."""
    with raises(InvalidAccessToken) as caught:
        callback("token", TOKENS["at_jwt_other_issuer"])
    assert caught.error.reason == "issuer_mismatch"


def test_forged_access_token_is_refused() -> None:
    """RFC 9068 §4: the access token signature must verify (a re-labelled client_id fails)."""
    forged = tamper_claims(TOKENS["at_jwt_other_client"], client_id="spalab-spa")
    with raises(InvalidAccessToken) as caught:
        callback("token", forged)
    assert caught.error.reason == "bad_signature"


def test_swapped_access_token_fails_at_hash() -> None:
    """OIDC Core §3.2.2.9 / C6: an access token swapped in beside a genuine ID token is refused."""
    with raises(AtHashMismatch) as caught:
        callback("id_token token", TOKENS["at_jwt_other_client"], TOKENS["id_for_at_jwt"])
    assert caught.error.reason == "at_hash_mismatch"


def test_code_flow_transaction_is_refused() -> None:
    """RFC 9700 §2.1.2: only a transaction that asked for tokens may receive them."""
    tx = make_transaction("code", "query")
    result = parse_callback(
        REDIRECT_URI + "?" + build_query([("code", "c"), ("state", tx.state), ("iss", ISSUER)]),
        tx,
        make_metadata(),
    )
    with raises(ConfigurationError) as caught:
        validate_implicit_response(result, make_metadata(), make_client(), tx, NOW, JWKS, VERIFY)
    assert caught.error.reason == "not_implicit"


def test_asynchronous_verification_through_precomputed_results() -> None:
    """RFC 7515 §5.2: the shell verifies with WebCrypto first, then validation uses the results."""
    tx = make_transaction("id_token token", "fragment")
    params = [
        ("access_token", TOKENS["at_jwt"]),
        ("token_type", "Bearer"),
        ("id_token", TOKENS["id_for_at_jwt"]),
        ("state", tx.state),
        ("iss", ISSUER),
    ]
    result = parse_callback(REDIRECT_URI + "#" + build_query(params), tx, make_metadata())
    inputs = implicit_signature_inputs(result, JWKS)
    assert [item.jwk["kid"] for item in inputs] == ["rsa-1", "rsa-1"]
    verifier = PrecomputedVerifier()
    for item in inputs:
        verifier.record(item, VERIFY(item.alg, item.jwk, item.signing_input, item.signature))
    tokens = validate_implicit_response(result, make_metadata(), make_client(), tx, NOW, JWKS, verifier)
    assert tokens.id_token_claims is not None and tokens.id_token_claims["nonce"] == tx.nonce


def test_a_request_that_asked_for_a_fresh_sign_in_checks_the_id_tokens_auth_time() -> None:
    """OIDC Core §3.1.2.1: an implicit answer to a sign-in with max_age (prompt=login: 0) is taken only with
    an id_token auth_time no older than that (the recorded token's sign-in is from 5 s before NOW)."""
    with raises(InvalidIdToken) as caught:
        callback("id_token token", TOKENS["at_jwt"], TOKENS["id_for_at_jwt"], max_age=0, at=NOW + 120)
    assert caught.error.reason == "stale_sign_in"
    tokens = callback("id_token token", TOKENS["at_jwt"], TOKENS["id_for_at_jwt"], max_age=0)
    assert ("auth_time", "ok") in tokens.checks
