"""The signature verifier the browser shell implements with WebCrypto, implemented for
CPython tests with ``cryptography``: ``verify(alg, jwk, signing_input, signature) -> bool``."""

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from spalab_auth.core.encoding import b64url_decode


def _int(member: str) -> int:
    return int.from_bytes(b64url_decode(member), "big")


def _rsa_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()


def _ec_key(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1()).public_key()


def cryptography_verify(alg: str, jwk: dict[str, Any], signing_input: bytes, signature: bytes) -> bool:
    """Real RS256 / PS256 / ES256 verification (RFC 7518 §3.3, §3.5, §3.4)."""
    try:
        if alg == "RS256":
            _rsa_key(jwk).verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            _rsa_key(jwk).verify(signature, signing_input, pss, hashes.SHA256())
        elif alg == "ES256":
            # JWS carries R || S; cryptography wants DER.
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            _ec_key(jwk).verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True
