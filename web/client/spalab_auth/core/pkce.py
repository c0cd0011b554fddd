"""Proof Key for Code Exchange (RFC 7636), S256 only (RFC 9700 §2.1.1)."""

import hashlib

from .encoding import UNRESERVED, b64url_encode
from .errors import ConfigurationError

CODE_CHALLENGE_METHOD = "S256"
# RFC 7636 §4.1: 32 random octets give the minimum 43-character verifier.
VERIFIER_ENTROPY_BYTES = 32
MIN_VERIFIER_LENGTH = 43
MAX_VERIFIER_LENGTH = 128


def generate_code_verifier(entropy: bytes) -> str:
    """A verifier from caller-supplied random octets (RFC 7636 §4.1)."""
    # RFC 7636 §4.1: at least 32 octets of randomness; at most 128 characters
    if len(entropy) < VERIFIER_ENTROPY_BYTES or len(entropy) > 96:
        raise ConfigurationError("verifier needs 32 to 96 random bytes", reason="insufficient_entropy")
    return b64url_encode(entropy)


def validate_code_verifier(verifier: str) -> None:
    """Raise unless ``verifier`` is 43–128 unreserved characters (RFC 7636 §4.1)."""
    if not isinstance(verifier, str):
        raise ConfigurationError("code_verifier must be text", reason="invalid_code_verifier")
    # RFC 7636 §4.1: code-verifier = 43*128unreserved
    if not MIN_VERIFIER_LENGTH <= len(verifier) <= MAX_VERIFIER_LENGTH:
        raise ConfigurationError("code_verifier length", reason="invalid_code_verifier")
    for char in verifier:
        if char not in UNRESERVED:
            raise ConfigurationError("code_verifier character", reason="invalid_code_verifier")


def code_challenge_s256(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2)."""
    validate_code_verifier(verifier)
    return b64url_encode(hashlib.sha256(verifier.encode()).digest())
