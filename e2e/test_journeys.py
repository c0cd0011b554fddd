"""The demo SPA's journeys in Chromium, Firefox and WebKitGTK: every sign-in flow,
the URL cleaned, and the defences a user can see (docs/SECURITY.md C1, C2, C4, C5, C7, C9).

Every test takes `browser_page` (e2e/conftest.py), parametrized over the three engines,
and records its outcome per engine as lab observation "J:<name>" (the report's
journeys × engines rows).
"""

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from drivers import Browser, journey
from harness import ROOT, Demo, free_port, wait_until_up
from spa_page import (
    authenticate,
    authenticate_in_popup,
    authorize_url,
    call_api,
    message,
    open_app,
    sent_authorization_request,
    sign_in,
    start,
    wait_ready,
)

# Selenium's own WebKitGTK driver still uses a deprecated RemoteConnection argument.
pytestmark = pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")

SECRETS_IN_URL = re.compile(r"(code|access_token|id_token|state)=")


@pytest.fixture(params=["py", "mpy"], autouse=True)
def runtime(request: pytest.FixtureRequest, browser_page: Browser) -> str:
    """Every journey on both Python runtimes: Pyodide and MicroPython (issue 5)."""
    browser_page.runtime = str(request.param)
    return browser_page.runtime


NO_SECRETS = "no code, token or state in the URL; exactly one POST /token"


def token_requests(demo: Demo, since: int) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in demo.requests_seen("provider") if e["path"] == "/token" and e["seq"] > since]


def last_seq(demo: Demo, server: str = "provider") -> int:
    return max((e["seq"] for e in demo.requests_seen(server)), default=0)


def assert_url_clean(browser: Browser) -> None:
    assert not SECRETS_IN_URL.search(browser.url), browser.url
    assert browser.evaluate("location.hash") == ""


@pytest.fixture(scope="module")
def second_provider(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Another provider instance that also knows client spa-demo and user alice: the
    honest-but-other issuer of a mix-up (RFC 9700 §4.4)."""
    data_dir = tmp_path_factory.mktemp("second-provider")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    config = data_dir / "provider.toml"
    config.write_text(
        f'issuer = "{issuer}"\nrequest_log = true\n\n'
        f'[[clients]]\nclient_id = "spa-demo"\nredirect_uris = ["{demo.spa}/"]\n'
        f'allow_implicit = true\ncors_origins = ["{demo.spa}"]\n\n'
        '[[users]]\nusername = "alice"\npassword = "wonderland"\n'
    )
    log = data_dir / "server.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spalab",
            "provider",
            "--config",
            str(config),
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--request-log",
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    wait_until_up(issuer + "/.well-known/openid-configuration", process, log)
    yield Demo(demo.spa, issuer, process)
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.parametrize(
    ("flow", "mode"), [("code", "query"), ("code", "fragment"), ("token", "fragment"), ("id_token token", "fragment")]
)
@journey(
    "sign-in {flow} ({mode})",
    "Sign in: response_type={flow}, response_mode={mode}",
    "signed in, the API answers, the URL holds no code or token",
    "docs/SECURITY.md C4, C5; RFC 9700 §2.1",
)
def test_sign_in_then_the_api_answers_and_the_url_is_clean(
    browser_page: Browser, demo: Demo, flow: str, mode: str
) -> None:
    """docs/SECURITY.md C5: after the callback the address bar holds no code or token; C3: the
    transaction (state, PKCE verifier, nonce) left sessionStorage when the callback used it."""
    sign_in(browser_page, flow, mode)
    assert_url_clean(browser_page)
    left = browser_page.evaluate("Object.keys(sessionStorage).filter((k) => k.startsWith('spalab:tx:'))")
    assert left == [], left
    browser_page.wait_text("#who", "Alice")
    call_api(browser_page)
    browser_page.observed = "signed in, API 200, URL clean"


@journey(
    "consent-denied",
    "Consent denied",
    "a readable access_denied message; signed out; no error= in the URL",
    "docs/SECURITY.md C9; RFC 6749 §4.1.2.1",
)
def test_denied_consent_shows_a_readable_message(browser_page: Browser, demo: Demo) -> None:
    """docs/SECURITY.md C9: the provider's error is shown once state and iss check out."""
    open_app(browser_page)
    start(browser_page, "code", "query")
    authenticate(browser_page, "bob", "builder", decision="Deny")
    text = message(browser_page)
    assert "denied" in text
    browser_page.wait_visible("#signed-out")
    assert "error=" not in browser_page.url
    browser_page.observed = f"shown: “{text[:60]}…”"


@journey(
    "tampered-state",
    "Response with a state this tab never issued",
    "refused with the state message; no POST /token",
    "docs/SECURITY.md C1; RFC 6749 §10.12",
)
def test_tampered_state_is_refused_and_no_token_request_is_sent(browser_page: Browser, demo: Demo) -> None:
    """docs/SECURITY.md C1: a response whose state this tab never issued is refused before any token request."""
    open_app(browser_page)
    before = last_seq(demo)
    start(browser_page, "code", "query")
    # Re-send the tab's real request with another state: the provider echoes it exactly, so the
    # response carries a state this tab never issued, as an attacker's forged callback would.
    params = sent_authorization_request(browser_page, demo.issuer)
    browser_page.goto(authorize_url(demo.issuer, {**params, "state": "forged-" + params["state"][:8]}))
    authenticate(browser_page)
    text = message(browser_page)
    assert "state" in text
    assert not browser_page.is_visible("#signed-in")
    assert token_requests(demo, before) == []
    assert "code=" not in browser_page.url
    browser_page.observed = "refused (state check), no POST /token"


@journey(
    "mix-up",
    "Response from a second provider (wrong iss)",
    "refused with the iss message; no POST /token at either provider",
    "docs/SECURITY.md C2; RFC 9207; RFC 9700 §4.4",
)
def test_response_from_another_provider_is_refused(browser_page: Browser, demo: Demo, second_provider: Demo) -> None:
    """RFC 9207 §2.4: a response whose iss is not the issuer this sign-in started with is refused."""
    open_app(browser_page)
    before, before_other = last_seq(demo), last_seq(second_provider)
    start(browser_page, "code", "query")
    # The tab's own transaction (state, PKCE challenge, nonce), answered by the other provider.
    params = sent_authorization_request(browser_page, demo.issuer)
    browser_page.goto(authorize_url(second_provider.issuer, params))
    authenticate(browser_page)
    text = message(browser_page)
    assert "iss check failed" in text
    assert not browser_page.is_visible("#signed-in")
    assert token_requests(demo, before) == [] and token_requests(second_provider, before_other) == []
    assert_url_clean(browser_page)
    browser_page.observed = "refused (iss check), no POST /token"


@journey("refresh-rotates", "Refresh (code flow)", "a new refresh token replaces the old one", "RFC 9700 §4.14.2")
def test_refresh_rotates(browser_page: Browser, demo: Demo) -> None:
    """RFC 9700 §4.14.2: a public client's refresh token rotates on every use."""
    sign_in(browser_page, "code", "query")
    button = "#tokens button[aria-label='Reveal refresh_token']"
    old = browser_page.attr(button, "data-value")
    browser_page.click("#refresh")
    browser_page.wait_text("#timeline", "Refresh (rotation)")
    browser_page.wait_for(lambda: browser_page.attr(button, "data-value") != old, "a new refresh token")
    assert old and browser_page.attr(button, "data-value")
    browser_page.observed = "rotated"


@journey(
    "dpop",
    "DPoP switch (code flow)",
    "tokens bound to the page's key (cnf.jkt = the proof key's thumbprint); proofs on /token, the API and "
    "the refresh; the timeline shows them",
    "RFC 9449 §4, §5, §6.1, §7.1",
)
def test_the_dpop_switch_binds_the_tokens_and_the_timeline_shows_the_proofs(browser_page: Browser, demo: Demo) -> None:
    before = max((e["seq"] for e in demo.requests_seen("provider")), default=0)
    sign_in(browser_page, "code", "query", dpop=True)
    browser_page.wait_text("#flow", "+ DPoP")
    call_api(browser_page)
    browser_page.click("#refresh")
    browser_page.wait_text("#timeline", "Refresh (rotation)")
    timeline = browser_page.text("#timeline")
    # A thumbprint is 43 base64url characters (RFC 7638, SHA-256); engines differ in the whitespace around it.
    thumbprints = re.findall(r"key thumbprint \(jkt\)\s*([\w-]{43})", timeline)
    bound = re.findall(r"access token bound to \(cnf\.jkt\)\s*([\w-]{43})", timeline)
    assert "typ=dpop+jwt alg=ES256" in timeline and "Authorization: DPoP" in timeline, timeline
    assert len(thumbprints) >= 2 and set(thumbprints) == set(bound), timeline  # one key, the tokens bound to it
    seen = [e for e in demo.requests_seen("provider") if e["seq"] > before and e["method"] != "OPTIONS"]
    posts = [e for e in seen if e["path"] == "/token"]
    api = [e for e in seen if e["path"].startswith("/api/")]
    assert len(posts) == 2 and all(e["dpop"] for e in posts), posts  # the code exchange and the refresh
    assert api and all((e["authorization"], e["dpop"]) == ("DPoP", True) for e in api), api
    # RFC 9449 §10: the code was bound to the same key before the provider issued it (dpop_jkt).
    asked = next(e for e in seen if e["path"] == "/authorize")
    assert {p["name"]: p["value"] for p in asked["query"]}["dpop_jkt"] in thumbprints, asked
    assert "the thumbprint of this browser's DPoP key" in timeline, timeline
    browser_page.click("#sign-out")
    browser_page.wait_text("#message", "Signed out: tokens revoked.")
    browser_page.wait_visible("#signed-out")
    browser_page.observed = "bound to one key; proofs on /token (2) and the API; revoked at sign-out"


@journey(
    "implicit-no-refresh",
    "Refresh (implicit)",
    "no refresh token; the Refresh button is disabled and says why",
    "RFC 9700 §2.1.2; RFC 6749 §4.2.2",
)
def test_implicit_has_no_refresh(browser_page: Browser, demo: Demo) -> None:
    """RFC 9700 §2.1.2: the implicit flow gets no refresh token, and the page says why."""
    sign_in(browser_page, "token", "fragment")
    assert not browser_page.is_enabled("#refresh")
    browser_page.wait_visible("#refresh-note")
    assert not browser_page.is_visible("#tokens button[aria-label='Reveal refresh_token']")
    browser_page.observed = "no refresh token, button disabled"


@journey(
    "sign-out-revokes", "Sign out", "tokens revoked; the API then answers 401 to the old access token", "RFC 7009 §2.1"
)
def test_sign_out_revokes(browser_page: Browser, demo: Demo) -> None:
    """RFC 7009: after sign-out the old access token no longer works at the API."""
    sign_in(browser_page, "code", "query")
    browser_page.click("#sign-out")
    browser_page.wait_text("#message", "401")
    browser_page.wait_visible("#signed-out")
    browser_page.observed = "revoked, API 401"


@journey(
    "reload", "Reload after the callback", NO_SECRETS + "; signed out (tokens in memory)", "docs/SECURITY.md C5, C7"
)
def test_reload_after_sign_in_neither_reruns_the_exchange_nor_restores_the_code(
    browser_page: Browser, demo: Demo
) -> None:
    """docs/SECURITY.md C5, C7: reload signs out (tokens in memory) and sends no second token request."""
    before = last_seq(demo)
    sign_in(browser_page, "code", "query")
    assert len(token_requests(demo, before)) == 1
    browser_page.reload()
    wait_ready(browser_page)
    browser_page.wait_visible("#signed-out")
    assert len(token_requests(demo, before)) == 1
    assert_url_clean(browser_page)
    assert browser_page.evaluate("Object.keys(localStorage).length") == 0
    browser_page.observed = "signed out, one POST /token, URL clean"


@journey(
    "storage-session",
    "The sign-in page's storage choice: sessionStorage",
    "the choice survives the page's reload; a reload keeps the session; the timeline says where tokens are kept",
    "docs/SECURITY.md C7",
)
def test_chosen_session_storage_keeps_the_session_across_a_reload(browser_page: Browser, demo: Demo) -> None:
    """docs/SECURITY.md C7: sessionStorage only when chosen; never localStorage."""
    open_app(browser_page)
    browser_page.check('input[name="token-storage"][value="session"]')  # the page reloads with the choice
    browser_page.wait_text("#storage-note", "sessionStorage")
    wait_ready(browser_page)
    before = last_seq(demo)
    sign_in(browser_page, "code", "query")
    assert "a reload keeps them" in browser_page.text("#timeline")
    browser_page.reload()
    wait_ready(browser_page)
    browser_page.wait_visible("#signed-in")  # restored from this tab's sessionStorage, no new sign-in
    assert len(token_requests(demo, before)) == 1
    assert browser_page.evaluate("Object.keys(localStorage).length") == 0
    browser_page.observed = "signed in after a reload, one POST /token, nothing in localStorage"


@journey("back", "Back to the app after leaving it", NO_SECRETS, "docs/SECURITY.md C5")
def test_back_after_sign_in_neither_reruns_the_exchange_nor_restores_the_code(
    browser_page: Browser, demo: Demo
) -> None:
    """docs/SECURITY.md C5: the callback's history entry was replaced, so Back returns to a clean URL."""
    before = last_seq(demo)
    sign_in(browser_page, "code", "query")
    app_url = browser_page.url
    browser_page.goto("/app.css")
    browser_page.back()
    browser_page.wait_url(lambda url: url == app_url, app_url)
    # Either a fresh boot (signed out: tokens were in memory) or the page restored from bfcache.
    wait_ready(browser_page)
    browser_page.wait_for(
        lambda: browser_page.is_visible("#signed-out") or browser_page.is_visible("#signed-in"), "the app to render"
    )
    assert_url_clean(browser_page)
    assert len(token_requests(demo, before)) == 1
    restored = browser_page.is_visible("#signed-in")
    browser_page.observed = "one POST /token, URL clean; " + (
        "restored signed in (bfcache)" if restored else "fresh boot, signed out"
    )


@pytest.mark.parametrize(("flow", "mode"), [("code", "query"), ("code", "fragment"), ("token", "fragment")])
@journey(
    "popup {flow} ({mode})",
    "Popup sign-in: response_type={flow}, response_mode={mode}",
    "signed in without this page reloading; the popup closed itself; the URL holds no code or token",
    "issue 5; docs/SECURITY.md C1, C5",
)
def test_popup_sign_in_keeps_the_app_loaded(browser_page: Browser, demo: Demo, flow: str, mode: str) -> None:
    """The popup's callback page hands its URL back and closes; this page never navigates."""
    open_app(browser_page)
    browser_page.evaluate("window.spalabStayed = true")
    before = last_seq(demo)
    browser_page.check('input[name="signin-window"][value="popup"]')
    with browser_page.popup(lambda: start(browser_page, flow, mode)):
        authenticate_in_popup(browser_page)
    browser_page.wait_visible("#signed-in")
    assert browser_page.evaluate("window.spalabStayed === true"), "the app page reloaded"
    assert_url_clean(browser_page)
    assert len(token_requests(demo, before)) == (1 if flow == "code" else 0)
    call_api(browser_page)
    browser_page.observed = "signed in, page never reloaded, popup closed itself, API 200"


@journey(
    "popup-again",
    "Popup sign-in with a live provider session",
    "the popup opens and closes by itself (no form), and the app is signed in",
    "issue 5",
)
def test_a_popup_sign_in_with_a_live_session_needs_no_form(browser_page: Browser, demo: Demo) -> None:
    """Signed in at the provider with consent remembered, the answer can come back before the app
    is even waiting for it; it must not be lost."""
    sign_in(browser_page, "code", "query", popup=True)
    open_app(browser_page)  # a fresh page: nothing fetched yet, as a returning visitor's
    browser_page.check('input[name="signin-window"][value="popup"]')
    browser_page.evaluate("window.spalabStayed = true")
    before, before_host = last_seq(demo), last_seq(demo, "spa-host")
    # The popup may open and close faster than a driver can see it: watch the app instead.
    start(browser_page, "code", "query")
    browser_page.wait_visible("#signed-in")
    assert browser_page.evaluate("window.spalabStayed === true"), "the app page reloaded"
    assert len(token_requests(demo, before)) == 1
    served = [e["path"] for e in demo.requests_seen("spa-host") if e["seq"] > before_host]
    assert "/popup-callback.html" in served, served
    browser_page.observed = "popup opened and closed by itself; signed in; page never reloaded"


@journey("popup-closed", "Popup closed by the user", "a readable message; still signed out; no POST /token", "issue 5")
def test_closing_the_popup_is_reported(browser_page: Browser, demo: Demo) -> None:
    open_app(browser_page)
    before = last_seq(demo)
    browser_page.check('input[name="signin-window"][value="popup"]')
    with browser_page.popup(lambda: start(browser_page, "code", "query")):
        browser_page.wait_visible("#username")
        # A person reads the page before closing it; popup.js must have seen the provider's page in the
        # popup (it looks every 100 ms) to tell a closed popup from one that a provider's COOP cut off.
        browser_page.pause(0.5)
        browser_page.close_window()
    assert "closed before" in message(browser_page)
    browser_page.wait_visible("#signed-out")
    assert token_requests(demo, before) == []
    browser_page.observed = "message shown, signed out"


@journey(
    "scrub-before-boot",
    "Callback URL cleaned before Python starts",
    "the code left the address bar before main.py was even requested",
    "issue 5; docs/SECURITY.md C5",
)
def test_the_callback_url_is_cleaned_before_the_interpreter_starts(browser_page: Browser, demo: Demo) -> None:
    """boot.js scrubs the URL first; the performance timeline shows it happened before main.py was fetched."""
    sign_in(browser_page, "code", "query")
    timing = browser_page.evaluate("""(() => {
        const scrubbed = performance.getEntriesByName("spalab:url-scrubbed")[0];
        const main = performance.getEntriesByType("resource").find((e) => new URL(e.name).pathname === "/main.py");
        return {scrubbed: scrubbed ? scrubbed.startTime : null, main: main ? main.startTime : null};
    })()""")
    assert timing["scrubbed"] is not None, "boot.js did not scrub the callback"
    assert timing["main"] is not None and timing["scrubbed"] < timing["main"], timing
    assert_url_clean(browser_page)
    browser_page.observed = (
        f"scrubbed {timing['scrubbed']:.0f} ms after navigation start; main.py requested at {timing['main']:.0f} ms"
    )


def test_micropython_fetches_its_compiled_modules_as_one_file(browser_page: Browser, demo: Demo) -> None:
    """Issue 15: the MicroPython page gets the package's and the app's compiled modules in one file (its
    interpreter module unpacks it while MicroPython boots), not in one request each, and runs them."""
    browser_page.runtime = "mpy"
    open_app(browser_page)
    paths = browser_page.evaluate(
        "performance.getEntriesByType('resource').map((entry) => new URL(entry.name).pathname)"
    )
    modules = [path for path in paths if path.endswith((".mpy", ".py", ".whl", ".zip")) and path != "/main.py"]
    assert modules == [] and [path for path in paths if path.startswith("/mpy-bundle/")] == ["/mpy-bundle/app"], paths
    assert browser_page.evaluate("document.documentElement.dataset.runtime") == "mpy"
