"""Tokens: signing keys, JWT access tokens (RFC 9068), id_tokens (OIDC Core §2),
and the opaque secrets used for codes and refresh tokens. JOSE via joserfc.
"""

import base64
import hashlib
import json
import secrets
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from .core.errors import InvalidToken
from .store import Store

ALG = "RS256"
AT_TYP = "at+jwt"


def new_secret() -> str:
    """An opaque code or token: 256 bits from the OS CSPRNG (SECURITY.md P18)."""
    return secrets.token_urlsafe(32)


class KeyRing:
    """The provider's signing keys; the newest signs, all are published."""

    def __init__(self, keys: list[RSAKey]) -> None:
        self.keys = keys
        self.current = keys[-1]
        self.key_set = KeySet(list(keys))

    @classmethod
    def load_or_create(cls, store: Store, now: int) -> "KeyRing":
        stored = [RSAKey.import_key(json.loads(jwk)) for jwk in store.signing_keys()]
        if not stored:
            key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALG}, auto_kid=True)
            store.add_signing_key(key.kid or "", json.dumps(key.as_dict(private=True)), now)
            stored = [key]
        return cls(stored)

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        header = {"alg": ALG, "kid": self.current.kid, "typ": typ}
        return jwt.encode(header, claims, self.current, algorithms=[ALG])

    def verify_access_token(self, token: str, issuer: str, audience: str, now: int) -> dict[str, Any]:
        """RFC 9068 §4 validation; raises InvalidToken with a safe description."""
        try:
            decoded = jwt.decode(token, self.key_set, algorithms=[ALG])
        except (JoseError, ValueError):
            raise InvalidToken("the access token is malformed or its signature is invalid") from None
        # RFC 9068 §4: the resource server must check typ is at+jwt (no id_token as access token).
        if str(decoded.header.get("typ", "")).lower() not in (AT_TYP, "application/at+jwt"):
            raise InvalidToken("not an access token")
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=now,
            iss={"essential": True, "value": issuer},
            # RFC 9068 §4: the audience must name this resource server (SECURITY.md P19).
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError:
            raise InvalidToken("the access token is expired or not for this API") from None
        return claims


def at_hash(access_token: str) -> str:
    """OIDC Core §3.2.2.9: left half of SHA-256 (for RS256) of the token, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def access_token_claims(
    issuer: str, audience: str, subject: str, client_id: str, scope: str, now: int, lifetime: int, jti: str
) -> dict[str, Any]:
    # RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; scope per §2.2.3.
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "client_id": client_id,
        "scope": scope,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti,
    }


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


def masked(value: str | None, keep: int = 6) -> str:
    """Shows the first characters of a secret only (SECURITY.md P21)."""
    if not value:
        return ""
    return value[:keep] + "…" if len(value) > keep else "…"
