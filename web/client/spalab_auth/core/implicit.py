"""The legacy implicit flow's extra defences (C6, RFC 9700 §2.1.2, OIDC Core §3.2.2):
nonce, at_hash, and proof that the access token was issued to this client.

Tokens that arrive in the fragment could have been issued to any client; the code
flow does not need this step because the PKCE-bound exchange already proves it.
"""

from .access_token import is_jwt_access_token, validate_jwt_access_token
from .callback import CallbackResult
from .config import ClientConfig
from .discovery import ProviderMetadata
from .errors import ConfigurationError, InvalidAccessToken, InvalidIdToken, TokenSubstitution
from .id_token import validate_id_token
from .jwks import SignatureInput, signature_input
from .jwt import decode_jwt
from .session import TokenSet, split_scope
from .transaction import Transaction

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any

    from .jwks import Verifier
except ImportError:
    pass


def implicit_signature_inputs(result: CallbackResult, jwks: "dict[str, Any]") -> "list[SignatureInput]":
    """The signatures ``validate_implicit_response`` will ask about, so an asynchronous
    verifier (WebCrypto) can run them first and fill a PrecomputedVerifier."""
    inputs = []
    if result.id_token:
        inputs.append(signature_input(decode_jwt(result.id_token, InvalidIdToken), jwks, error=InvalidIdToken))
    if result.access_token and is_jwt_access_token(result.access_token):
        inputs.append(
            signature_input(decode_jwt(result.access_token, InvalidAccessToken), jwks, error=InvalidAccessToken)
        )
    return inputs


def validate_implicit_response(
    result: CallbackResult,
    metadata: ProviderMetadata,
    client: ClientConfig,
    transaction: Transaction,
    now: float,
    jwks: "dict[str, Any]",
    verify: "Verifier",
) -> TokenSet:
    """Turn a checked implicit callback into a TokenSet, or raise."""
    # RFC 9700 §2.1.2: only a transaction that asked for tokens may receive them
    if transaction.is_code_flow or not result.access_token:
        raise ConfigurationError("not an implicit response", reason="not_implicit")
    checks = list(result.checks)
    claims = None
    if result.id_token:
        # OIDC Core §3.2.2.11: full validation, signature included, with nonce and at_hash
        claims = validate_id_token(
            result.id_token,
            metadata,
            client,
            now,
            checks,
            nonce=transaction.nonce,
            jwks=jwks,
            verify=verify,
            access_token=result.access_token,
            require_at_hash=True,
            signed_in_since=transaction.signed_in_since,
        )
    check_token_binding(result.access_token, claims, metadata, client, now, jwks, verify, checks)
    expires_at = now + result.expires_in if result.expires_in is not None else None
    scopes = split_scope(result.scope if result.scope is not None else transaction.scope)
    return TokenSet(result.access_token, "Bearer", now, expires_at, scopes, None, result.id_token, claims, checks)


def check_token_binding(
    access_token: str,
    id_claims: "dict[str, Any] | None",
    metadata: ProviderMetadata,
    client: ClientConfig,
    now: float,
    jwks: "dict[str, Any]",
    verify: "Verifier",
    checks: "list[tuple[str, str]]",
) -> None:
    """RFC 9700 §4.1 (token substitution): show the access token is this client's (C6).

    A JWT access token must name this client; an opaque one must be bound by the
    at_hash of an ID token issued to this client; otherwise the token is refused.
    """
    bound = False
    if is_jwt_access_token(access_token):
        validate_jwt_access_token(access_token, metadata, client, now, jwks, verify, checks)
        bound = True
    # OIDC Core §3.2.2.9: a verified at_hash in an ID token whose aud is us binds the token
    if id_claims is not None and "at_hash" in id_claims:
        bound = True
    if not bound:
        raise TokenSubstitution(
            "access token not bound to this client",
            reason="unbound_access_token",
            parameter="access_token",
            checks=checks + [("token_binding", "failed")],
        )
    checks.append(("token_binding", "ok"))
