"""DPoP's pure core (RFC 9449 §4.3, §5, §7): each guard of the proof check, table-driven, and the binding
decisions. docs/SECURITY.md P30-P35."""

import json
import warnings
from typing import Any

import pytest
from dpop_support import REMOVE, TOKEN_URL, Holder, ath_of, b64url, unsigned
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from spalab.provider.core import dpop
from spalab.provider.core.errors import InvalidDPoPProof, InvalidGrant, InvalidToken, OAuthError, UseDPoPNonce
from spalab.provider.core.records import Client

NOW = 1_800_000_000
API = "http://127.0.0.1:9000/api/me"
KEY = Holder()
OTHER = Holder()
AT = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
EXPECTED = dpop.Expected("POST", TOKEN_URL, NOW)
AT_API = dpop.Expected("GET", API, NOW, access_token=AT)
NONCES = dpop.Expected("POST", TOKEN_URL, NOW, nonces=("n-current", "n-previous"))
PUBLIC = Client("spa", ("http://c/cb",))
CONFIDENTIAL = Client("conf", ("http://c/cb",), client_secret="s")
BOUND_CLIENT = Client("bound", ("http://c/cb",), dpop_bound_access_tokens=True)


def _proof(**changes: Any) -> str:
    return KEY.proof("POST", TOKEN_URL, NOW, **changes)


def _signed_by(holder: Holder, protected: dict[str, Any], **claims: Any) -> str:
    body = {"jti": "j", "htm": "POST", "htu": TOKEN_URL, "iat": NOW, **claims}
    return holder.sign_raw(protected, body)


def _valid_header(holder: Holder = KEY, **changes: Any) -> dict[str, Any]:
    return {"typ": "dpop+jwt", "alg": holder.alg, "jwk": holder.jwk, **changes}


def _with_signature_of(other: Holder) -> str:
    """KEY's header and claims, OTHER's signature."""
    header, claims, _ = _proof().split(".")
    return ".".join((header, claims, OTHER.proof("POST", TOKEN_URL, NOW).split(".")[2]))


def test_a_valid_proof_yields_its_key_thumbprint_and_jti() -> None:
    """RFC 9449 §4.3, RFC 7638: a valid proof → the SHA-256 JWK thumbprint of its key, its jti and iat."""
    proof = dpop.validate_proof([_proof(jti="the-jti")], EXPECTED)
    assert proof == dpop.Proof(KEY.jkt, "the-jti", NOW)
    assert proof.replay_key == f"{KEY.jkt}:the-jti"
    assert proof.remember_until == NOW + dpop.IAT_WINDOW + 1


def test_no_dpop_header_is_no_proof() -> None:
    """RFC 9449 §5: DPoP is optional unless the client or the token demands it (decided elsewhere)."""
    assert dpop.validate_proof([], EXPECTED) is None


with warnings.catch_warnings():
    warnings.simplefilter("ignore", SecurityWarning)  # joserfc warns: that is what the test is about
    RSA_1024 = Holder("RS256", RSAKey.generate_key(1024))
P384 = Holder("ES384")
OCT = OctKey.generate_key(256)
PRIVATE_JWK = dict(KEY.key.as_dict(private=True))
REFUSED: list[tuple[str, list[str], dpop.Expected]] = [
    # (1) one header
    ("two DPoP headers", [_proof(), _proof()], EXPECTED),
    # (2) a well-formed JWS
    ("empty", [""], EXPECTED),
    ("not a JWS", ["not-a-jws"], EXPECTED),
    ("four parts", [_proof() + ".x"], EXPECTED),
    ("non-ASCII", ["é.é.é"], EXPECTED),
    ("over-long", ["a" * 5000 + "." + "b" * 5000 + ".c"], EXPECTED),
    ("header not JSON", [b64url(b"{nope") + ".e30.c2ln"], EXPECTED),
    ("header a JSON string", [b64url(b'"xalgx"') + ".e30.c2ln"], EXPECTED),
    ("header nested too deep", [b64url(b"[" * 1500 + b"]" * 1500) + ".e30.c2ln"], EXPECTED),
    ("claims not JSON", [KEY.sign_raw(_valid_header(), b"{nope")], EXPECTED),
    ("claims a JSON array", [KEY.sign_raw(_valid_header(), b"[1]")], EXPECTED),
    ("claims nested too deep", [KEY.sign_raw(_valid_header(), b"[" * 2000 + b"]" * 2000)], EXPECTED),
    # (3) the required members, of the right types
    ("no typ", [_proof(header={"typ": REMOVE})], EXPECTED),
    ("no jwk", [_proof(header={"jwk": REMOVE})], EXPECTED),
    ("a kid besides jwk", [_proof(header={"kid": "k1"})], EXPECTED),
    ("a crit header", [_proof(header={"crit": ["exp"]})], EXPECTED),
    ("no jti", [_proof(jti=REMOVE)], EXPECTED),
    ("no htm", [_proof(htm=REMOVE)], EXPECTED),
    ("no htu", [_proof(htu=REMOVE)], EXPECTED),
    ("no iat", [_proof(iat=REMOVE)], EXPECTED),
    ("no ath at a resource", [KEY.proof("GET", API, NOW)], AT_API),
    ("empty jti", [_proof(jti="")], EXPECTED),
    ("jti not a string", [_proof(jti=7)], EXPECTED),
    ("jti over-long", [_proof(jti="j" * 257)], EXPECTED),
    ("htu not a string", [_proof(htu=[TOKEN_URL])], EXPECTED),
    ("iat a string", [_proof(iat=str(NOW))], EXPECTED),
    ("iat a boolean", [_proof(iat=True)], EXPECTED),
    ("iat infinite", [_proof(iat=float("inf"))], EXPECTED),
    ("nonce not a string", [_proof(nonce=1)], EXPECTED),
    # (4) typ
    ("typ JWT", [_proof(header={"typ": "JWT"})], EXPECTED),
    ("typ at+jwt", [_proof(header={"typ": "at+jwt"})], EXPECTED),
    # (5) an asymmetric algorithm from the list
    ("alg none, empty signature", [unsigned(_valid_header(alg="none"), {"jti": "j"})], EXPECTED),
    ("alg none, some signature", [unsigned(_valid_header(alg="none"), {"jti": "j"}) + "c2ln"], EXPECTED),
    ("alg HS256 with an oct key", [Holder("HS256", OCT).proof("POST", TOKEN_URL, NOW)], EXPECTED),
    ("alg ES512, not on the list", [_proof(header={"alg": "ES512"})], EXPECTED),
    ("alg RS256 with an EC key", [_proof(header={"alg": "RS256"})], EXPECTED),
    # (6) the signature
    ("signed by another key", [_with_signature_of(OTHER)], EXPECTED),
    ("ES256 with a P-384 key", [_signed_by(P384, _valid_header(P384, alg="ES256"))], EXPECTED),
    ("RSA key of 1024 bits", [RSA_1024.proof("POST", TOKEN_URL, NOW)], EXPECTED),
    # (7) no private key
    ("private key in jwk", [_proof(header={"jwk": PRIVATE_JWK})], EXPECTED),
    ("jwk not an object", [_proof(header={"jwk": "key"})], EXPECTED),
    ("jwk of wrong member types", [_proof(header={"jwk": {"kty": "EC", "crv": 1, "x": [], "y": {}}})], EXPECTED),
    # (8) htm
    ("htm GET at a POST", [_proof(htm="GET")], EXPECTED),
    ("htm in lower case", [_proof(htm="post")], EXPECTED),
    # (9) htu
    ("htu of another path", [_proof(htu="http://127.0.0.1:9000/revoke")], EXPECTED),
    ("htu of another host", [_proof(htu="http://localhost:9000/token")], EXPECTED),
    ("htu of another port", [_proof(htu="http://127.0.0.1:9001/token")], EXPECTED),
    ("htu of another scheme", [_proof(htu="https://127.0.0.1:9000/token")], EXPECTED),
    ("htu with a trailing slash", [_proof(htu=TOKEN_URL + "/")], EXPECTED),
    ("htu with user info", [_proof(htu="http://me@127.0.0.1:9000/token")], EXPECTED),
    ("htu unparseable", [_proof(htu="http://[::1/token")], EXPECTED),
    ("htu relative", [_proof(htu="/token")], EXPECTED),
    # (11) iat
    ("iat 61 s ago", [_proof(iat=NOW - 61)], EXPECTED),
    ("iat 61 s ahead", [_proof(iat=NOW + 61)], EXPECTED),
    # (12) ath
    ("ath of another token", [KEY.proof("GET", API, NOW, access_token=AT + "x")], AT_API),
    ("ath not base64url of SHA-256", [KEY.proof("GET", API, NOW, ath=AT)], AT_API),
]


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")  # joserfc's, about the 1024-bit key
@pytest.mark.parametrize(("label", "values", "expected"), REFUSED, ids=[case[0] for case in REFUSED])
def test_each_check_of_section_4_3_refuses_its_proof(label: str, values: list[str], expected: dpop.Expected) -> None:
    """RFC 9449 §4.3 (1)-(12), docs/SECURITY.md P30, P33: a proof failing any check is invalid_dpop_proof."""
    with pytest.raises(InvalidDPoPProof):
        dpop.validate_proof(values, expected)


ACCEPTED = [
    ("iat 60 s ago", _proof(iat=NOW - 60), EXPECTED),
    ("iat 60 s ahead", _proof(iat=NOW + 60), EXPECTED),
    ("iat with a fraction", _proof(iat=NOW + 0.5), EXPECTED),
    ("htu with query and fragment", _proof(htu=TOKEN_URL + "?a=1#frag"), EXPECTED),
    ("htu with upper-case scheme and host, default port", _proof(htu="HTTP://127.0.0.1:9000/token"), EXPECTED),
    ("htu with a percent-encoded unreserved character", _proof(htu="http://127.0.0.1:9000/%74oken"), EXPECTED),
    ("a nonce when none is demanded", _proof(nonce="anything"), EXPECTED),
    ("the current nonce", _proof(nonce="n-current"), NONCES),
    ("the previous nonce", _proof(nonce="n-previous"), NONCES),
    ("ath of the token", KEY.proof("GET", API, NOW, access_token=AT), AT_API),
    ("ES384", P384.proof("POST", TOKEN_URL, NOW), EXPECTED),
    ("extra claims", _proof(extra={"any": "thing"}), EXPECTED),
]


@pytest.mark.parametrize(("label", "value", "expected"), ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_what_section_4_3_allows_is_accepted(label: str, value: str, expected: dpop.Expected) -> None:
    """RFC 9449 §4.3 (9)-(11), RFC 3986 §6.2.2-§6.2.3: the window's edges; htu without query and fragment,
    normalized."""
    assert dpop.validate_proof([value], expected) is not None


def test_default_ports_and_case_are_normalized() -> None:
    """RFC 3986 §6.2.2, §6.2.3: scheme-based and syntax-based normalization of htu."""
    assert dpop.normalized_uri("HTTPS://IdP.Example:443") == "https://idp.example/"
    assert dpop.normalized_uri("http://[::1]:80/%7e%2f") == "http://[::1]/~%2F"
    assert dpop.normalized_uri("ftp://idp/token") is None


@pytest.mark.parametrize(
    ("label", "value"), [("no nonce", _proof()), ("an old nonce", _proof(nonce="n-older")), ("empty", _proof(nonce=""))]
)
def test_a_demanded_nonce_must_be_a_current_one(label: str, value: str) -> None:
    """RFC 9449 §4.3 (10), §8: when the server demands a nonce, any other → use_dpop_nonce."""
    with pytest.raises(UseDPoPNonce):
        dpop.validate_proof([value], NONCES)


def test_a_second_use_of_a_proof_is_refused() -> None:
    """RFC 9449 §11.1, docs/SECURITY.md P31: the store's "already seen" is invalid_dpop_proof."""
    dpop.check_jti_unused(True)
    with pytest.raises(InvalidDPoPProof):
        dpop.check_jti_unused(False)


def test_private_members_are_refused_before_the_key_is_read() -> None:
    """RFC 9449 §4.3 (7): any private or secret member of a JWK (RSA's d, p, q, dp, dq, qi, oth; oct's k)."""
    rsa = RSAKey.generate_key(2048).as_dict(private=True)
    for member in ("d", "p", "q", "dp", "dq", "qi"):
        jwk = {k: v for k, v in rsa.items() if k in ("kty", "n", "e", member)}
        with pytest.raises(InvalidDPoPProof):
            dpop.public_key({"jwk": jwk}, "RS256")
    with pytest.raises(InvalidDPoPProof):
        dpop.public_key({"jwk": {**KEY.jwk, "k": "c2VjcmV0"}}, "ES256")
    assert isinstance(dpop.public_key({"jwk": KEY.jwk}, "ES256"), ECKey)


# --- binding ----------------------------------------------------------------------------------------

PROOF = dpop.Proof(KEY.jkt, "j", NOW)
OTHER_PROOF = dpop.Proof(OTHER.jkt, "j", NOW)


def _raises(error: type[OAuthError] | None, call: Any, *args: Any) -> None:
    if error is None:
        call(*args)
    else:
        with pytest.raises(error):
            call(*args)


@pytest.mark.parametrize(
    ("client", "proof", "error"),
    [(PUBLIC, None, None), (PUBLIC, PROOF, None), (BOUND_CLIENT, None, InvalidDPoPProof), (BOUND_CLIENT, PROOF, None)],
)
def test_a_client_registered_with_dpop_bound_access_tokens_must_send_a_proof(
    client: Client, proof: dpop.Proof | None, error: type[OAuthError] | None
) -> None:
    """RFC 9449 §5.2, docs/SECURITY.md P34."""
    _raises(error, dpop.require_proof, client, proof)


def test_only_a_public_clients_refresh_token_is_bound() -> None:
    """RFC 9449 §5, docs/SECURITY.md P34: public → the proof's key; confidential or no proof → unbound."""
    assert dpop.refresh_token_binding(PUBLIC, PROOF) == KEY.jkt
    assert dpop.refresh_token_binding(CONFIDENTIAL, PROOF) is None
    assert dpop.refresh_token_binding(PUBLIC, None) is None
    assert (dpop.token_type(KEY.jkt), dpop.token_type(None)) == ("DPoP", "Bearer")


@pytest.mark.parametrize(
    ("bound", "proof", "error"),
    [
        (None, None, None),
        (None, PROOF, None),
        (KEY.jkt, PROOF, None),
        (KEY.jkt, None, InvalidDPoPProof),
        (KEY.jkt, OTHER_PROOF, InvalidGrant),
    ],
)
def test_a_bound_refresh_token_needs_a_proof_of_its_key(
    bound: str | None, proof: dpop.Proof | None, error: type[OAuthError] | None
) -> None:
    """RFC 9449 §5, docs/SECURITY.md P34: without a proof, or with another key's, the refresh fails."""
    _raises(error, dpop.check_refresh_token_binding, bound, proof)


@pytest.mark.parametrize(
    ("scheme", "bound", "proof", "error"),
    [
        (dpop.BEARER, None, None, None),
        (dpop.BEARER, KEY.jkt, None, InvalidToken),  # §7.2: the downgrade
        (dpop.DPOP, KEY.jkt, PROOF, None),
        (dpop.DPOP, KEY.jkt, None, InvalidDPoPProof),
        (dpop.DPOP, KEY.jkt, OTHER_PROOF, InvalidDPoPProof),
        (dpop.DPOP, None, PROOF, InvalidToken),
    ],
)
def test_how_a_token_is_presented_must_fit_its_binding(
    scheme: str, bound: str | None, proof: dpop.Proof | None, error: type[OAuthError] | None
) -> None:
    """RFC 9449 §7.1, §7.2, docs/SECURITY.md P35."""
    _raises(error, dpop.check_presentation, scheme, bound, proof)


def test_token_binding_reads_cnf_jkt() -> None:
    """RFC 9449 §6.1: cnf.jkt, or none for a bearer token; a malformed cnf is an invalid token."""
    assert dpop.token_binding({"cnf": {"jkt": "t"}}) == "t"
    assert dpop.token_binding({}) is None
    for cnf in ("t", {"x5t#S256": "t"}, {"jkt": 1}):
        with pytest.raises(InvalidToken):
            dpop.token_binding({"cnf": cnf})


def test_ath_is_base64url_sha256_without_padding() -> None:
    """RFC 9449 §4.2: the example of §7.1's access token and its ath."""
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert dpop.access_token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    assert dpop.access_token_hash(AT) == ath_of(AT)


def test_the_algorithms_are_asymmetric_only() -> None:
    """RFC 9449 §5.1, docs/SECURITY.md P33: no none, no MAC."""
    assert "ES256" in dpop.ALGORITHMS
    assert not [alg for alg in dpop.ALGORITHMS if alg == "none" or alg.startswith("HS")]
    assert json.loads(json.dumps(dpop.ALGORITHMS)) == list(dpop.ALGORITHMS)
