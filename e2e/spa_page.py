"""Driving the demo SPA like a visitor: buttons, the provider's forms, the result.

Written once on drivers.Browser, so the same helpers drive Playwright (Chromium,
Firefox) and Selenium (WebKitGTK).
"""

import time
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from drivers import Browser, record_timing

BOOT_TIMEOUT = 60.0


def wait_ready(browser: Browser) -> None:
    """PyScript has booted and main.py has rendered: the sign-in buttons are enabled."""
    browser.wait_enabled("#signin-code", BOOT_TIMEOUT)


RUNTIME_NAMES = {"py": "pyodide", "mpy": "micropython"}


def open_app(browser: Browser) -> None:
    """Loads the app on the browser's runtime (boot.js keeps the choice for the tab)."""
    started = time.monotonic()
    browser.goto("/?runtime=" + browser.runtime)
    wait_ready(browser)
    record_timing(browser.engine, RUNTIME_NAMES[browser.runtime] + " boot", time.monotonic() - started)


def start(browser: Browser, flow: str = "code", mode: str = "query", dpop: bool = False) -> None:
    """flow: "code" (mode query or fragment), "token" or "id_token token"; `dpop`: the DPoP switch."""
    if dpop:
        browser.check("#dpop")
    elif browser.evaluate("document.getElementById('dpop').checked"):
        browser.click("#dpop")  # the switch is kept for the tab: a test without DPoP turns it off
    if flow == "code":
        browser.check(f'input[name="response-mode"][value="{mode}"]')
        browser.click("#signin-code")
    else:
        browser.check(f'input[name="implicit-type"][value="{flow}"]')
        browser.click("#signin-implicit")


def authenticate(
    browser: Browser, username: str = "alice", password: str = "wonderland", decision: str = "Allow"
) -> None:
    """Signs in at the provider and answers the consent page if it is shown."""
    browser.fill("#username", username)
    browser.fill("#password", password)
    browser.click_button("Sign in")
    # Either the consent page or, with consent remembered, straight back to the app.
    browser.wait_for(
        lambda: browser.url.startswith(browser.base_url) or browser.is_visible("button[name=decision]"),
        "the consent page or the app",
    )
    if not browser.url.startswith(browser.base_url):
        browser.click_button(decision)


def authenticate_in_popup(
    browser: Browser, username: str = "alice", password: str = "wonderland", decision: str = "Allow"
) -> None:
    """In the popup: signs in and answers the consent page if shown; the popup then closes itself."""
    browser.fill("#username", username)
    browser.fill("#password", password)
    browser.click_button("Sign in")
    # Watched through the URL, not the page: asking a page that is closing itself about its
    # DOM can go unanswered (Firefox over BiDi). The consent page is served at /authorize.
    browser.wait_for(lambda: browser.closed() or "/authorize?" in browser.url, "the consent page or the popup to close")
    if not browser.closed():
        browser.click_button(decision)
        browser.wait_for(browser.closed, "the popup to close itself")


def start_in_popup(
    browser: Browser,
    flow: str = "code",
    mode: str = "query",
    username: str = "alice",
    password: str = "wonderland",
    decision: str = "Allow",
) -> None:
    """Chooses popup sign-in, starts it, and signs in inside the popup."""
    browser.check('input[name="signin-window"][value="popup"]')
    with browser.popup(lambda: start(browser, flow, mode)):
        authenticate_in_popup(browser, username, password, decision)


def sign_in(
    browser: Browser,
    flow: str = "code",
    mode: str = "query",
    username: str = "alice",
    password: str = "wonderland",
    popup: bool = False,
    dpop: bool = False,
) -> None:
    open_app(browser)
    if popup:
        start_in_popup(browser, flow, mode, username, password)
    else:
        start(browser, flow, mode, dpop)
        authenticate(browser, username, password)
    browser.wait_visible("#signed-in", BOOT_TIMEOUT)


def call_api(browser: Browser) -> None:
    """Clicks "Call API" and waits for the demo API's data (Alice's contacts) on screen."""
    browser.click("#call-api")
    browser.wait_text("#api-result", "White Rabbit")


def message(browser: Browser) -> str:
    browser.wait_visible("#message", BOOT_TIMEOUT)
    return browser.text("#message")


def sent_authorization_request(browser: Browser, issuer: str) -> dict[str, str]:
    """The authorization request the SPA just sent, read back from the provider's login
    page (`/login?next=/authorize?...`): the tab's real state, PKCE challenge and nonce."""
    browser.wait_url(lambda url: url.startswith(issuer + "/login"), "the provider's login page", BOOT_TIMEOUT)
    next_url = dict(parse_qsl(urlsplit(browser.url).query))["next"]
    return dict(parse_qsl(urlsplit(next_url).query))


def authorize_url(issuer: str, params: dict[str, str]) -> str:
    return issuer + "/authorize?" + urlencode(params, quote_via=quote)
