"""DPoP (RFC 9449) from the client's side: the proof's header and claims, the key thumbprint,
server nonces and the retry they allow, the binding a token response must show, and the
Authorization: DPoP request. The signature is the platform's; test_cpython_dpop.py signs these
proofs for real and has the provider's own checks (joserfc) accept them."""

import json

from client_support import (
    ISSUER,
    NOW,
    counting_random_bytes,
    make_client,
    make_metadata,
    make_transaction,
    raises,
    response,
)
from client_vectors import CODE_FLOW_ACCESS_TOKEN

from spalab_auth.core.api import api_error, build_api_request
from spalab_auth.core.discovery import check_dpop_support
from spalab_auth.core.dpop import (
    RESOURCE,
    TOKEN_ENDPOINT,
    access_token_hash,
    jwk_thumbprint,
    new_proof,
    public_jwk,
    response_nonce,
    retry_nonce,
)
from spalab_auth.core.encoding import b64url_decode
from spalab_auth.core.errors import ConfigurationError, DiscoveryError, InvalidTokenResponse
from spalab_auth.core.messages import HttpResponse
from spalab_auth.core.session import TokenSet
from spalab_auth.core.token import parse_refresh_response, parse_token_response

# RFC 9449 §4.3's example key, whose thumbprint §6.1 gives.
JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
API = "https://api.example/me"


def decoded(part: str) -> "dict[str, object]":
    value = json.loads(b64url_decode(part).decode())
    assert isinstance(value, dict)
    return value


def proof_parts(proof: str) -> "tuple[dict[str, object], dict[str, object], bytes]":
    header, claims, signature = proof.split(".")
    return decoded(header), decoded(claims), b64url_decode(signature)


def test_thumbprint_is_rfc_7638_over_the_public_members() -> None:
    """RFC 7638 §3 / RFC 9449 §6.1: the jkt the provider puts in cnf; members a browser adds do not count."""
    assert jwk_thumbprint(JWK) == JKT
    exported = dict(JWK, ext=True, key_ops=["verify"])  # what WebCrypto's exportKey("jwk") adds
    assert jwk_thumbprint(exported) == JKT


def test_the_proof_carries_only_the_public_key() -> None:
    """RFC 9449 §4.2: the header's jwk is the public key; private material is refused, never sent."""
    assert public_jwk(dict(JWK, ext=True, key_ops=["verify"])) == {
        "kty": "EC",
        "crv": "P-256",
        "x": JWK["x"],
        "y": JWK["y"],
    }
    for bad in (dict(JWK, d="secret"), dict(JWK, kty="RSA"), dict(JWK, crv="P-384"), dict(JWK, x="short"), {}):
        with raises(ConfigurationError) as caught:
            public_jwk(bad)
        assert caught.error.reason == "invalid_dpop_key"


def test_a_proof_names_the_request_without_query_or_fragment() -> None:
    """RFC 9449 §4.2: typ dpop+jwt, alg ES256, jwk; jti, htm, htu (no query, no fragment), iat."""
    proof = new_proof(JWK, "POST", ISSUER + "/token?x=1#frag", NOW + 0.7, counting_random_bytes())
    assert proof.header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(JWK)}
    assert proof.claims["htm"] == "POST" and proof.claims["htu"] == ISSUER + "/token"
    assert proof.claims["iat"] == int(NOW) and isinstance(proof.claims["iat"], int)
    assert len(b64url_decode(str(proof.claims["jti"]))) == 16
    assert "nonce" not in proof.claims and "ath" not in proof.claims
    compact = proof.compact(bytes(range(64)))
    header, claims, signature = proof_parts(compact)
    assert (header, claims, signature) == (proof.header, proof.claims, bytes(range(64)))
    assert compact.rsplit(".", 1)[0].encode() == proof.signing_input


def test_every_proof_has_a_new_jti() -> None:
    """RFC 9449 §4.2, §11.1: jti is unique per proof, so a server can refuse a replayed one."""
    random_bytes = counting_random_bytes()
    first = new_proof(JWK, "GET", API, NOW, random_bytes)
    second = new_proof(JWK, "GET", API, NOW, random_bytes)
    assert first.claims["jti"] != second.claims["jti"]


def test_a_proof_for_a_resource_hashes_the_access_token() -> None:
    """RFC 9449 §4.2: ath = base64url(SHA-256(access token)), binding proof and token."""
    proof = new_proof(JWK, "GET", API, NOW, counting_random_bytes(), access_token="Kz~8qw")
    # SHA-256("Kz~8qw"), base64url without padding, computed with CPython's hashlib and base64
    assert proof.claims["ath"] == access_token_hash("Kz~8qw") == "6TGL4hSG56x5ejjYjqqWHzS0fkSj1Y9GAOyjZXoZvQ4"


def test_the_server_nonce_goes_back_verbatim_and_malformed_ones_are_refused() -> None:
    """RFC 9449 §8.1: nonce = 1*NQCHAR; anything else would change the JSON or the header."""
    proof = new_proof(JWK, "POST", ISSUER + "/token", NOW, counting_random_bytes(), nonce="eyJ7S_zG.eyJH0-Z.HX4w")
    assert proof.claims["nonce"] == "eyJ7S_zG.eyJH0-Z.HX4w"
    for bad in ("", 'a"b', "a\\b", "a b", "é", "x" * 1025):
        with raises(ConfigurationError) as caught:
            new_proof(JWK, "POST", ISSUER + "/token", NOW, counting_random_bytes(), nonce=bad)
        assert caught.error.reason == "invalid_dpop_nonce"


def test_method_must_be_the_request_method() -> None:
    with raises(ConfigurationError) as caught:
        new_proof(JWK, "post", ISSUER + "/token", NOW, counting_random_bytes())
    assert caught.error.reason == "invalid_htm"


def test_an_es256_signature_is_64_octets() -> None:
    """RFC 7518 §3.4: R || S; a DER signature (what other libraries return) is refused, not sent."""
    proof = new_proof(JWK, "GET", API, NOW, counting_random_bytes())
    for length in (0, 63, 65, 72):
        with raises(ConfigurationError):
            proof.compact(bytes(length))


def use_dpop_nonce_at_token_endpoint(nonce: str = "n-1") -> HttpResponse:
    body = json.dumps({"error": "use_dpop_nonce", "error_description": "send the nonce"})
    return response(400, body, DPoP_Nonce=nonce)


def test_the_token_endpoint_asks_for_a_nonce_with_400_use_dpop_nonce() -> None:
    """RFC 9449 §8: 400, error use_dpop_nonce and a DPoP-Nonce header: retry with that nonce."""
    demanded = use_dpop_nonce_at_token_endpoint()
    assert retry_nonce(demanded, TOKEN_ENDPOINT) == "n-1"
    assert retry_nonce(response(400, '{"error": "invalid_dpop_proof"}', DPoP_Nonce="n-1"), TOKEN_ENDPOINT) is None
    assert retry_nonce(response(400, '{"error": "use_dpop_nonce"}'), TOKEN_ENDPOINT) is None  # no nonce given
    assert retry_nonce(response(400, "not json", DPoP_Nonce="n-1"), TOKEN_ENDPOINT) is None
    assert retry_nonce(response(400, '{"error": "use_dpop_nonce"}', DPoP_Nonce='bad"'), TOKEN_ENDPOINT) is None
    assert retry_nonce(demanded, RESOURCE) is None  # a resource says it in WWW-Authenticate


def test_a_resource_asks_for_a_nonce_with_401_and_a_dpop_challenge() -> None:
    """RFC 9449 §9: 401, WWW-Authenticate: DPoP error="use_dpop_nonce", and DPoP-Nonce."""
    challenge = 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"'
    demanded = response(401, "", WWW_Authenticate=challenge, DPoP_Nonce="r-1")
    assert retry_nonce(demanded, RESOURCE) == "r-1"
    bearer = response(401, "", WWW_Authenticate='Bearer error="use_dpop_nonce"', DPoP_Nonce="r-1")
    assert retry_nonce(bearer, RESOURCE) is None
    invalid = response(401, "", WWW_Authenticate='DPoP error="invalid_token"', DPoP_Nonce="r-1")
    assert retry_nonce(invalid, RESOURCE) is None
    assert api_error(invalid).error == "invalid_token"
    both = response(401, "", WWW_Authenticate='Bearer realm="api", DPoP algs="ES256", error="invalid_token"')
    assert api_error(both).error == "invalid_token"  # RFC 9449 §7.2: the scheme that names the error


def test_a_nonce_in_a_successful_answer_is_kept_for_next_time() -> None:
    """RFC 9449 §8.2: a server may hand out the next nonce with any answer."""
    assert response_nonce(response(200, "{}", DPoP_Nonce=" next ")) == "next"
    assert response_nonce(response(200, "{}")) is None
    assert response_nonce(response(200, "{}", DPoP_Nonce="a b")) is None


def token_body(token_type: str) -> str:
    return json.dumps(
        {"access_token": CODE_FLOW_ACCESS_TOKEN, "token_type": token_type, "expires_in": 300, "refresh_token": "rt-1"}
    )


def test_a_token_asked_for_with_a_proof_must_come_back_bound() -> None:
    """RFC 9449 §5 / docs/SECURITY.md C11: token_type DPoP, or the answer is refused: a Bearer token
    would let anyone who copies it use it, which is what the app asked DPoP to prevent."""
    tokens = parse_token_response(
        response(200, token_body("DPoP")), make_metadata(), make_client(), NOW, make_transaction(), dpop=True
    )
    assert tokens.token_type == "DPoP"
    assert ("token_type_dpop", "ok") in tokens.checks
    for token_type in ("Bearer", "bearer", "N_A"):
        with raises(InvalidTokenResponse) as caught:
            parse_token_response(
                response(200, token_body(token_type)),
                make_metadata(),
                make_client(),
                NOW,
                make_transaction(),
                dpop=True,
            )
        assert (caught.error.reason, caught.error.parameter) == ("token_not_bound", "token_type")


def test_a_refresh_with_a_proof_must_stay_bound() -> None:
    previous = TokenSet("old", "DPoP", NOW - 100, NOW + 200, ["openid"], "rt-0")
    fresh = parse_refresh_response(
        response(200, token_body("dpop")), make_metadata(), make_client(), previous, NOW, dpop=True
    )
    assert fresh.token_type == "DPoP"
    with raises(InvalidTokenResponse) as caught:
        parse_refresh_response(
            response(200, token_body("Bearer")), make_metadata(), make_client(), previous, NOW, dpop=True
        )
    assert caught.error.reason == "token_not_bound"


def test_a_bound_token_goes_with_its_proof_and_the_dpop_scheme() -> None:
    """RFC 9449 §7.1: Authorization: DPoP <token> and the proof in DPoP; never as Bearer."""
    request = build_api_request(API, "tok-1", token_type="DPoP", proof="a.b.c")
    assert request.headers["Authorization"] == "DPoP tok-1" and request.headers["DPoP"] == "a.b.c"
    with raises(ConfigurationError) as caught:
        build_api_request(API, "tok-1", token_type="DPoP")
    assert caught.error.reason == "missing_dpop_proof"
    with raises(ConfigurationError) as caught:
        build_api_request(API, "tok-1", proof="a.b.c")
    assert caught.error.reason == "unexpected_dpop_proof"
    with raises(ConfigurationError) as caught:
        build_api_request(API, "tok-1", token_type="MAC")
    assert caught.error.reason == "unsupported_token_type"
    assert build_api_request(API, "tok-1").headers["Authorization"] == "Bearer tok-1"


def test_a_provider_that_lists_its_dpop_algorithms_must_list_es256() -> None:
    """RFC 9449 §5.1: refused before the sign-in when ES256 is not among them; a provider that lists
    none may still bind (the token response then tells)."""
    check_dpop_support(make_metadata(dpop_signing_alg_values_supported=["ES256", "PS256"]))
    check_dpop_support(make_metadata())
    with raises(DiscoveryError) as caught:
        check_dpop_support(make_metadata(dpop_signing_alg_values_supported=["RS256"]))
    assert caught.error.reason == "dpop_alg_unsupported"
