"""Choosing the key and checking a JWS signature (RFC 7515 §5.2, RFC 7517, RFC 8725).

The core does everything but the public-key math: it picks exactly one JWK, insists
on an allowed algorithm, and hands ``verify(alg, jwk, signing_input, signature)`` the
bytes. The browser shell implements ``verify`` with WebCrypto; because WebCrypto is
asynchronous, the shell can run it first (``signature_input``) and pass the results
back through a ``PrecomputedVerifier``.
"""

from .errors import InvalidJwt, OAuthClientError
from .jwt import ALLOWED_ALGS, Jwt

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any, Callable

    Verifier = Callable[[str, dict[str, Any], bytes, bytes], bool]
except ImportError:
    pass

# RFC 7518 §6.2.1.1 / §6.3.1: public members only; private ones are dropped.
_PUBLIC_MEMBERS = {"RSA": ("kty", "n", "e"), "EC": ("kty", "crv", "x", "y")}
_KEY_INFO = ("kid", "alg", "use")
# RFC 7518 §3.4: an ES256 signature is R || S, 32 octets each.
_ES256_SIGNATURE_LENGTH = 64


def key_type_for(alg: str) -> "tuple[str, str | None]":
    """``(kty, crv)`` a key must have to verify ``alg`` (RFC 7518 §3.1)."""
    if alg == "ES256":
        return "EC", "P-256"
    return "RSA", None


def select_jwk(
    jwks: "dict[str, Any]", alg: str, kid: "str | None", error: "type[OAuthClientError]" = InvalidJwt
) -> "dict[str, Any]":
    """The single public JWK in ``jwks`` usable for ``alg`` (and ``kid`` when given)."""
    # RFC 7517 §5: a JWK Set is an object whose "keys" member is an array
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise error("malformed JWK Set", reason="invalid_jwks", parameter="keys")
    candidates = [key for key in jwks["keys"] if _usable(key, alg, kid)]
    # RFC 7515 §4.1.4: kid picks the key; without one the choice must be unambiguous
    if not candidates:
        raise error("no key for this token", reason="no_matching_key", parameter="kid")
    if len(candidates) > 1:
        raise error("several keys match", reason="ambiguous_key", parameter="kid")
    return _public_jwk(candidates[0])


def _usable(key: object, alg: str, kid: "str | None") -> bool:
    if not isinstance(key, dict):
        return False
    kty, crv = key_type_for(alg)
    members = _PUBLIC_MEMBERS[kty]
    return (
        key.get("kty") == kty
        and (crv is None or key.get("crv") == crv)
        and all(isinstance(key.get(name), str) for name in members)
        # RFC 7517 §4.2 / §4.3: a key restricted to other uses is not for verification
        and key.get("use", "sig") == "sig"
        and (key.get("key_ops") is None or "verify" in key["key_ops"])
        # RFC 7517 §4.4: a key bound to one algorithm is not used with another
        and key.get("alg", alg) == alg
        and (kid is None or key.get("kid") == kid)
    )


def _public_jwk(key: "dict[str, Any]") -> "dict[str, Any]":
    kept = {}
    for name in _PUBLIC_MEMBERS[key["kty"]] + _KEY_INFO:
        if name in key:
            kept[name] = key[name]
    return kept


class SignatureInput:
    """Everything ``verify`` needs: algorithm, public JWK, signed bytes, signature bytes."""

    __slots__ = ("alg", "jwk", "signing_input", "signature")

    def __init__(self, alg: str, jwk: "dict[str, Any]", signing_input: bytes, signature: bytes) -> None:
        self.alg = alg
        self.jwk = jwk
        self.signing_input = signing_input
        self.signature = signature

    def __repr__(self) -> str:
        return "SignatureInput(alg=%r, kid=%r)" % (self.alg, self.jwk.get("kid"))


def signature_input(
    jwt: Jwt,
    jwks: "dict[str, Any]",
    allowed_algs: "tuple[str, ...]" = ALLOWED_ALGS,
    error: "type[OAuthClientError]" = InvalidJwt,
) -> SignatureInput:
    """Pick the key and check the algorithm, without doing the math yet."""
    alg = jwt.alg
    # RFC 8725 §3.1 / §2.1: only algorithms chosen in advance; never "none" or HMAC
    if alg not in allowed_algs or alg not in ALLOWED_ALGS:
        raise error("algorithm not allowed", reason="alg_not_allowed", parameter="alg")
    # RFC 7518 §3.4: ES256 signatures have a fixed length
    if alg == "ES256" and len(jwt.signature) != _ES256_SIGNATURE_LENGTH:
        raise error("ES256 signature length", reason="bad_signature", parameter="signature")
    jwk = select_jwk(jwks, alg, jwt.header.get("kid"), error)
    return SignatureInput(alg, jwk, jwt.signing_input, jwt.signature)


def verify_signature(
    jwt: Jwt,
    jwks: "dict[str, Any]",
    verify: "Verifier",
    allowed_algs: "tuple[str, ...]" = ALLOWED_ALGS,
    error: "type[OAuthClientError]" = InvalidJwt,
) -> SignatureInput:
    """Raise ``error`` unless the JWS signature verifies (RFC 7515 §5.2)."""
    checked = signature_input(jwt, jwks, allowed_algs, error)
    # RFC 7515 §5.2 step 8: the signature must validate; only a real True counts
    if verify(checked.alg, checked.jwk, checked.signing_input, checked.signature) is not True:
        raise error("signature does not verify", reason="bad_signature", parameter="signature")
    return checked


class PrecomputedVerifier:
    """A ``verify`` callable answering from results the shell computed beforehand.

    Only the exact (alg, key, signing input, signature) recorded gets True; anything
    else gets False, so a swapped token or key can never borrow another's result.
    """

    __slots__ = ("_results",)

    def __init__(self) -> None:
        self._results = {}  # type: dict[tuple[object, ...], bool]

    def record(self, checked: SignatureInput, valid: bool) -> None:
        self._results[_result_key(checked.alg, checked.jwk, checked.signing_input, checked.signature)] = valid is True

    def __call__(self, alg: str, jwk: "dict[str, Any]", signing_input: bytes, signature: bytes) -> bool:
        return self._results.get(_result_key(alg, jwk, signing_input, signature), False)


def _result_key(alg: str, jwk: "dict[str, Any]", signing_input: bytes, signature: bytes) -> "tuple[object, ...]":
    material = tuple(jwk.get(name) for name in ("kty", "crv", "n", "e", "x", "y"))
    return (alg, material, bytes(signing_input), bytes(signature))
