"""The demo SPA in real browsers: every sign-in flow, the URL cleaned, the
defences visible to a user (SECURITY.md C1, C4, C5, C9)."""

import re

import pytest
from playwright.sync_api import Page, expect

from conftest import Demo
from spa_page import authenticate, message, open_app, sign_in, start

SECRETS_IN_URL = re.compile(r"(code|access_token|id_token|state)=")


def token_requests(demo: Demo, since: int) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in demo.requests_seen("provider") if e["path"] == "/token" and e["seq"] > since]


def last_seq(demo: Demo, server: str = "provider") -> int:
    return max((e["seq"] for e in demo.requests_seen(server)), default=0)


@pytest.mark.parametrize(("flow", "mode"), [("code", "query"), ("code", "fragment"),
                                            ("token", "fragment"), ("id_token token", "fragment")])  # fmt: skip
def test_sign_in_then_the_api_answers_and_the_url_is_clean(page: Page, demo: Demo, flow: str, mode: str) -> None:
    """SECURITY.md C5: after the callback the address bar holds no code or token."""
    sign_in(page, flow, mode)
    assert not SECRETS_IN_URL.search(page.url), page.url
    assert page.evaluate("location.hash") == ""
    expect(page.locator("#who")).to_contain_text("alice")
    page.click("#call-api")
    expect(page.locator("#api-result")).to_contain_text("White Rabbit")


def test_tampered_state_is_refused_and_no_token_request_is_sent(page: Page, demo: Demo) -> None:
    """SECURITY.md C1: a response whose state this tab never issued is refused before any token request."""
    authorize = re.compile(re.escape(demo.issuer) + r"/authorize\?")
    # The provider echoes state exactly, so changing it on the way out yields a response
    # carrying a state this tab never issued: what an attacker's forged callback looks like.
    page.route(authorize, lambda route: route.continue_(url=re.sub(r"state=[^&]+", "state=forged", route.request.url)))
    open_app(page)
    before = last_seq(demo)
    start(page, "code", "query")
    authenticate(page)
    assert "state" in message(page)
    expect(page.locator("#signed-in")).to_be_hidden()
    assert token_requests(demo, before) == []
    assert "code=" not in page.url


def test_denied_consent_shows_a_readable_message(page: Page, demo: Demo) -> None:
    """SECURITY.md C9: the provider's error is shown once state and iss check out."""
    open_app(page)
    start(page, "code", "query")
    authenticate(page, "bob", "builder", decision="Deny")
    assert "denied" in message(page)
    expect(page.locator("#signed-out")).to_be_visible()
    assert "error=" not in page.url


def test_reload_after_sign_in_neither_reruns_the_exchange_nor_restores_the_code(page: Page, demo: Demo) -> None:
    """SECURITY.md C5, C7: reload signs out (tokens in memory) and sends no second token request."""
    before = last_seq(demo)
    sign_in(page, "code", "query")
    assert len(token_requests(demo, before)) == 1
    page.reload()
    expect(page.locator("#signin-code")).to_be_enabled(timeout=60_000)
    expect(page.locator("#signed-out")).to_be_visible()
    assert len(token_requests(demo, before)) == 1
    assert not SECRETS_IN_URL.search(page.url)
    assert page.evaluate("Object.keys(localStorage).length") == 0


def test_refresh_rotates_and_sign_out_revokes(page: Page, demo: Demo) -> None:
    """RFC 9700 §4.14.2: refresh rotates; RFC 7009: after sign-out the API answers 401."""
    sign_in(page, "code", "query")
    old = page.locator("#tokens button[aria-label='Reveal refresh_token']").get_attribute("data-value")
    page.click("#refresh")
    expect(page.locator("#timeline")).to_contain_text("Refresh (rotation)")
    new = page.locator("#tokens button[aria-label='Reveal refresh_token']").get_attribute("data-value")
    assert old and new and old != new
    page.click("#sign-out")
    expect(page.locator("#message")).to_contain_text("401")
    expect(page.locator("#signed-out")).to_be_visible()


def test_implicit_has_no_refresh(page: Page, demo: Demo) -> None:
    """RFC 9700 §2.1.2: the implicit flow gets no refresh token, and the page says why."""
    sign_in(page, "token", "fragment")
    expect(page.locator("#refresh")).to_be_disabled()
    expect(page.locator("#refresh-note")).to_be_visible()
