"""Real signatures (CPython only: joserfc signs, cryptography verifies). Proves the
recorded vectors are genuine and runs the implicit and code flows end to end with
freshly signed RS256 ID tokens and RFC 9068 access tokens (C6)."""

import base64
import hashlib
import json
from typing import Any

import pytest
from client_support import (
    ISSUER,
    NOW,
    REDIRECT_URI,
    make_client,
    make_metadata,
    make_transaction,
    recorded_verify,
    response,
)
from client_vectors import CLIENT_ID, JWKS, TOKENS
from cpython_verify import cryptography_verify
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from spalab_auth.core.callback import parse_callback
from spalab_auth.core.encoding import build_query
from spalab_auth.core.errors import AtHashMismatch, InvalidAccessToken, InvalidIdToken, TokenSubstitution
from spalab_auth.core.implicit import validate_implicit_response
from spalab_auth.core.jwks import verify_signature
from spalab_auth.core.jwt import compute_at_hash, decode_jwt
from spalab_auth.core.session import TokenSet
from spalab_auth.core.token import parse_token_response


@pytest.fixture(scope="module")
def provider_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "fresh-1", "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def jwks(provider_key: RSAKey) -> dict[str, Any]:
    return {"keys": [provider_key.as_dict(private=False)]}


def sign(key: RSAKey, claims: dict[str, Any], typ: str = "JWT") -> str:
    return jwt.encode({"alg": "RS256", "typ": typ, "kid": key.kid}, claims, key, algorithms=["RS256"])


def access_token(key: RSAKey, client_id: str = CLIENT_ID) -> str:
    claims = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": ISSUER + "/api",
        "client_id": client_id,
        "scope": "openid api.read",
        "iat": NOW,
        "exp": NOW + 600,
        "jti": "j1",
    }
    return sign(key, claims, typ="at+jwt")


def id_token(key: RSAKey, nonce: str, at: "str | None" = None, **changes: object) -> str:
    claims = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "iat": NOW,
        "exp": NOW + 600,
        "auth_time": NOW,
        "nonce": nonce,
    }
    if at is not None:
        claims["at_hash"] = compute_at_hash(at, "RS256")
    claims.update(changes)
    return sign(key, claims)


def implicit(
    key: RSAKey, jwks: dict[str, Any], at: str, idt: "str | None", response_type: str = "id_token token"
) -> TokenSet:
    tx = make_transaction(response_type, "fragment")
    params = [
        ("access_token", at),
        ("token_type", "Bearer"),
        ("expires_in", "600"),
        ("state", tx.state),
        ("iss", ISSUER),
    ]
    if idt:
        params.append(("id_token", idt))
    result = parse_callback(REDIRECT_URI + "#" + build_query(params), tx, make_metadata(), NOW)
    return validate_implicit_response(result, make_metadata(), make_client(), tx, NOW, jwks, cryptography_verify)


def test_recorded_vectors_verify_with_real_math() -> None:
    """RFC 7518 §3.3-3.5: every recorded RS256/PS256/ES256 token verifies against the JWKS."""
    for name, token in TOKENS.items():
        if name in ("id_hs256", "id_unknown_kid"):
            continue
        checked = verify_signature(decode_jwt(token), JWKS, cryptography_verify)
        assert recorded_verify(checked.alg, checked.jwk, checked.signing_input, checked.signature)


def test_recorded_verifier_agrees_with_real_math_on_a_forgery() -> None:
    """RFC 7515 §5.2: a signature moved onto other claims fails both ways."""
    header, _, signature = TOKENS["id_for_opaque"].split(".")
    forged = decode_jwt(header + "." + TOKENS["id_no_nonce"].split(".")[1] + "." + signature)
    key = JWKS["keys"][0]
    assert cryptography_verify("RS256", key, forged.signing_input, forged.signature) is False
    assert recorded_verify("RS256", key, forged.signing_input, forged.signature) is False


def test_at_hash_matches_an_independent_computation() -> None:
    """OIDC Core §3.2.2.9: left half of SHA-256, base64url (checked with the stdlib base64)."""
    token = TOKENS["at_jwt"]
    expected = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()[:16]).rstrip(b"=").decode()
    assert compute_at_hash(token, "RS256") == expected


def test_fresh_id_token_and_jwt_access_token_pass(provider_key: RSAKey, jwks: dict[str, Any]) -> None:
    """C6: a joserfc-signed RS256 id_token and at+jwt access token pass every implicit check."""
    at = access_token(provider_key)
    tokens = implicit(provider_key, jwks, at, id_token(provider_key, make_transaction().nonce or "", at))
    assert ("access_token_client", "ok") in tokens.checks and ("at_hash", "ok") in tokens.checks


def test_fresh_token_for_another_client_is_refused(provider_key: RSAKey, jwks: dict[str, Any]) -> None:
    """C6 / RFC 9700 §4.1: a validly signed access token for another client is a substitution."""
    with pytest.raises(TokenSubstitution) as caught:
        implicit(provider_key, jwks, access_token(provider_key, "other-client"), None, "token")
    assert caught.value.reason == "client_id_mismatch"


def test_token_signed_by_an_unknown_key_is_refused(jwks: dict[str, Any]) -> None:
    """RFC 7515 §5.2: the same kid with another key fails the real signature check."""
    rogue = RSAKey.generate_key(2048, parameters={"kid": "fresh-1", "alg": "RS256", "use": "sig"})
    with pytest.raises(InvalidAccessToken) as caught:
        implicit(rogue, jwks, access_token(rogue), None, "token")
    assert caught.value.reason == "bad_signature"
    at = "opaque-token-value"
    with pytest.raises(InvalidIdToken) as caught_id:
        implicit(rogue, jwks, at, id_token(rogue, make_transaction().nonce or "", at))
    assert caught_id.value.reason == "bad_signature"


def test_fresh_id_token_with_wrong_at_hash_is_refused(provider_key: RSAKey, jwks: dict[str, Any]) -> None:
    """OIDC Core §3.2.2.9: the at_hash must match the access token received."""
    idt = id_token(provider_key, make_transaction().nonce or "", "some-other-token")
    with pytest.raises(AtHashMismatch):
        implicit(provider_key, jwks, "opaque-token-value", idt)


def test_es256_with_real_math() -> None:
    """RFC 7518 §3.4: ES256 signatures are R || S and verify through the same path."""
    key = ECKey.generate_key("P-256", parameters={"kid": "ec-x", "alg": "ES256", "use": "sig"})
    token = jwt.encode({"alg": "ES256", "kid": "ec-x"}, {"a": 1}, key, algorithms=["ES256"])
    jwks = {"keys": [key.as_dict(private=False)]}
    assert verify_signature(decode_jwt(token), jwks, cryptography_verify).alg == "ES256"


def test_code_flow_token_response_with_a_fresh_id_token(provider_key: RSAKey, jwks: dict[str, Any]) -> None:
    """OIDC Core §3.1.3.7: the token endpoint's id_token is verified when a JWKS is given."""
    tx = make_transaction()
    body = json.dumps(
        {
            "access_token": "at-code",
            "token_type": "Bearer",
            "expires_in": 60,
            "refresh_token": "rt",
            "id_token": id_token(provider_key, tx.nonce or ""),
        }
    )
    tokens = parse_token_response(
        response(200, body), make_metadata(), make_client(), NOW, tx, jwks, cryptography_verify
    )
    assert ("id_token_signature", "ok") in tokens.checks and tokens.subject == "alice"
