"""PKCE with S256 (RFC 7636), the code-flow half of C3."""

from client_support import raises

from spalab_auth.core.errors import ConfigurationError
from spalab_auth.core.pkce import code_challenge_s256, generate_code_verifier, validate_code_verifier

# RFC 7636 Appendix B: the 32 octets, the verifier they encode, and its S256 challenge.
APPENDIX_B_OCTETS = bytes(
    [
        116,
        24,
        223,
        180,
        151,
        153,
        224,
        37,
        79,
        250,
        96,
        125,
        216,
        173,
        187,
        186,
        22,
        212,
        37,
        77,
        105,
        214,
        191,
        240,
        91,
        88,
        5,
        88,
        83,
        132,
        141,
        121,
    ]
)
APPENDIX_B_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
APPENDIX_B_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_appendix_b_verifier_from_octets() -> None:
    """RFC 7636 Appendix B: the verifier is the base64url of the random octets."""
    assert generate_code_verifier(APPENDIX_B_OCTETS) == APPENDIX_B_VERIFIER


def test_appendix_b_s256_challenge() -> None:
    """RFC 7636 Appendix B: S256 challenge of the example verifier."""
    assert code_challenge_s256(APPENDIX_B_VERIFIER) == APPENDIX_B_CHALLENGE


def test_verifier_needs_32_random_bytes() -> None:
    """RFC 7636 §4.1: 32 octets give the minimum 43-character verifier."""
    for count in (0, 16, 31, 97):
        with raises(ConfigurationError) as caught:
            generate_code_verifier(bytes(count))
        assert caught.error.reason == "insufficient_entropy"
    assert len(generate_code_verifier(bytes(32))) == 43
    assert len(generate_code_verifier(bytes(96))) == 128


def test_verifier_syntax_is_enforced() -> None:
    """RFC 7636 §4.1: code-verifier = 43*128unreserved."""
    for bad in ["a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + "é", None]:
        with raises(ConfigurationError) as caught:
            validate_code_verifier(bad)  # type: ignore[arg-type]  # None on purpose
        assert caught.error.reason == "invalid_code_verifier"
    validate_code_verifier("a-._~" * 9)


def test_challenge_of_an_invalid_verifier_is_refused() -> None:
    """RFC 7636 §4.2: the challenge is only derived from a valid verifier."""
    with raises(ConfigurationError):
        code_challenge_s256("short")
