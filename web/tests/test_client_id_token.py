"""ID token validation (OIDC Core §3.1.3.7, §3.2.2.11): signature, claims, nonce, at_hash (C6)."""

from client_support import NOW, VERIFY, make_client, make_metadata, raises, tamper_claims, unsigned_jwt
from client_vectors import CODE_FLOW_ACCESS_TOKEN, ISSUER, JWKS, NONCE, OPAQUE_ACCESS_TOKEN, TOKENS

from spalab_auth.core.discovery import ProviderMetadata
from spalab_auth.core.errors import AtHashMismatch, InvalidIdToken, NonceMismatch, OAuthClientError
from spalab_auth.core.id_token import check_refreshed_id_token, validate_id_token

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

ALL_ALGS = make_metadata(id_token_signing_alg_values_supported=["RS256", "ES256", "PS256"])


def validate(
    name_or_token: str, metadata: "ProviderMetadata | None" = None, now: float = NOW, **kwargs: "Any"
) -> "tuple[dict[str, Any], list[tuple[str, str]]]":
    token = TOKENS.get(name_or_token, name_or_token)
    options = {  # type: dict[str, Any]
        "nonce": NONCE,
        "jwks": JWKS,
        "verify": VERIFY,
        "access_token": OPAQUE_ACCESS_TOKEN,
        "require_at_hash": True,
    }
    options.update(kwargs)
    checks = []  # type: list[tuple[str, str]]
    claims = validate_id_token(token, metadata or make_metadata(), make_client(), now, checks, **options)
    return claims, checks


def reason_of(name_or_token: str, error: "type[OAuthClientError]" = InvalidIdToken, **kwargs: "Any") -> str:
    with raises(error) as caught:
        validate(name_or_token, **kwargs)
    return caught.error.reason


def test_valid_implicit_id_token() -> None:
    """OIDC Core §3.2.2.11: signature, claims, nonce and at_hash all hold."""
    claims, checks = validate("id_for_opaque")
    assert claims["sub"] == "alice" and claims["nonce"] == NONCE
    assert checks == [
        ("id_token_signature", "ok"),
        ("id_token_claims", "ok"),
        ("nonce", "ok"),
        ("at_hash", "ok"),
    ]


def test_es256_and_ps256_when_advertised() -> None:
    """OIDC Core §3.1.3.7(7): the advertised algorithms are accepted."""
    for name in ("id_for_opaque_es256", "id_for_opaque_ps256"):
        assert validate(name, ALL_ALGS)[0]["sub"] == "alice"


def test_alg_not_advertised_is_refused() -> None:
    """OIDC Core §3.1.3.7(7): an algorithm the provider does not use for ID tokens is refused."""
    assert reason_of("id_for_opaque_es256") == "alg_not_allowed"


def test_alg_none_and_hs256_are_refused_even_without_signature_check() -> None:
    """RFC 8725 §3.1: "none" and HMAC never pass, whatever the caller skips."""
    none_token = unsigned_jwt(
        {"alg": "none"},
        {"iss": ISSUER, "aud": "spalab-spa", "sub": "a", "exp": NOW + 60, "iat": NOW, "nonce": NONCE},
    )
    for token in (none_token, TOKENS["id_hs256"]):
        assert reason_of(token) == "alg_not_allowed"
        assert reason_of(token, jwks=None, verify=None) == "alg_not_allowed"


def test_tampered_id_token_is_refused() -> None:
    """RFC 7515 §5.2: claims changed after signing break the signature."""
    assert reason_of(tamper_claims(TOKENS["id_for_opaque"], sub="mallory")) == "bad_signature"


def test_unknown_kid_is_refused() -> None:
    """RFC 7515 §4.1.4: a kid absent from the JWKS has no key."""
    assert reason_of("id_unknown_kid") == "no_matching_key"


def test_claim_failures() -> None:
    """OIDC Core §3.1.3.7(2)-(10): iss, aud, azp, exp, iat, nbf and sub."""
    cases = [  # type: list[tuple[str, dict[str, Any], str]]
        ("id_other_issuer", {}, "issuer_mismatch"),
        ("id_other_audience", {}, "audience_mismatch"),
        ("id_multi_audience_no_azp", {}, "missing_azp"),
        ("id_azp_other", {}, "azp_mismatch"),
        ("id_for_opaque", {"now": NOW + 660}, "expired"),
        ("id_for_opaque", {"now": NOW - 61}, "issued_in_future"),
        ("id_no_iat", {}, "missing_iat"),
        ("id_not_before_later", {}, "not_yet_valid"),
        ("id_no_sub", {}, "missing_sub"),
    ]
    for name, kwargs, reason in cases:
        assert reason_of(name, **kwargs) == reason, name


def test_multiple_audiences_with_our_azp_pass() -> None:
    """OIDC Core §3.1.3.7(4)-(5): several audiences are fine when azp is this client."""
    assert validate("id_multi_audience_azp")[0]["azp"] == "spalab-spa"


def test_nonce_must_match() -> None:
    """OIDC Core §3.2.2.11: the nonce sent must come back unchanged (C6)."""
    assert reason_of("id_wrong_nonce", NonceMismatch) == "nonce_mismatch"
    assert reason_of("id_no_nonce", NonceMismatch) == "missing_nonce"


def test_nonce_failure_carries_the_checks_so_far() -> None:
    """C6: the timeline shows which checks passed before the nonce failed."""
    with raises(NonceMismatch) as caught:
        validate("id_wrong_nonce")
    assert caught.error.checks == [
        ("id_token_signature", "ok"),
        ("id_token_claims", "ok"),
        ("nonce", "failed"),
    ]


def test_at_hash_must_match_the_access_token() -> None:
    """OIDC Core §3.2.2.9: at_hash binds the ID token to this access token (C6)."""
    assert reason_of("id_wrong_at_hash", AtHashMismatch) == "at_hash_mismatch"
    assert reason_of("id_for_opaque", AtHashMismatch, access_token="a-swapped-token") == "at_hash_mismatch"


def test_at_hash_is_required_in_the_implicit_flow() -> None:
    """OIDC Core §3.2.2.10: with response_type "id_token token" at_hash is required."""
    assert reason_of("id_no_at_hash", AtHashMismatch) == "missing_at_hash"
    _, checks = validate("id_no_at_hash", require_at_hash=False)
    assert ("at_hash", "skipped") in checks


def test_code_flow_id_token_without_signature_check() -> None:
    """OIDC Core §3.1.3.7(6): from the token endpoint over TLS the signature may be skipped."""
    claims, checks = validate(
        "id_code_flow_at_hash",
        jwks=None,
        verify=None,
        access_token=CODE_FLOW_ACCESS_TOKEN,
        require_at_hash=False,
    )
    assert claims["at_hash"]
    assert checks[0] == ("id_token_signature", "skipped")


def test_refreshed_id_token_must_keep_the_issuer() -> None:
    """OIDC Core §12.2: iss of a refreshed ID token is unchanged."""
    check_refreshed_id_token({"sub": "alice", "iss": ISSUER}, None)
    with raises(InvalidIdToken) as caught:
        check_refreshed_id_token({"sub": "alice", "iss": ISSUER}, {"sub": "alice", "iss": "https://old.example"})
    assert caught.error.reason == "issuer_mismatch"


def test_a_sign_in_older_than_the_request_allows_is_refused() -> None:
    """OIDC Core §3.1.2.1: a request with max_age (prompt=login sends 0) takes an id_token only with an
    auth_time no older than it allows (60 s of clock skew), else nothing shows the provider asked for the
    password again: a visitor can take the same request without its prompt from the address bar."""
    code_flow = {
        "jwks": None,
        "verify": None,
        "access_token": CODE_FLOW_ACCESS_TOKEN,
        "require_at_hash": False,
    }  # type: dict[str, Any]
    token = TOKENS["id_code_flow_at_hash"]
    since = NOW - 10
    _, checks = validate(tamper_claims(token, auth_time=since - 59), signed_in_since=since, **code_flow)
    assert checks[-1] == ("auth_time", "ok")
    stale = tamper_claims(token, auth_time=since - 61)
    assert reason_of(stale, signed_in_since=since, **code_flow) == "stale_sign_in"
    for missing in (None, "now", True):
        assert reason_of(tamper_claims(token, auth_time=missing), signed_in_since=since, **code_flow) == (
            "missing_auth_time"
        ), missing
    # Without max_age, auth_time is not looked at.
    _, checks = validate(stale, **code_flow)
    assert ("auth_time", "ok") not in checks
