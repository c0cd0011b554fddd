"""JWT access tokens (RFC 9068) as seen by the client: only to show that a token
received in the front channel was issued to this client (token substitution, C6)."""

from .config import ClientConfig
from .discovery import ProviderMetadata
from .errors import InvalidAccessToken, TokenSubstitution
from .jwks import verify_signature
from .jwt import DEFAULT_LEEWAY_SECONDS, decode_jwt, looks_like_jwt, validate_claims

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any

    from .jwks import Verifier
except ImportError:
    pass

# RFC 9068 §2.1: typ is "at+jwt"; the "application/" prefix may be present (RFC 7515 §4.1.9).
AT_JWT_TYPES = ("at+jwt", "application/at+jwt")


def is_jwt_access_token(token: str) -> bool:
    """True when ``token`` is a JWT whose header says ``typ: at+jwt``."""
    if not looks_like_jwt(token):
        return False
    typ = decode_jwt(token, InvalidAccessToken).header.get("typ")
    return isinstance(typ, str) and typ.lower() in AT_JWT_TYPES


def validate_jwt_access_token(
    token: str,
    metadata: ProviderMetadata,
    client: ClientConfig,
    now: float,
    jwks: "dict[str, Any]",
    verify: "Verifier",
    checks: "list[tuple[str, str]]",
    leeway: float = DEFAULT_LEEWAY_SECONDS,
) -> "dict[str, Any]":
    """Signature, iss, exp, and that the token names this client; returns the claims."""
    jwt = decode_jwt(token, InvalidAccessToken)
    # RFC 9068 §4: the signature must verify with the issuer's keys, RS256 at least
    verify_signature(jwt, jwks, verify, error=InvalidAccessToken)
    checks.append(("access_token_signature", "ok"))
    # RFC 9068 §4: iss must be the issuer, exp in the future (aud is the API's, not ours)
    validate_claims(jwt.claims, metadata.issuer, None, now, InvalidAccessToken, leeway, require_iat=False)
    check_token_client(jwt.claims, client, checks)
    return jwt.claims


def check_token_client(claims: "dict[str, Any]", client: ClientConfig, checks: "list[tuple[str, str]]") -> None:
    """RFC 9068 §2.2: client_id names the client the token was issued to (C6)."""
    issued_to = claims.get("client_id", claims.get("azp"))
    if issued_to is None:
        raise TokenSubstitution(
            "token names no client",
            reason="missing_client_id",
            parameter="client_id",
            checks=checks + [("access_token_client", "failed")],
        )
    if issued_to != client.client_id:
        raise TokenSubstitution(
            "token issued to another client",
            reason="client_id_mismatch",
            parameter="client_id",
            checks=checks + [("access_token_client", "failed")],
        )
    checks.append(("access_token_client", "ok"))
