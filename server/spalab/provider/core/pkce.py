"""PKCE (RFC 7636) with S256 only (RFC 9700 §2.1.1)."""

import base64
import hashlib
import hmac
import re

from .errors import InvalidGrant, InvalidRequest

# RFC 7636 §4.1: 43–128 characters of the unreserved set.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# A SHA-256 digest in base64url without padding, 43 characters: an S256 code_challenge (RFC 7636 §4.2), a
# JWK thumbprint (RFC 7638, RFC 9449 §10's dpop_jkt). Matched whole (fullmatch: "$" would let a "\n" by).
SHA256_BASE64URL = re.compile(r"[A-Za-z0-9_-]{43}")


def s256_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def validate_code_challenge(challenge: str | None, method: str | None, public_client: bool) -> None:
    """Checks the challenge at the authorization endpoint."""
    if challenge is None:
        # RFC 7636 §4.4.1 and RFC 9700 §2.1.1: a public client must send code_challenge.
        if public_client:
            raise InvalidRequest("code_challenge is required (PKCE)")
        if method is not None:
            raise InvalidRequest("code_challenge_method without code_challenge")
        return
    # RFC 9700 §2.1.1: only S256; RFC 7636 §4.3 makes "plain" the default, so a missing method is plain too.
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    if not SHA256_BASE64URL.fullmatch(challenge):
        raise InvalidRequest("code_challenge is not a base64url SHA-256 value")


def verify_code_verifier(challenge: str | None, verifier: str | None) -> None:
    """Checks the verifier at the token endpoint against the stored challenge."""
    if challenge is None:
        # RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt.
        if verifier is not None:
            raise InvalidGrant("code_verifier sent for a code issued without code_challenge")
        return
    # RFC 7636 §4.5: the verifier must accompany a code issued with a challenge.
    if verifier is None:
        raise InvalidRequest("code_verifier is required")
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidRequest("code_verifier is malformed")
    # RFC 7636 §4.6: compare S256(verifier) with the stored challenge.
    if not hmac.compare_digest(s256_challenge(verifier), challenge):
        raise InvalidGrant("code_verifier does not match code_challenge")
