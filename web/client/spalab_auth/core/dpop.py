"""DPoP (RFC 9449) for a public client: the proof's header and claims, the key's thumbprint,
the server nonces, and what the answers must say. The signature itself is the platform's
(the shell signs ``ProofInput.signing_input`` with a non-extractable WebCrypto key).

    proof = new_proof(public_jwk, "POST", token_endpoint, now, random_bytes, nonce)
    signature = <ECDSA P-256 / SHA-256 over proof.signing_input, as raw r || s>
    request.headers["DPoP"] = proof.compact(signature)

A nonce demanded by a server (``use_dpop_nonce`` with a ``DPoP-Nonce`` header) is kept per
server and the request sent again once (RFC 9449 §8, §9); ``retry_nonce`` says when.
"""

import hashlib
import json

from .api import challenge_params
from .encoding import b64url_decode, b64url_encode, parse_json_object
from .errors import ConfigurationError, InvalidEncoding, InvalidTokenResponse
from .messages import HttpResponse
from .urls import split_url

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

TYP = "dpop+jwt"
# RFC 9449 §4.2 / RFC 7518 §3.4: the client signs with ECDSA P-256 and SHA-256, which every
# engine's WebCrypto offers with non-extractable keys.
ALG = "ES256"
CURVE = "P-256"
# RFC 7518 §3.4: an ES256 signature is R || S, 32 octets each.
SIGNATURE_BYTES = 64
# RFC 9449 §4.2: jti with enough entropy to be unique: 16 random octets (128 bits).
JTI_BYTES = 16
NONCE_HEADER = "DPoP-Nonce"
USE_DPOP_NONCE = "use_dpop_nonce"
# RFC 9449 §8.1: nonce = 1*NQCHAR; NQCHAR = %x21 / %x23-5B / %x5D-7E
MAX_NONCE = 1024
# Which of a server's nonces: the authorization server's token endpoint (§8) or a resource (§9).
TOKEN_ENDPOINT, RESOURCE = "token_endpoint", "resource"


def public_jwk(jwk: "dict[str, Any]") -> "dict[str, str]":
    """The public EC key members a proof carries (RFC 9449 §4.2: ``jwk`` never holds a private
    part), taken from what WebCrypto exported: kty, crv, x, y, nothing else."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != CURVE:
        raise ConfigurationError("the DPoP key is not an EC P-256 key", reason="invalid_dpop_key", parameter="jwk")
    if "d" in jwk:
        # docs/SECURITY.md C11: private key material never leaves the platform
        raise ConfigurationError("the DPoP public key holds a private part", reason="invalid_dpop_key", parameter="jwk")
    for name in ("x", "y"):
        # RFC 7518 §6.2.1.2: a P-256 coordinate is 32 octets, base64url
        value = jwk.get(name)
        try:
            octets = b64url_decode(value) if isinstance(value, str) else b""
        except InvalidEncoding:
            octets = b""
        if len(octets) != 32:
            raise ConfigurationError("malformed DPoP public key", reason="invalid_dpop_key", parameter=name)
    return {"kty": "EC", "crv": CURVE, "x": jwk["x"], "y": jwk["y"]}


def jwk_thumbprint(jwk: "dict[str, Any]") -> str:
    """RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace;
    the ``jkt`` a provider binds the tokens to (``cnf.jkt``, RFC 9449 §6)."""
    key = public_jwk(jwk)
    # RFC 7638 §3.2: {"crv":..,"kty":..,"x":..,"y":..}; the values are base64url, so nothing to escape
    canonical = '{"crv":"%s","kty":"EC","x":"%s","y":"%s"}' % (key["crv"], key["x"], key["y"])
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(access_token: str) -> str:
    """RFC 9449 §4.2: ``ath`` = base64url(SHA-256(ASCII(access_token)))."""
    return b64url_encode(hashlib.sha256(access_token.encode()).digest())


def htu(url: str) -> str:
    """RFC 9449 §4.2: the target URI without query and fragment."""
    return split_url(url)[0]


class ProofInput:
    """A proof's header and claims, ready to be signed; ``compact(signature)`` is the DPoP header."""

    __slots__ = ("header", "claims", "signing_input")

    def __init__(self, header: "dict[str, Any]", claims: "dict[str, Any]") -> None:
        self.header = header
        self.claims = claims
        # RFC 7515 §5.1: ASCII(BASE64URL(header) || "." || BASE64URL(payload))
        encoded = _b64_json(header) + "." + _b64_json(claims)
        self.signing_input = encoded.encode()

    def compact(self, signature: bytes) -> str:
        """RFC 7515 §7.1: the compact JWS, with the platform's raw R || S signature."""
        if len(signature) != SIGNATURE_BYTES:
            raise ConfigurationError("an ES256 signature is 64 octets", reason="invalid_signature", parameter="DPoP")
        return self.signing_input.decode() + "." + b64url_encode(signature)


def new_proof(
    jwk: "dict[str, Any]",
    method: str,
    url: str,
    now: float,
    random_bytes: "Any",
    nonce: "str | None" = None,
    access_token: "str | None" = None,
) -> ProofInput:
    """The proof for one request (RFC 9449 §4.2): typ, alg and the public jwk in the header;
    jti, htm, htu, iat, and nonce / ath when the request needs them."""
    if not isinstance(method, str) or not method or method.upper() != method:
        raise ConfigurationError("htm is the request's method, upper case", reason="invalid_htm", parameter="htm")
    target = htu(url)
    header = {"typ": TYP, "alg": ALG, "jwk": public_jwk(jwk)}
    claims = {
        "jti": b64url_encode(random_bytes(JTI_BYTES)),
        "htm": method,
        "htu": target,
        "iat": int(now),
    }  # type: dict[str, Any]
    if nonce is not None:
        check_nonce(nonce)
        claims["nonce"] = nonce
    if access_token is not None:
        # RFC 9449 §4.2: a proof sent with an access token hashes it, binding the two
        claims["ath"] = access_token_hash(access_token)
    return ProofInput(header, claims)


def check_nonce(nonce: object) -> str:
    """A server's nonce, which goes back verbatim in a JSON claim: 1*NQCHAR (RFC 9449 §8.1)."""
    if not isinstance(nonce, str) or not nonce or len(nonce) > MAX_NONCE:
        raise ConfigurationError("malformed DPoP nonce", reason="invalid_dpop_nonce", parameter="nonce")
    for char in nonce:
        code = ord(char)
        if code < 0x21 or code > 0x7E or char in '"\\':
            raise ConfigurationError("malformed DPoP nonce", reason="invalid_dpop_nonce", parameter="nonce")
    return nonce


def response_nonce(response: HttpResponse) -> "str | None":
    """The nonce the server supplied in ``DPoP-Nonce`` (RFC 9449 §8.1, §8.2), if a well-formed one."""
    value = response.header(NONCE_HEADER)
    if value is None:
        return None
    try:
        return check_nonce(value.strip())
    except ConfigurationError:
        return None


def retry_nonce(response: HttpResponse, server: str) -> "str | None":
    """The nonce to send the request again with, exactly once, or None (RFC 9449 §8, §9):
    the token endpoint answers 400 ``use_dpop_nonce``, a resource 401 with a DPoP challenge
    whose error is ``use_dpop_nonce``; either with a ``DPoP-Nonce`` header."""
    nonce = response_nonce(response)
    if nonce is None:
        return None
    if server == TOKEN_ENDPOINT:
        if response.status != 400:
            return None
        try:
            error = parse_json_object(response.body, InvalidTokenResponse).get("error")
        except InvalidTokenResponse:
            return None
        return nonce if error == USE_DPOP_NONCE else None
    if response.status == 401 and challenge_params(response, "dpop").get("error") == USE_DPOP_NONCE:
        return nonce
    return None


def _b64_json(value: "dict[str, Any]") -> str:
    return b64url_encode(json.dumps(value).encode())
