"""The client core's error hierarchy: typed, plain data, one code per class (STYLE §4)."""

from spalab_auth.core import errors
from spalab_auth.core.errors import AuthorizationDenied, OAuthClientError, StateMismatch

ALL = [getattr(errors, name) for name in dir(errors) if isinstance(getattr(errors, name), type)]
CLIENT_ERRORS = [cls for cls in ALL if issubclass(cls, OAuthClientError)]


def test_every_error_derives_from_the_base_and_has_a_unique_code() -> None:
    """STYLE §4: one base, one stable code per class for the shell's message table."""
    assert len(CLIENT_ERRORS) >= 20
    codes = [cls.code for cls in CLIENT_ERRORS]
    assert len(set(codes)) == len(codes)


def test_errors_carry_plain_data() -> None:
    """STYLE §4: reason, parameter and checks, with reason defaulting to the code."""
    error = StateMismatch("state differs", parameter="state", checks=[("state", "failed")])
    assert (error.code, error.reason, error.parameter, error.checks, error.detail) == (
        "state_mismatch",
        "state_mismatch",
        "state",
        [("state", "failed")],
        "state differs",
    )
    assert isinstance(error, OAuthClientError) and isinstance(error, Exception)


def test_authorization_denied_carries_the_provider_error() -> None:
    """RFC 6749 §4.1.2.1: error, error_description and error_uri."""
    error = AuthorizationDenied("x", error="access_denied", error_description="no", reason="r")
    assert (error.error, error.error_description, error.error_uri, error.reason) == (
        "access_denied",
        "no",
        None,
        "r",
    )
