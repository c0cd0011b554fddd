"""The provider's I/O and randomness around tokens: the signing keys (stored, signing,
verifying RFC 9068 access tokens) and the opaque secrets used for codes and refresh
tokens. JOSE via joserfc. The claims themselves are built in core/claims.py.
"""

import json
import secrets
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from .core.claims import ALG, AT_TYP
from .core.errors import InvalidToken
from .store import Store

# docs/SECURITY.md P22: what joserfc raises for a token it cannot read. Besides its own errors and
# ValueError (bad base64 or JSON), a crafted header such as {"crit": [1]} raises TypeError.
UNREADABLE_JWT = (JoseError, ValueError, TypeError)


def new_secret() -> str:
    """An opaque code or token: 256 bits from the OS CSPRNG (docs/SECURITY.md P18)."""
    return secrets.token_urlsafe(32)


class KeyRing:
    """The provider's signing keys; the newest signs, all are published."""

    def __init__(self, keys: list[RSAKey]) -> None:
        self.keys = keys
        self.current = keys[-1]
        self.key_set = KeySet(list(keys))

    @classmethod
    def load_or_create(cls, store: Store, now: int) -> "KeyRing":
        """The stored keys; on a new database a first key is made, once, however many instances start."""

        def make() -> tuple[str, str]:
            key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALG}, auto_kid=True)
            return key.kid or "", json.dumps(key.as_dict(private=True))

        stored = store.signing_keys() or store.first_signing_key(make, now)
        return cls([RSAKey.import_key(json.loads(jwk)) for jwk in stored])

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def sign(self, claims: dict[str, Any], typ: str) -> str:
        header = {"alg": ALG, "kid": self.current.kid, "typ": typ}
        return jwt.encode(header, claims, self.current, algorithms=[ALG])

    def verify_access_token(self, token: str, issuer: str, audience: str, now: int) -> dict[str, Any]:
        """RFC 9068 §4 validation; raises InvalidToken with a safe description."""
        try:
            decoded = jwt.decode(token, self.key_set, algorithms=[ALG])
        except UNREADABLE_JWT:
            raise InvalidToken("the access token is malformed or its signature is invalid") from None
        # RFC 9068 §4: the resource server must check typ is at+jwt (no id_token as access token).
        if str(decoded.header.get("typ", "")).lower() not in (AT_TYP, "application/at+jwt"):
            raise InvalidToken("not an access token")
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=now,
            iss={"essential": True, "value": issuer},
            # RFC 9068 §4: the audience must name this resource server (docs/SECURITY.md P19).
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

    def verify_id_token_hint(self, token: str) -> dict[str, Any] | None:
        """RP-Initiated Logout §2: an id_token signed by one of our keys → its claims, else None.
        Its claims (iss, aud naming a client, sub) are judged by core/logout.py; exp is not checked (§2
        accepts expired ones), and an access token's aud names no client."""
        try:
            decoded = jwt.decode(token, self.key_set, algorithms=[ALG])
        except UNREADABLE_JWT:
            # docs/SECURITY.md P25: forged, altered or unsigned (alg none is not on the list).
            return None
        # docs/SECURITY.md P25: an id_token, not an access token whose audience happens to name a client.
        if str(decoded.header.get("typ", "")).lower() in (AT_TYP, "application/at+jwt"):
            return None
        return decoded.claims
