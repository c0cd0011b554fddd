"""The client's DPoP proofs, signed for real (CPython only: `cryptography` stands in for WebCrypto's
ECDSA P-256), checked by the provider's own RFC 9449 §4.3 validation (joserfc): what the client
builds is what an independent JOSE implementation accepts, not only what the client expects."""

import base64
import json
import os
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import ECKey

from spalab.provider.core import dpop as provider_dpop
from spalab.provider.core.errors import InvalidDPoPProof, UseDPoPNonce
from spalab_auth.core.dpop import jwk_thumbprint, new_proof

TOKEN_URL = "https://idp.example/token"
API_URL = "https://api.example/me"


class WebCryptoStandIn:
    """What browser.DPoPKey does with WebCrypto: sign with ECDSA P-256 / SHA-256, give R || S."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.jwk = ECKey.import_key(self.private.public_key()).as_dict(private=False)

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def proof(self, method: str, url: str, **kwargs: object) -> str:
        proof = new_proof(self.jwk, method, url, time.time(), os.urandom, **kwargs)  # type: ignore[arg-type]
        return proof.compact(self.sign(proof.signing_input))


@pytest.fixture
def key() -> WebCryptoStandIn:
    return WebCryptoStandIn()


def expected(method: str, url: str, **kwargs: object) -> provider_dpop.Expected:
    return provider_dpop.Expected(method, url, int(time.time()), **kwargs)  # type: ignore[arg-type]


def test_the_provider_accepts_the_clients_proof_and_binds_to_the_same_thumbprint(key: WebCryptoStandIn) -> None:
    sent = key.proof("POST", TOKEN_URL + "?ignored=1#too")
    assert json.loads(base64.urlsafe_b64decode(sent.split(".")[1] + "==").decode())["htu"] == TOKEN_URL
    proof = provider_dpop.validate_proof([sent], expected("POST", TOKEN_URL))
    assert proof is not None
    assert proof.jkt == jwk_thumbprint(key.jwk) == ECKey.import_key(key.jwk).thumbprint()


def test_a_resource_proof_carries_the_token_hash_the_provider_checks(key: WebCryptoStandIn) -> None:
    sent = key.proof("GET", API_URL, access_token="the-token")
    assert provider_dpop.validate_proof([sent], expected("GET", API_URL, access_token="the-token"))
    with pytest.raises(InvalidDPoPProof, match="ath"):
        provider_dpop.validate_proof([sent], expected("GET", API_URL, access_token="another-token"))


def test_the_nonce_the_server_demanded_is_the_one_the_proof_carries(key: WebCryptoStandIn) -> None:
    with pytest.raises(UseDPoPNonce):
        provider_dpop.validate_proof([key.proof("POST", TOKEN_URL)], expected("POST", TOKEN_URL, nonces=("n-1",)))
    sent = key.proof("POST", TOKEN_URL, nonce="n-1")
    assert provider_dpop.validate_proof([sent], expected("POST", TOKEN_URL, nonces=("n-1",)))


def test_a_proof_for_another_request_is_refused(key: WebCryptoStandIn) -> None:
    with pytest.raises(InvalidDPoPProof, match="htm"):
        provider_dpop.validate_proof([key.proof("GET", TOKEN_URL)], expected("POST", TOKEN_URL))
    with pytest.raises(InvalidDPoPProof, match="htu"):
        provider_dpop.validate_proof([key.proof("POST", API_URL)], expected("POST", TOKEN_URL))


def test_a_signature_by_another_key_is_refused(key: WebCryptoStandIn) -> None:
    other = WebCryptoStandIn()
    proof = new_proof(key.jwk, "POST", TOKEN_URL, time.time(), os.urandom)
    forged = proof.compact(other.sign(proof.signing_input))
    with pytest.raises(InvalidDPoPProof, match="signature"):
        provider_dpop.validate_proof([forged], expected("POST", TOKEN_URL))
