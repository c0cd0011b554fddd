"""The claims of JWT access tokens (RFC 9068 §2.2) and id_tokens (OIDC Core §2), and
which profile claims a scope releases (OIDC Core §5.4). Signing happens in keys.py.
"""

import base64
import hashlib
from typing import Any

# keys.py: id_tokens are signed with RS256 (OIDC's default), access tokens with ES256.
ID_TOKEN_ALG = "RS256"
ACCESS_TOKEN_ALG = "ES256"
AT_TYP = "at+jwt"


def at_hash(access_token: str) -> str:
    """OIDC Core §3.2.2.9: left half of SHA-256 (for RS256) of the token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def access_token_claims(
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scope: str,
    now: int,
    lifetime: int,
    jti: str,
    dpop_jkt: str | None = None,
) -> dict[str, Any]:
    # RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; scope per §2.2.3.
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "client_id": client_id,
        "scope": scope,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti,
    }
    # RFC 9449 §6.1: a DPoP-bound token names its key's thumbprint in cnf.jkt.
    if dpop_jkt is not None:
        claims["cnf"] = {"jkt": dpop_jkt}
    return claims


def id_token_claims(
    issuer: str,
    subject: str,
    client_id: str,
    now: int,
    lifetime: int,
    auth_time: int,
    nonce: str | None,
    profile: dict[str, Any],
    access_token: str | None = None,
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + lifetime,
        "auth_time": auth_time,
        **profile,
    }
    # OIDC Core §3.1.2.1: the nonce from the request goes into the id_token unchanged.
    if nonce is not None:
        claims["nonce"] = nonce
    # OIDC Core §3.2.2.10: at_hash binds an implicit access token to this id_token.
    if access_token is not None:
        claims["at_hash"] = at_hash(access_token)
    return claims


def profile_claims(scopes: tuple[str, ...] | list[str], user_claims: dict[str, Any]) -> dict[str, Any]:
    """OIDC Core §5.4: scope values select which standard claims are released."""
    allowed: set[str] = set()
    if "profile" in scopes:
        allowed |= {"name", "given_name", "family_name", "preferred_username", "picture", "locale"}
    if "email" in scopes:
        allowed |= {"email", "email_verified"}
    return {k: v for k, v in user_claims.items() if k in allowed}
