"""Shared helpers for the client core's tests, in portable Python: they run under
pytest on CPython and under portable_runner.py on MicroPython."""

import json

import client_vectors as vectors

from spalab_auth.core.config import ClientConfig
from spalab_auth.core.discovery import ProviderMetadata
from spalab_auth.core.encoding import b64url_decode, b64url_encode
from spalab_auth.core.errors import OAuthClientError
from spalab_auth.core.jwt import decode_jwt
from spalab_auth.core.messages import HttpResponse
from spalab_auth.core.transaction import Transaction, new_transaction

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any, Callable
except ImportError:
    pass

ISSUER = vectors.ISSUER
CLIENT_ID = vectors.CLIENT_ID
REDIRECT_URI = "http://localhost:8000/callback"
NOW = vectors.NOW


class raises:
    """``with raises(StateMismatch) as caught: ...``; then inspect ``caught.error``."""

    def __init__(self, expected: "type[OAuthClientError]") -> None:
        self.expected = expected
        self.caught = None  # type: OAuthClientError | None

    @property
    def error(self) -> "OAuthClientError":
        if self.caught is None:
            raise AssertionError("read caught.error after the with block")
        return self.caught

    def __enter__(self) -> "raises":
        return self

    def __exit__(self, kind: "type | None", error: "BaseException | None", traceback: object) -> bool:
        if kind is None:
            raise AssertionError("expected %s, nothing was raised" % self.expected.__name__)
        if not isinstance(error, self.expected):
            return False
        self.caught = error
        return True


def metadata_document(**changes: object) -> "dict[str, Any]":
    """The provider's discovery document, as the spalab provider publishes it."""
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/authorize",
        "token_endpoint": ISSUER + "/token",
        "revocation_endpoint": ISSUER + "/revoke",
        "introspection_endpoint": ISSUER + "/introspect",
        "userinfo_endpoint": ISSUER + "/userinfo",
        "jwks_uri": ISSUER + "/jwks",
        "response_types_supported": ["code", "token", "id_token token"],
        "response_modes_supported": ["query", "fragment"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    for name in changes:
        if changes[name] is None:
            document.pop(name, None)
        else:
            document[name] = changes[name]
    return document


def make_metadata(**changes: object) -> ProviderMetadata:
    return ProviderMetadata(metadata_document(**changes))


def make_client(scope: str = "openid profile") -> ClientConfig:
    return ClientConfig(ISSUER, CLIENT_ID, REDIRECT_URI, scope)


def counting_random_bytes(start: int = 0) -> "Callable[[int], bytes]":
    """A deterministic stand-in for crypto.getRandomValues: 0, 1, 2, ... mod 256."""
    state = [start]

    def random_bytes(count: int) -> bytes:
        value = bytes([(state[0] + offset) % 256 for offset in range(count)])
        state[0] += count
        return value

    return random_bytes


def make_transaction(
    response_type: str = "code", response_mode: str = "query", scope: str = "openid profile"
) -> Transaction:
    transaction = new_transaction(make_client(scope), response_type, response_mode, counting_random_bytes(), NOW)
    transaction.nonce = vectors.NONCE  # the recorded ID tokens carry this nonce
    return transaction


def response(
    status: int = 200, body: str = "", content_type: "str | None" = "application/json", **headers: str
) -> HttpResponse:
    all_headers = {name.replace("_", "-"): value for name, value in headers.items()}
    if content_type:
        all_headers["Content-Type"] = content_type
    return HttpResponse(status, all_headers, body)


def recorded_verify(alg: str, jwk: "dict[str, Any]", signing_input: bytes, signature: bytes) -> bool:
    """True only for the exact (alg, kid, signing input, signature) of a recorded token.

    MicroPython cannot do the RSA/EC math, so there this stands in for WebCrypto; the
    recorded tokens are proven real by test_cpython_signatures.py.
    """
    return (alg, jwk.get("kid"), bytes(signing_input), bytes(signature)) in _RECORDED


def _recorded() -> "set[tuple[str, object, bytes, bytes]]":
    found = set()
    for name in vectors.TOKENS:
        jwt = decode_jwt(vectors.TOKENS[name])
        if jwt.alg != "HS256":
            found.add((jwt.alg, jwt.header.get("kid"), jwt.signing_input, jwt.signature))
    return found


_RECORDED = _recorded()

try:  # real signature math where the runtime has it (CPython); recorded results elsewhere
    from cpython_verify import cryptography_verify as VERIFY
except ImportError:
    VERIFY = recorded_verify

__all__ = [
    "CLIENT_ID",
    "ISSUER",
    "NOW",
    "REDIRECT_URI",
    "VERIFY",
    "counting_random_bytes",
    "make_client",
    "make_metadata",
    "make_transaction",
    "metadata_document",
    "raises",
    "recorded_verify",
    "response",
    "tamper_claims",
    "unsigned_jwt",
]


def tamper_claims(token: str, **changes: object) -> str:
    """The same token with claims changed and the original signature kept."""
    header, claims, signature = token.split(".")
    data = json.loads(b64url_decode(claims).decode())
    data.update(changes)
    return header + "." + b64url_encode(json.dumps(data).encode()) + "." + signature


def unsigned_jwt(header: "dict[str, Any]", claims: "dict[str, Any]", signature: bytes = b"") -> str:
    parts = [b64url_encode(json.dumps(header).encode()), b64url_encode(json.dumps(claims).encode())]
    return ".".join(parts) + "." + b64url_encode(signature)
