"""docs/SECURITY.md P30, P33: the token endpoint checks a DPoP proof in full (RFC 9449 §4.3), with
asymmetric algorithms only, before it looks at the grant: a refused proof leaves the code unspent."""

import warnings
from typing import Any

import pytest
from dpop_support import REMOVE, TOKEN_URL, Holder, b64url, claims_of, exchange, token_request, unsigned
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey, RSAKey
from provider_support import ISSUER, REDIRECT, Clock, Flow
from starlette.testclient import TestClient


def _code_form(flow: Flow) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": flow.code(),
        "redirect_uri": REDIRECT,
        "client_id": "spa",
        "code_verifier": flow.verifier,
    }


def _refused_then_the_code_still_works(flow: Flow, clock: Clock, proofs: list[str], error: str) -> None:
    """The proof (or proofs) is refused with `error`, and the same code then redeems with a good proof."""
    form = _code_form(flow)
    response = flow.client.post("/token", data=form, headers=[("DPoP", proof) for proof in proofs])
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"
    good = token_request(flow.client, form, Holder().proof("POST", TOKEN_URL, clock.now))
    assert good.status_code == 200, "a refused proof must not spend the code"


KEY = Holder()
NOW = Clock().now
# Each MUST of RFC 9449 §4.3, as a proof made against it (the clock's start is the test's `now`).
BAD_PROOFS: dict[str, Any] = {
    "(1) two DPoP headers": lambda: [KEY.proof("POST", TOKEN_URL, NOW), KEY.proof("POST", TOKEN_URL, NOW)],
    "(2) not a JWT": lambda: ["not-a-jwt"],
    "(3) no jti": lambda: [KEY.proof("POST", TOKEN_URL, NOW, jti=REMOVE)],
    "(3) no iat": lambda: [KEY.proof("POST", TOKEN_URL, NOW, iat=REMOVE)],
    "(3) no htm": lambda: [KEY.proof("POST", TOKEN_URL, NOW, htm=REMOVE)],
    "(3) no htu": lambda: [KEY.proof("POST", TOKEN_URL, NOW, htu=REMOVE)],
    "(3) no jwk": lambda: [KEY.proof("POST", TOKEN_URL, NOW, header={"jwk": REMOVE})],
    "(4) typ JWT": lambda: [KEY.proof("POST", TOKEN_URL, NOW, header={"typ": "JWT"})],
    "(6) signature of another key": lambda: [_resigned()],
    "(8) htm GET": lambda: [KEY.proof("GET", TOKEN_URL, NOW)],
    "(9) htu of another endpoint": lambda: [KEY.proof("POST", ISSUER + "/revoke", NOW)],
    "(9) htu of another host": lambda: [KEY.proof("POST", "http://evil.test/token", NOW)],
    "(11) iat 2 minutes old": lambda: [KEY.proof("POST", TOKEN_URL, NOW - 120)],
    "(11) iat 2 minutes ahead": lambda: [KEY.proof("POST", TOKEN_URL, NOW + 120)],
}


def _resigned() -> str:
    header, claims, _ = KEY.proof("POST", TOKEN_URL, NOW).split(".")
    return f"{header}.{claims}.{Holder().proof('POST', TOKEN_URL, NOW).split('.')[2]}"


@pytest.mark.parametrize("label", BAD_PROOFS)
def test_each_check_of_section_4_3_is_made_at_the_token_endpoint(flow: Flow, clock: Clock, label: str) -> None:
    """RFC 9449 §4.3 (1)-(11), §5: a proof failing any check → 400 invalid_dpop_proof, before the grant is used."""
    _refused_then_the_code_still_works(flow, clock, BAD_PROOFS[label](), "invalid_dpop_proof")


def test_htu_is_compared_without_query_and_fragment(flow: Flow, clock: Clock) -> None:
    """RFC 9449 §4.3 (9): query and fragment of htu are ignored; scheme and host case are normalized."""
    for htu in (TOKEN_URL + "?x=1#y", "HTTP://127.0.0.1:9000/token"):
        assert exchange(flow, KEY.proof("POST", htu, clock.now)).status_code == 200


def test_htu_is_the_issuers_url_whatever_the_host_header(flow: Flow, clock: Clock) -> None:
    """RFC 9449 §4.3 (9), docs/SECURITY.md P24: a request sent to localhost (a name the provider also answers)
    is checked against the endpoint's published URL, not one made from its Host header."""
    form = _code_form(flow)
    local = token_request(flow.client, form, KEY.proof("POST", "http://localhost:9000/token", clock.now))
    assert local.json()["error"] == "invalid_dpop_proof"
    published = KEY.proof("POST", TOKEN_URL, clock.now)
    assert token_request(flow.client, form, published, Host="localhost:9000").status_code == 200


def test_iat_at_the_edges_of_the_window_is_accepted(flow: Flow, clock: Clock) -> None:
    """RFC 9449 §4.3 (11): 60 s either way of the server's clock is accepted, 61 s not (core: test_dpop.py)."""
    for iat in (clock.now - 60, clock.now + 60):
        assert exchange(flow, KEY.proof("POST", TOKEN_URL, iat)).status_code == 200


@pytest.mark.parametrize(
    ("label", "make"),
    [
        ("alg none", lambda now: unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": KEY.jwk}, _claims(now))),
        ("alg none with a signature", lambda now: _none_with_signature(now)),
        (
            "HS256 with a symmetric key",
            lambda now: Holder("HS256", OctKey.generate_key(256)).proof("POST", TOKEN_URL, now),
        ),
        ("HS256 over an EC public key", lambda now: _hs256_over(KEY.jwk, now)),
        ("ES512, not advertised", lambda now: KEY.proof("POST", TOKEN_URL, now, header={"alg": "ES512"})),
    ],
)
def test_alg_none_and_symmetric_algorithms_are_refused(flow: Flow, clock: Clock, label: str, make: Any) -> None:
    """RFC 9449 §4.3 (5), docs/SECURITY.md P33: only the asymmetric algorithms discovery lists."""
    _refused_then_the_code_still_works(flow, clock, [make(clock.now)], "invalid_dpop_proof")


def _claims(now: int) -> dict[str, Any]:
    return {"jti": "j-" + str(now), "htm": "POST", "htu": TOKEN_URL, "iat": now}


def _none_with_signature(now: int) -> str:
    return unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": KEY.jwk}, _claims(now)) + b64url(b"sig")


def _hs256_over(jwk: dict[str, Any], now: int) -> str:
    """The classic confusion: HS256 keyed with the public key's JSON, which anyone can compute."""
    import json

    secret = OctKey.import_key(json.dumps(jwk).encode())
    holder = Holder("HS256", secret)
    return holder.sign_raw({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}, _claims(now))


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_private_key_material_in_the_header_is_refused(flow: Flow, clock: Clock, alg: str) -> None:
    """RFC 9449 §4.3 (7), docs/SECURITY.md P33: a jwk holding the private key is refused (its holder leaked it)."""
    holder = Holder(alg)
    private = dict(holder.key.as_dict(private=True))
    proof = holder.proof("POST", TOKEN_URL, clock.now, header={"jwk": private})
    _refused_then_the_code_still_works(flow, clock, [proof], "invalid_dpop_proof")


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
def test_rsa_keys_under_2048_bits_are_refused(flow: Flow, clock: Clock) -> None:
    """RFC 7518 §3.3, docs/SECURITY.md P33: RS256 and PS256 need keys of 2048 bits or more."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        small = Holder("RS256", RSAKey.generate_key(1024))
    _refused_then_the_code_still_works(flow, clock, [small.proof("POST", TOKEN_URL, clock.now)], "invalid_dpop_proof")


@pytest.mark.parametrize("alg", ["ES256", "ES384", "PS256", "RS256"])
def test_every_advertised_algorithm_binds_a_token(client: TestClient, flow: Flow, clock: Clock, alg: str) -> None:
    """RFC 9449 §5.1: each of dpop_signing_alg_values_supported works, and binds the token to its key."""
    assert alg in client.get("/.well-known/openid-configuration").json()["dpop_signing_alg_values_supported"]
    holder = Holder(alg)
    response = exchange(flow, holder.proof("POST", TOKEN_URL, clock.now))
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": holder.jkt}


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])
def test_discovery_advertises_asymmetric_dpop_algorithms_only(client: TestClient, path: str) -> None:
    """RFC 9449 §5.1, docs/SECURITY.md P33: ES256 at least; never none, never a MAC."""
    algs = client.get(path).json()["dpop_signing_alg_values_supported"]
    assert "ES256" in algs
    assert not [alg for alg in algs if alg == "none" or alg.startswith("HS")]


def test_a_proof_for_the_api_is_no_proof_for_the_token_endpoint(flow: Flow, clock: Clock) -> None:
    """RFC 9449 §4.3 (8), (9): a proof made for GET /api/me (a resource's, with ath) fails at POST /token."""
    proof = KEY.proof("GET", ISSUER + "/api/me", clock.now, access_token="x")
    _refused_then_the_code_still_works(flow, clock, [proof], "invalid_dpop_proof")


def test_an_empty_dpop_header_is_refused_not_ignored(flow: Flow, clock: Clock) -> None:
    """RFC 9449 §4.3 (2): a DPoP header is a proof or an error, never nothing (an empty one included)."""
    form = _code_form(flow)
    response = flow.client.post("/token", data=form, headers=[("DPoP", "")])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_dpop_proof")
