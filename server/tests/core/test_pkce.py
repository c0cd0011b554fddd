"""PKCE with S256 only (RFC 7636; RFC 9700 §2.1.1)."""

import pytest

from spalab.provider.core import pkce
from spalab.provider.core.errors import OAuthError

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_matches_rfc_7636_appendix_b() -> None:
    """RFC 7636 Appendix B: the worked example."""
    assert pkce.s256_challenge(VERIFIER) == CHALLENGE


@pytest.mark.parametrize(
    "challenge, method, public",
    [
        (None, None, True),  # RFC 9700 §2.1.1: public clients must use PKCE
        (None, "S256", False),  # a method without a challenge
        (CHALLENGE, None, True),  # RFC 7636 §4.3: missing method means plain
        (CHALLENGE, "plain", True),
        (CHALLENGE, "s256", True),
        (CHALLENGE[:-1], "S256", True),  # 42 characters
        (CHALLENGE + "A", "S256", True),
        (CHALLENGE[:-1] + "=", "S256", True),  # padding is not base64url
        (CHALLENGE + "\n", "S256", True),  # matched whole: "$" alone would let a final line break by
    ],
)
def test_challenge_refused(challenge: str | None, method: str | None, public: bool) -> None:
    """RFC 7636 §4.2, §4.4.1: a malformed, plain or missing challenge is invalid_request."""
    with pytest.raises(OAuthError) as caught:
        pkce.validate_code_challenge(challenge, method, public_client=public)
    assert caught.value.error == "invalid_request"


@pytest.mark.parametrize("challenge, method, public", [(CHALLENGE, "S256", True), (None, None, False)])
def test_challenge_accepted(challenge: str | None, method: str | None, public: bool) -> None:
    """RFC 7636 §4.4.1: S256 from anyone; a confidential client may go without."""
    pkce.validate_code_challenge(challenge, method, public_client=public)


@pytest.mark.parametrize(
    "challenge, verifier, error",
    [
        (None, VERIFIER, "invalid_grant"),  # RFC 9700 §4.8.2: downgrade attempt
        (CHALLENGE, None, "invalid_request"),  # RFC 7636 §4.5
        (CHALLENGE, VERIFIER[:42], "invalid_request"),  # 42 characters: too short
        (CHALLENGE, "a" * 129, "invalid_request"),
        (CHALLENGE, VERIFIER[:-1] + "!", "invalid_request"),
        (CHALLENGE, VERIFIER + "\n", "invalid_request"),  # the HTTP edge refuses it first (params.py) too
        (CHALLENGE, VERIFIER[:-1] + "l", "invalid_grant"),  # RFC 7636 §4.6: well-formed but wrong
    ],
)
def test_verifier_refused(challenge: str | None, verifier: str | None, error: str) -> None:
    """RFC 7636 §4.6: the verifier must be present, well-formed and hash to the challenge."""
    with pytest.raises(OAuthError) as caught:
        pkce.verify_code_verifier(challenge, verifier)
    assert caught.value.error == error


@pytest.mark.parametrize("challenge, verifier", [(CHALLENGE, VERIFIER), (None, None)])
def test_verifier_accepted(challenge: str | None, verifier: str | None) -> None:
    """RFC 7636 §4.6: the matching verifier, or none for a code issued without a challenge."""
    pkce.verify_code_verifier(challenge, verifier)
