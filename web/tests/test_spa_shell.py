"""The SPA shell's pure parts: readable messages for every error, and the
timeline's handling of values (shortened, never whole)."""

import pathlib
import re

import pytest

from spa.timeline import Timeline, add_checks, failure_recorded, url_parts
from spalab_auth.core import (
    ApiError,
    AuthorizationDenied,
    IssuerMismatch,
    OAuthClientError,
    StateMismatch,
    TokenEndpointError,
    TokenSubstitution,
    errors,
)
from spalab_auth.core.callback import RESPONSE_PARAMETERS
from spalab_auth.explain import SignOutReport
from spalab_auth.explain import explain as describe

ALL_ERRORS = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, OAuthClientError)]


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_every_core_error_has_a_readable_message(cls: type) -> None:
    """Issue 3: errors appear as readable messages in the page, never a class name alone."""
    text = describe(cls("some detail"))
    assert text and text[0].isupper() and text.endswith(".")
    assert cls.__name__ not in text


def test_specific_messages_name_what_happened() -> None:
    """docs/SECURITY.md C1, C2, C6, C9: the user learns which defence stopped the flow."""
    assert "state" in describe(StateMismatch("x"))
    assert "mix-up" in describe(IssuerMismatch("x"))
    assert "substitution" in describe(TokenSubstitution("x"))
    assert "denied" in describe(AuthorizationDenied("x", error="access_denied"))
    assert "invalid_grant" in describe(TokenEndpointError("x", error="invalid_grant"))
    assert "invalid_token" in describe(ApiError("x", status=401, error="invalid_token"))


def test_network_errors_name_the_url() -> None:
    """A provider that is down gets a message, not a console trace."""

    class NetworkError(Exception):
        url = "http://127.0.0.1:9000/token"

    assert "http://127.0.0.1:9000/token" in describe(NetworkError())


def test_popup_failures_say_what_to_do() -> None:
    """Issue 5: a blocked or closed sign-in popup is explained, not a silent stop."""

    class PopupError(Exception):
        def __init__(self, reason: str) -> None:
            self.popup_reason = reason

    assert "Allow popups" in describe(PopupError("blocked"))
    assert "closed before" in describe(PopupError("closed"))
    # A popup cut off by the provider's COOP that never answered, and one a newer sign-in replaced.
    assert "stopped answering" in describe(PopupError("unanswered"))
    assert "newer sign-in" in describe(PopupError("superseded"))


def test_timeline_shortens_codes_and_tokens() -> None:
    """docs/SECURITY.md P21 / STYLE.md §9: codes and tokens appear only truncated in the timeline."""
    code = "A" * 43
    base, query, fragment = url_parts(
        f"http://localhost:8000/?code={code}&iss=x#access_token={'T' * 60}&token_type=Bearer"
    )
    assert base == "http://localhost:8000/"
    assert query == [["code", "AAAAAA…"], ["iss", "x"]]
    assert fragment == [["access_token", "TTTTTT…"], ["token_type", "Bearer"]]


def test_timeline_survives_storage_round_trip_and_marks_failures() -> None:
    timeline = Timeline()
    step = timeline.add("Response checks", "ok")
    add_checks(step, [("state", "ok"), ("iss", "failed")])
    again = Timeline.from_json(timeline.to_json())
    assert again.steps[0]["status"] == "fail"
    assert Timeline.from_json("null").steps == [] and Timeline.from_json("{oops").steps == []


def test_boot_js_scrubs_exactly_the_response_parameters_the_core_reads() -> None:
    """docs/SECURITY.md C5: boot.js cleans the address bar when the URL carries a response
    parameter; its list and the core's RESPONSE_PARAMETERS must name the same parameters."""
    source = (pathlib.Path(__file__).resolve().parents[1] / "boot.js").read_text()
    found = re.search(r"const RESPONSE = \[([^\]]*)\]", source)
    assert found is not None, "boot.js no longer declares const RESPONSE = [...]"
    in_boot_js = re.findall(r'"([^"]*)"', found.group(1))
    assert sorted(in_boot_js) == sorted(RESPONSE_PARAMETERS)
    assert len(set(in_boot_js)) == len(in_boot_js)


def test_a_failed_step_keeps_the_checks_the_error_carries_and_is_saved() -> None:
    """STYLE.md §4: a core error raised while a step runs marks that step failed, with the
    checks that ran, saves the timeline, and still reaches the one handler in main.py."""
    timeline, saved = Timeline(), []
    step = timeline.add("Token checks", "ok")
    with pytest.raises(StateMismatch):
        with failure_recorded(step, lambda: saved.append(timeline.to_json())):
            raise StateMismatch("x", checks=[("iss", "ok"), ("state", "failed")])
    assert step["status"] == "fail" and step["checks"] == [["iss", "ok"], ["state", "failed"]]
    assert len(saved) == 1 and Timeline.from_json(saved[0]).steps[0]["status"] == "fail"


def test_a_failed_step_without_checks_shows_the_fallback() -> None:
    step = Timeline().add("Token request", "info")
    with pytest.raises(TokenEndpointError):
        with failure_recorded(step, lambda: None, [("token response", "failed")]):
            raise TokenEndpointError("x", error="invalid_grant")
    assert step["status"] == "fail" and step["checks"] == [["token response", "failed"]]
    bare = Timeline().add("API call", "info")
    with pytest.raises(TokenEndpointError):
        with failure_recorded(bare, lambda: None):
            raise TokenEndpointError("x", error="invalid_grant")
    assert bare["status"] == "fail" and bare["checks"] == []


def test_sign_out_without_revocation_endpoint_does_not_claim_revocation() -> None:
    """RFC 7009 is optional: with no endpoint the tokens still work, and the visitor is told so."""
    report = SignOutReport(None, 120)
    report.api_status = 200
    assert report.status() != "ok"
    for text in (report.message(), report.detail()):
        assert "revoked" not in text.lower()
        assert "120 s" in text
    assert "HTTP 200" in report.message()


def test_sign_out_with_failed_revocation_is_a_failed_step() -> None:
    """RFC 7009 §2.2.1: an error answer (e.g. 503) means the token was not revoked."""
    report = SignOutReport("http://127.0.0.1:9000/revoke", None)
    report.revoked.append("refresh_token")
    report.failed.append("access_token")
    assert report.status() == "fail"
    assert "signed out: tokens revoked" not in report.message().lower()
    assert "access_token" in report.message()


def test_sign_out_with_every_token_revoked_says_so() -> None:
    """RFC 7009 §2.2: HTTP 200 for each token is a revocation the page may report."""
    report = SignOutReport("http://127.0.0.1:9000/revoke", 60)
    report.revoked.extend(["refresh_token", "access_token"])
    report.api_status = 401
    assert report.status() == "ok"
    assert "revoked" in report.message() and "HTTP 401" in report.message()


def test_sign_out_without_tokens_claims_no_unconfirmed_revocation() -> None:
    """Signed out already (by another tab, a refused refresh): no token was sent anywhere,
    so none "may stay valid" and no revocation "was not confirmed"."""
    for endpoint in ("http://127.0.0.1:9000/revoke", None):
        report = SignOutReport(endpoint, None, held=False)
        assert report.status() == "info"
        for text in (report.message(), report.detail()):
            assert "nothing to revoke" in text
            assert "did not confirm" not in text and "stay valid" not in text
