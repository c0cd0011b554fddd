"""Key selection and the signature step (RFC 7515 §5.2, RFC 7517, RFC 8725)."""

from client_support import VERIFY, raises, recorded_verify, unsigned_jwt
from client_vectors import JWKS, TOKENS

from spalab_auth.core.errors import InvalidJwt
from spalab_auth.core.jwks import PrecomputedVerifier, select_jwk, signature_input, verify_signature
from spalab_auth.core.jwt import decode_jwt

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

RSA_KEY = [key for key in JWKS["keys"] if key["kid"] == "rsa-1"][0]


def key(**changes: object) -> "dict[str, Any]":
    result = dict(RSA_KEY)  # type: dict[str, object]
    result.update(changes)
    return {name: value for name, value in result.items() if value is not None}


def reason_of(jwks: "Any", alg: str = "RS256", kid: "str | None" = "rsa-1") -> str:
    with raises(InvalidJwt) as caught:
        select_jwk(jwks, alg, kid)
    return caught.error.reason


def test_key_is_selected_by_kid_kty_and_alg() -> None:
    """RFC 7515 §4.1.4: kid names the key; kty and alg must fit the algorithm."""
    assert select_jwk(JWKS, "RS256", "rsa-1")["kid"] == "rsa-1"
    assert select_jwk(JWKS, "ES256", "ec-1")["crv"] == "P-256"
    assert reason_of(JWKS, "ES256", "rsa-1") == "no_matching_key"
    assert reason_of(JWKS, "PS256", "rsa-1") == "no_matching_key"
    assert reason_of(JWKS, "RS256", "missing") == "no_matching_key"


def test_encryption_keys_are_not_used_to_verify() -> None:
    """RFC 7517 §4.2 / §4.3: use=enc or key_ops without verify exclude a key."""
    assert reason_of({"keys": [key(use="enc")]}) == "no_matching_key"
    assert reason_of({"keys": [key(key_ops=["encrypt"])]}) == "no_matching_key"
    assert select_jwk({"keys": [key(use=None, alg=None, key_ops=["verify"])]}, "RS256", "rsa-1")["n"] == RSA_KEY["n"]


def test_without_kid_the_choice_must_be_unambiguous() -> None:
    """RFC 7515 §4.1.4: without kid, exactly one candidate key may match."""
    assert select_jwk({"keys": [key(kid=None)]}, "RS256", None)["n"] == RSA_KEY["n"]
    assert reason_of({"keys": [key(kid="a"), key(kid="b")]}, kid=None) == "ambiguous_key"


def test_private_members_are_dropped() -> None:
    """RFC 7518 §6.3.2: the verifier only ever sees public members."""
    selected = select_jwk({"keys": [key(d="secret", p="x", q="y")]}, "RS256", "rsa-1")
    assert sorted(selected) == ["alg", "e", "kid", "kty", "n", "use"]


def test_malformed_jwks_is_refused() -> None:
    """RFC 7517 §5: a JWK Set is an object with a keys array."""
    bad_sets = [{}, {"keys": "x"}, [], None]  # type: list[Any]
    for bad in bad_sets:
        assert reason_of(bad) == "invalid_jwks"
    assert reason_of({"keys": ["x", {"kty": "RSA", "kid": "rsa-1"}]}) == "no_matching_key"


def test_alg_none_and_hmac_are_never_accepted() -> None:
    """RFC 8725 §3.1: "none" and HS* are refused before any key is looked at."""
    for token in (
        unsigned_jwt({"alg": "none"}, {"iss": "x"}),
        TOKENS["id_hs256"],
        unsigned_jwt({"alg": "RS512", "kid": "rsa-1"}, {}, b"x"),
    ):
        with raises(InvalidJwt) as caught:
            signature_input(decode_jwt(token), JWKS)
        assert caught.error.reason == "alg_not_allowed"


def test_alg_outside_the_callers_allow_list_is_refused() -> None:
    """RFC 8725 §2.1: the caller can narrow the algorithms further."""
    with raises(InvalidJwt) as caught:
        signature_input(decode_jwt(TOKENS["id_for_opaque_es256"]), JWKS, ("RS256",))
    assert caught.error.reason == "alg_not_allowed"


def test_es256_signature_must_be_64_bytes() -> None:
    """RFC 7518 §3.4: an ES256 signature is R || S, 64 octets."""
    with raises(InvalidJwt) as caught:
        signature_input(decode_jwt(unsigned_jwt({"alg": "ES256", "kid": "ec-1"}, {}, b"x" * 70)), JWKS)
    assert caught.error.reason == "bad_signature"


def test_verifier_receives_exact_bytes() -> None:
    """RFC 7515 §5.2: the signing input is ASCII(header.payload); the signature is decoded."""
    seen = []

    def spy(alg: str, jwk: "dict[str, Any]", signing_input: bytes, signature: bytes) -> bool:
        seen.append((alg, jwk["kid"], signing_input, signature))
        return True

    token = TOKENS["id_for_opaque"]
    verify_signature(decode_jwt(token), JWKS, spy)
    jwt = decode_jwt(token)
    assert seen == [("RS256", "rsa-1", jwt.signing_input, jwt.signature)]


def test_only_a_real_true_counts() -> None:
    """RFC 7515 §5.2 step 8: a verifier returning a truthy non-bool does not pass."""
    for answer in (False, None, 1, "yes"):
        with raises(InvalidJwt) as caught:
            verify_signature(decode_jwt(TOKENS["id_for_opaque"]), JWKS, lambda *args, answer=answer: answer)
        assert caught.error.reason == "bad_signature"


def test_recorded_tokens_verify() -> None:
    """RFC 7515 §5.2: every recorded token passes the runtime's verifier."""
    for name in TOKENS:
        if name != "id_hs256" and name != "id_unknown_kid":
            verify_signature(decode_jwt(TOKENS[name]), JWKS, VERIFY)


def test_tampered_claims_fail_verification() -> None:
    """RFC 7515 §5.2: changing one claim invalidates the signature."""
    header, claims, signature = TOKENS["id_for_opaque"].split(".")
    other_claims = TOKENS["id_wrong_nonce"].split(".")[1]
    for verify in (VERIFY, recorded_verify):
        with raises(InvalidJwt) as caught:
            verify_signature(decode_jwt(header + "." + other_claims + "." + signature), JWKS, verify)
        assert caught.error.reason == "bad_signature"


def test_precomputed_verifier_answers_only_the_recorded_input() -> None:
    """RFC 7515 §5.2: results computed asynchronously (WebCrypto) are bound to their exact input."""
    first = signature_input(decode_jwt(TOKENS["id_for_opaque"]), JWKS)
    second = signature_input(decode_jwt(TOKENS["id_wrong_nonce"]), JWKS)
    verifier = PrecomputedVerifier()
    verifier.record(first, True)
    verifier.record(second, False)
    assert verifier(first.alg, first.jwk, first.signing_input, first.signature) is True
    assert verifier(second.alg, second.jwk, second.signing_input, second.signature) is False
    assert verifier("PS256", first.jwk, first.signing_input, first.signature) is False
    assert verifier(first.alg, first.jwk, first.signing_input, second.signature) is False
