"""JWT decoding, registered claims and at_hash (RFC 7519, RFC 7515, OIDC Core §3.2.2.9)."""

from client_support import ISSUER, NOW, raises, unsigned_jwt
from client_vectors import TOKENS

from spalab_auth.core.encoding import b64url_encode
from spalab_auth.core.errors import InvalidIdToken, InvalidJwt
from spalab_auth.core.jwt import compute_at_hash, decode_jwt, looks_like_jwt, validate_claims

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

CLAIMS = {"iss": ISSUER, "aud": "me", "exp": NOW + 600, "iat": NOW, "sub": "s"}


def reason_of(claims: "dict[str, Any]", now: float = NOW, audience: str = "me", **kwargs: "Any") -> str:
    with raises(InvalidJwt) as caught:
        validate_claims(claims, ISSUER, audience, now, **kwargs)
    return caught.error.reason


def changed(**changes: object) -> "dict[str, Any]":
    claims = dict(CLAIMS)
    for name in changes:
        if changes[name] is None:
            claims.pop(name)
        else:
            claims[name] = changes[name]
    return claims


def test_decode_splits_header_claims_and_signing_input() -> None:
    """RFC 7519 §7.2: header and claims are base64url JSON; the signing input is the first two parts."""
    token = TOKENS["id_for_opaque"]
    jwt = decode_jwt(token)
    assert jwt.alg == "RS256" and jwt.header["kid"] == "rsa-1"
    assert jwt.claims["iss"] == ISSUER
    assert jwt.signing_input == token.rsplit(".", 1)[0].encode()
    assert len(jwt.signature) == 256


def test_decode_rejects_malformed_tokens() -> None:
    """RFC 7515 §7.1: exactly three base64url parts, JSON object header with alg."""
    good = TOKENS["id_for_opaque"]
    header, claims, signature = good.split(".")
    bad_tokens = [
        "",
        "a.b",
        good + ".x.y",
        "a.b.c",
        header + ".!!." + signature,
        header + "." + claims + ".=",
        unsigned_jwt({"typ": "JWT"}, {"a": 1}),
        "W10." + claims + "." + signature,
        None,
        "é.é.é",
    ]
    for bad in bad_tokens:
        with raises(InvalidJwt) as caught:
            decode_jwt(bad)  # type: ignore[arg-type]  # None on purpose
        assert caught.error.reason == "malformed_jwt", bad


def test_decode_raises_the_requested_error_class() -> None:
    """STYLE §4: an ID token failure is an InvalidIdToken."""
    with raises(InvalidIdToken):
        decode_jwt("a.b", InvalidIdToken)


def test_unknown_critical_header_is_refused() -> None:
    """RFC 7515 §4.1.11: unknown critical extensions make the JWS invalid."""
    with raises(InvalidJwt) as caught:
        decode_jwt(unsigned_jwt({"alg": "RS256", "crit": ["exp"], "exp": 1}, {}, b"sig"))
    assert caught.error.reason == "unsupported_crit"


def test_looks_like_jwt() -> None:
    """RFC 7519 §7.2: opaque tokens are not mistaken for JWTs."""
    assert looks_like_jwt(TOKENS["at_jwt"])
    for opaque in ["opaque-token", "a.b.c", "x.y", ""]:
        assert not looks_like_jwt(opaque)


def test_valid_claims_pass() -> None:
    """RFC 7519 §4.1: iss, aud, exp and iat within leeway."""
    validate_claims(CLAIMS, ISSUER, "me", NOW)
    validate_claims(changed(aud=["other", "me"]), ISSUER, "me", NOW)
    validate_claims(CLAIMS, ISSUER, "me", NOW + 600 + 59)


def test_issuer_must_match() -> None:
    """RFC 7519 §4.1.1 / OIDC Core §3.1.3.7(2): iss is the expected issuer exactly."""
    assert reason_of(changed(iss=ISSUER + "/")) == "issuer_mismatch"
    assert reason_of(changed(iss=None)) == "issuer_mismatch"


def test_audience_must_contain_us() -> None:
    """RFC 7519 §4.1.3 / OIDC Core §3.1.3.7(3): aud contains the expected audience."""
    assert reason_of(changed(aud="other")) == "audience_mismatch"
    assert reason_of(changed(aud=["other"])) == "audience_mismatch"
    assert reason_of(changed(aud=None)) == "audience_mismatch"
    validate_claims(changed(aud="other"), ISSUER, None, NOW)


def test_expired_token_is_refused() -> None:
    """RFC 7519 §4.1.4: the token must not be used on or after exp (plus leeway)."""
    assert reason_of(CLAIMS, now=NOW + 600 + 60) == "expired"
    assert reason_of(CLAIMS, now=NOW + 601, leeway=0) == "expired"


def test_exp_must_be_a_number() -> None:
    """RFC 7519 §2: NumericDate is a JSON number (true is not)."""
    for bad in (None, "1800000600", True):
        assert reason_of(changed(exp=bad)) == "missing_exp"


def test_not_before_is_enforced() -> None:
    """RFC 7519 §4.1.5: the token must not be used before nbf (minus leeway)."""
    assert reason_of(changed(nbf=NOW + 61)) == "not_yet_valid"
    assert reason_of(changed(nbf="soon")) == "not_yet_valid"
    validate_claims(changed(nbf=NOW + 59), ISSUER, "me", NOW)


def test_iat_in_the_future_is_refused() -> None:
    """OIDC Core §3.1.3.7(10): iat is required and not in the future."""
    assert reason_of(changed(iat=NOW + 61)) == "issued_in_future"
    assert reason_of(changed(iat=None)) == "missing_iat"
    validate_claims(changed(iat=None), ISSUER, "me", NOW, require_iat=False)


def test_at_hash_is_left_half_of_sha256() -> None:
    """OIDC Core §3.2.2.9: FIPS 180-2 "abc" digest ba7816bf…2223, left 16 bytes, base64url."""
    assert compute_at_hash("abc", "RS256") == "ungWv48Bz-pBQUDeXa4iIw"
    assert compute_at_hash("abc", "ES256") == compute_at_hash("abc", "PS256")


def test_at_hash_refuses_other_algs_and_non_ascii() -> None:
    """OIDC Core §3.2.2.9: the hash follows alg; the token is ASCII."""
    for alg in ("none", "HS256", "RS512"):
        with raises(InvalidJwt) as caught:
            compute_at_hash("abc", alg)
        assert caught.error.reason == "alg_not_allowed"
    with raises(InvalidJwt) as caught:
        compute_at_hash("abé", "RS256")
    assert caught.error.reason == "malformed_access_token"


def test_non_utf8_parts_are_refused() -> None:
    """RFC 7519 §7.2: header and claims are UTF-8 JSON."""
    with raises(InvalidJwt) as caught:
        decode_jwt(b64url_encode(b"\xff\xfe") + ".e30.c2ln")
    assert caught.error.reason == "malformed_jwt"
    assert "RS256" in repr(decode_jwt(TOKENS["id_for_opaque"]))
