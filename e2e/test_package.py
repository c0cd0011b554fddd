"""The spalab-auth package as an adopter uses it: the example app (web/example/, one page
per runtime, the wheel its only config entry) in Chromium, Firefox and WebKitGTK.

- sign-in, the user, an API call and sign-out, the URL clean at each step;
- sign-out ends the provider session (RP-Initiated Logout), and the state comes back;
- a reload restores the session without the login page (prompt=none);
- two tabs sharing a session whose tokens expire together both stay signed in, and the
  provider sees each refresh token used once (Web Locks + BroadcastChannel);
- popup sign-in with the package's own popup.js and popup-callback.js: the page never reloads;
- storage="worker" (worker.html, worker-mpy.html): the tokens in the package's Web Worker, which
  exchanges the code, calls the API, refreshes and revokes; a reload signs in again (prompt=none).
"""

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from drivers import Browser, PlaywrightBrowser, journey
from harness import ROOT, Demo, free_port, start_demo, wait_until_up
from spa_page import authenticate, authenticate_in_popup

pytestmark = pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")

PAGES = {"py": "/example/", "mpy": "/example/mpy.html"}
WORKER_PAGES = {"py": "/example/worker.html", "mpy": "/example/worker-mpy.html"}
DEMO_TOML = Path(__file__).resolve().parents[1] / "server" / "spalab" / "provider" / "demo.toml"
SHORT_LIFETIME = 16  # seconds: refreshed every 8 s (at most half the lifetime ahead of expiry)


@pytest.fixture(scope="session")
def nonces_required(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo with DPoP server nonces required (RFC 9449 §8, §9)."""
    running = start_demo(tmp_path_factory.mktemp("dpop-nonce"), config="dpop_nonce = true\n" + DEMO_TOML.read_text())
    yield running
    running.process.terminate()
    running.process.wait(timeout=10)


@pytest.fixture(scope="session")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo with access tokens that live SHORT_LIFETIME seconds."""
    config = f"access_token_lifetime = {SHORT_LIFETIME}\n" + DEMO_TOML.read_text()
    running = start_demo(tmp_path_factory.mktemp("short-lived"), config=config)
    yield running
    running.process.terminate()
    running.process.wait(timeout=10)


def open_example(browser: Browser, url: str) -> None:
    browser.goto(url)
    browser.wait_for(
        lambda: browser.is_visible("#sign-in") or browser.is_visible("#call-api"), "the example app to start"
    )


def sign_in(browser: Browser, url: str) -> None:
    open_example(browser, url)
    browser.click("#sign-in")
    browser.wait_visible("#username")
    authenticate(browser)
    browser.wait_visible("#call-api")


def provider_saw(demo: Demo, path: str, since: int = 0) -> list[dict[str, object]]:
    """The provider's log entries for `path` after `since`, CORS preflights left out."""
    return [
        e
        for e in demo.requests_seen("provider")
        if e["path"] == path and int(str(e["seq"])) > since and e["method"] != "OPTIONS"
    ]


def last_seq(demo: Demo) -> int:
    entries = demo.requests_seen("provider")
    return int(str(entries[-1]["seq"])) if entries else 0


def sign_out_and_return(browser: Browser, server: Demo, page: str) -> int:
    """Clicks "Sign out" and waits for the app's page to come back from the provider's sign-out
    (RP-Initiated Logout). The page this tab leaves is marked first: until the next navigation
    commits, its URL is `page` too and it already shows "Signed out", so neither says that the
    return has happened. Returns the provider log's mark from before the click."""
    before = last_seq(server)
    browser.evaluate("window.spalabLeaving = true")
    browser.click("#sign-out")
    browser.wait_for(lambda: bool(provider_saw(server, "/end-session", before)), "the end-session request")
    browser.wait_for(
        lambda: browser.url == page and browser.evaluate("window.spalabLeaving === undefined") is True,
        "the app's page back from the provider's sign-out",
    )
    browser.wait_visible("#sign-in")
    return before


def names(entry: dict[str, object], part: str = "query") -> dict[str, str]:
    return {str(p["name"]): str(p["value"]) for p in entry[part]}  # type: ignore[attr-defined]


@journey(
    "package-example",
    "Example app ({runtime}): sign in, API, sign out",
    "signed in as Alice; the API answers; sign-out revokes and ends the provider session",
    "issue 10; RP-Initiated Logout 1.0",
)
def test_example_app_signs_in_calls_the_api_and_signs_out(browser_page: Browser, demo: Demo, runtime: str) -> None:
    page = demo.spa + PAGES[runtime]
    before = last_seq(demo)
    sign_in(browser_page, page)
    assert browser_page.text("#who") == "Signed in as Alice Liddell"
    assert browser_page.url == page  # the package took the code out of the address bar
    browser_page.click("#call-api")
    browser_page.wait_text("#out", '"sub": "alice"')
    # The example turns DPoP on (RFC 9449): the authorization request bound the code to the key
    # (dpop_jkt, §10), the code went with a proof of it, the API call with "Authorization: DPoP"
    # and its proof; the API accepts a bound token no other way.
    asked = provider_saw(demo, "/authorize", before)[0]
    assert len(names(asked)["dpop_jkt"]) == 43  # a SHA-256 JWK thumbprint; the exchange below proves that key
    [exchange] = provider_saw(demo, "/token", before)
    [api_call] = provider_saw(demo, "/api/me", before)
    assert exchange["dpop"] is True and (api_call["authorization"], api_call["dpop"]) == ("DPoP", True)

    before = sign_out_and_return(browser_page, demo, page)  # the state checked and gone
    assert browser_page.text("#who") == "Signed out"
    revoked = [names(e, "form")["token_type_hint"] for e in provider_saw(demo, "/revoke", before)]
    assert sorted(revoked) == ["access_token", "refresh_token"]
    [end_session] = provider_saw(demo, "/end-session", before)
    sent = names(end_session)
    assert {"id_token_hint", "post_logout_redirect_uri", "state", "client_id"} <= set(sent)
    assert sent["post_logout_redirect_uri"] == page
    # The provider session is over: signing in again asks for the password.
    browser_page.click("#sign-in")
    browser_page.wait_visible("#username")


@journey(
    "package-popup",
    "Example app ({runtime}): sign in in a popup",
    "signed in without the page reloading; the popup closed itself; the API answers",
    "issue 15; the package's popup.js and popup-callback.js",
)
def test_the_example_app_signs_in_in_a_popup_with_the_packages_scripts(
    browser_page: Browser, demo: Demo, runtime: str
) -> None:
    """What an adopter gets from the wheel for the fast sign-in (README "Speed"): popup.js opens the
    window inside the click and waits; popup-callback.js, on the popup's callback page, hands the
    response back; the package checks it as for a redirect, and the app's page never navigates."""
    page = demo.spa + PAGES[runtime]
    before = last_seq(demo)
    open_example(browser_page, page)
    browser_page.evaluate("window.spalabStayed = true")
    with browser_page.popup(lambda: browser_page.click("#sign-in-popup")):
        authenticate_in_popup(browser_page)
    browser_page.wait_visible("#call-api")
    assert browser_page.text("#who") == "Signed in as Alice Liddell"
    assert browser_page.evaluate("window.spalabStayed === true"), "the app's page reloaded"
    assert browser_page.url == page
    asked = provider_saw(demo, "/authorize", before)[0]
    assert names(asked)["redirect_uri"] == demo.spa + "/popup-callback.html"
    [exchange] = provider_saw(demo, "/token", before)
    assert names(exchange, "form")["redirect_uri"] == demo.spa + "/popup-callback.html"
    browser_page.click("#call-api")
    browser_page.wait_text("#out", '"sub": "alice"')
    browser_page.observed = "signed in through the popup, page never reloaded, API 200"


def popup_sign_in_despite(
    browser_page: Browser, page: str, attack: Callable[[], None], prepare: Callable[[], None] = lambda: None
) -> None:
    """Starts a popup sign-in on the example `page` (after `prepare` there), runs `attack` while the popup
    shows the sign-in form, and checks that the app ignored it: the popup is still open a second later, and
    the real answer signs in."""
    open_example(browser_page, page)
    prepare()
    with browser_page.popup(lambda: browser_page.click("#sign-in-popup")):
        browser_page.wait_visible("#username")
        attack()
        browser_page.pause(1)  # time for a message to arrive, and for the app to act on it if it would
        assert not browser_page.closed(), "the app took a forged answer and closed its popup"
        authenticate_in_popup(browser_page)
    browser_page.wait_visible("#call-api")
    assert browser_page.text("#who") == "Signed in as Alice Liddell"


LISTEN_TO_THE_CHANNEL = """(() => {
    window.heard = [];
    window.heardOn = new BroadcastChannel("spalab:callback");
    window.heardOn.onmessage = (event) => window.heard.push(event.data.url);
    return true;
})()"""
FORGE_AN_ANSWER = """async (app) => {
    // A page the popup passes through (here the provider's sign-in page, of another origin) posts an
    // answer of its own making to the app, in the form the callback page uses.
    window.opener.postMessage({ type: "spalab:callback", url: app + "?code=forged&state=forged" }, "*");
    return location.origin;
}"""


@journey(
    "package-popup-forged",
    "Example app: an answer posted from another origin is ignored",
    "the app keeps waiting for its own callback page, then signs in",
    "docs/SECURITY.md C17; RFC 9700 §4.17",
)
def test_a_popup_answer_from_another_origin_is_ignored(browser_page: Browser, demo: Demo) -> None:
    """docs/SECURITY.md C17: popup.js takes an answer only from its own origin, in the window it opened.
    The provider's page in that window is another origin: what it posts is dropped unread (with the
    check removed, the app reads the forged URL, refuses its state, and closes the popup)."""
    page = demo.spa + PAGES["py"]

    def forge() -> None:
        assert browser_page.evaluate_async(FORGE_AN_ANSWER, page) == demo.issuer

    popup_sign_in_despite(browser_page, page, forge)
    browser_page.observed = "forged answer ignored; the real one signed in"


@journey(
    "package-popup-broadcast",
    "Example app: another page's answer on the popup's channel is ignored",
    "the app keeps waiting for the answer to its own request, then signs in",
    "docs/SECURITY.md C17",
)
def test_an_answer_to_another_request_on_the_channel_is_ignored(browser_page: Browser, demo: Demo) -> None:
    """docs/SECURITY.md C17: the callback page broadcasts when it has no opener (a provider's COOP cut it), and
    any page of another site can open it with noopener and a URL of its choosing. popup.js takes only the
    answer carrying its own request's state: without that check this forged answer ends the sign-in and
    closes the popup."""
    forged = demo.spa + "/popup-callback.html?code=forged&state=forged"

    def listen() -> None:  # what goes over the channel, heard in the app's page
        browser_page.evaluate(LISTEN_TO_THE_CHANNEL)

    def broadcast() -> None:
        # Another site's page sends a tab of its own to the callback page: no opener there, so it
        # broadcasts (and may close itself: in Firefox a tab opened by the driver can).
        tab = browser_page.open_tab(demo.issuer + "/")
        with browser_page.in_tab(tab):
            browser_page.evaluate(f"(location.href = {forged!r}, true)")

    popup_sign_in_despite(browser_page, demo.spa + PAGES["py"], broadcast, listen)
    assert forged in browser_page.evaluate("window.heard"), "the forged answer was never broadcast"
    browser_page.observed = "another request's answer ignored; the real one signed in"


@pytest.fixture
def own_browser(browser_page: Browser, journey_engine: str, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """browser_page, in a browser launched for this test alone: once a context used Playwright's routing,
    Firefox keeps nothing in its HTTP cache for the rest of the browser's life (the snapshot tests of
    test_pyodide_restore.py, run after, then timed out)."""
    from conftest import JOURNEY_LAUNCH, JOURNEY_VIEWPORT

    assert isinstance(browser_page, PlaywrightBrowser)
    launched = getattr(request.getfixturevalue("playwright"), journey_engine).launch(**JOURNEY_LAUNCH[journey_engine])
    shared = browser_page.page
    context = launched.new_context(base_url=browser_page.base_url, viewport=JOURNEY_VIEWPORT)  # type: ignore[arg-type]
    browser_page.page = context.new_page()
    try:
        yield browser_page
    finally:
        browser_page.page = shared
        launched.close()


def send_coop_from_the_provider(browser: Browser, issuer: str) -> None:
    """Every page of the provider's origin comes with Cross-Origin-Opener-Policy: same-origin, as many
    hosted providers send on their sign-in pages. Added in flight by Playwright (our provider does not
    send it, so that a visitor who closes the popup is told at once), the rest of each answer untouched.
    Pages served after a POST still arrive through a GET (the provider redirects after each form)."""
    assert isinstance(browser, PlaywrightBrowser)

    def add_coop(route: Any) -> None:
        if route.request.method != "GET":  # the form's POST (Playwright's Firefox does not fetch it again)
            return route.continue_()
        answer = route.fetch(max_redirects=0)
        route.fulfill(response=answer, headers={**answer.headers, "cross-origin-opener-policy": "same-origin"})

    browser.page.context.route(issuer + "/**", add_coop)


def authenticate_in_cut_off_popup(browser: Browser) -> None:
    """authenticate_in_popup, for a popup that COOP cut off: the forms are submitted from the page, as
    Playwright's click waits for the navigation it started, which Firefox loses track of when the window
    changes browsing context group on the way back."""
    browser.fill("#username", "alice")
    browser.fill("#password", "wonderland")
    browser.evaluate("(document.querySelector('form').requestSubmit(), true)")
    browser.wait_for(lambda: browser.closed() or "/authorize?" in browser.url, "the consent page")
    if not browser.closed():
        browser.evaluate("(document.querySelector('button[value=allow]').click(), true)")
    browser.wait_for(browser.closed, "the popup to close itself")


@journey(
    "package-popup-coop",
    "Example app: popup sign-in when the provider cuts the window link (COOP)",
    "the popup reads as closed from the app, yet the answer comes over the channel and signs in",
    "HTML Standard, Cross-Origin-Opener-Policy; docs/SECURITY.md C17",
)
@pytest.mark.engines("chromium", "firefox")  # the header is added by Playwright's routing; WebDriver has none
def test_a_popup_sign_in_works_when_the_provider_sends_coop(own_browser: Browser, demo: Demo) -> None:
    """A provider page with COOP severs the popup from the app: window.opener is null there and, from
    the app, the popup reads as closed though the visitor is still signing in. popup.js used to take that
    for "closed by the user" within a second and fail the sign-in; it now tells the two apart by whether
    it saw the provider's page in the popup first, and waits for the callback page's broadcast."""
    send_coop_from_the_provider(own_browser, demo.issuer)
    open_example(own_browser, demo.spa + PAGES["py"])
    with own_browser.popup(lambda: own_browser.click("#sign-in-popup")):
        own_browser.wait_visible("#username")
        assert own_browser.evaluate("window.opener") is None, "the provider's COOP did not cut the link"
        own_browser.pause(2)  # past the grace a closed popup gets
        authenticate_in_cut_off_popup(own_browser)
    own_browser.wait_visible("#call-api")
    assert own_browser.text("#who") == "Signed in as Alice Liddell"
    own_browser.observed = "the popup was cut off, the answer came over the channel: signed in"


@journey(
    "package-popup-again",
    "Example app: a second popup sign-in takes the first's place",
    "the first ends with a message, leaves the shared window alone; the second signs in",
    "issue 15",
)
@pytest.mark.engines("chromium", "firefox")  # two windows driven at once, through Playwright's pages
def test_a_second_popup_sign_in_takes_the_place_of_the_first(browser_page: Browser, demo: Demo) -> None:
    """A visitor who clicks "Sign in in a popup" again while the first popup waits (one cut off by a
    provider's COOP and closed, say, which the app cannot see): the first sign-in ends as superseded, and
    must not close the window, which the browser reuses for the second (same window name)."""
    assert isinstance(browser_page, PlaywrightBrowser)
    open_example(browser_page, demo.spa + PAGES["py"])
    app = browser_page.page
    with browser_page.popup(lambda: browser_page.click("#sign-in-popup")):
        browser_page.wait_visible("#username")
        app.click("#sign-in-popup")  # the same window, sent to the provider for a new request
        app.locator("#out").get_by_text("A newer sign-in took the place of this one.").wait_for()
        browser_page.pause(1)  # the first sign-in's clean-up has run
        assert not browser_page.closed(), "the first sign-in closed the second's window"
        browser_page.wait_visible("#username")
        authenticate_in_popup(browser_page)
    browser_page.wait_visible("#call-api")
    assert browser_page.text("#who") == "Signed in as Alice Liddell"
    browser_page.observed = "the first ended as superseded; the second signed in in the same window"


@journey(
    "package-popup-coop-again",
    "Example app: a popup cut off by COOP, a second click, the first popup finished",
    "the second sign-in takes the first's answer: signed in",
    "HTML Standard, Cross-Origin-Opener-Policy; docs/SECURITY.md C17",
)
@pytest.mark.engines("chromium", "firefox")  # COOP added by Playwright's routing, as above
def test_the_first_popup_can_still_finish_after_a_second_click(own_browser: Browser, demo: Demo) -> None:
    """With the provider's COOP, the app cannot see its popup: a visitor who clicks again gets a second
    window (the first is in another browsing context group, out of reach by name), and may still finish
    in the first. The second sign-in takes that answer (its state is one this page issued and handed
    over); it used to be dropped, and the visitor stayed signed out."""
    assert isinstance(own_browser, PlaywrightBrowser)
    send_coop_from_the_provider(own_browser, demo.issuer)
    open_example(own_browser, demo.spa + PAGES["py"])
    app = own_browser.page
    with own_browser.popup(lambda: own_browser.click("#sign-in-popup")):
        own_browser.wait_visible("#username")
        first = own_browser.page
        with app.expect_popup() as second:
            app.click("#sign-in-popup")
        app.locator("#out").get_by_text("A newer sign-in took the place of this one.").wait_for()
        second.value.locator("#username").wait_for()
        own_browser.page = first
        authenticate_in_cut_off_popup(own_browser)
    own_browser.wait_visible("#call-api")
    assert own_browser.text("#who") == "Signed in as Alice Liddell"
    # The second window stays at the provider's page: COOP cut it off too, and the app cannot close it.
    own_browser.observed = "the first popup's answer signed in through the second sign-in"


@journey(
    "package-dpop-nonce",
    "Example app ({runtime}): DPoP with server nonces",
    "the token endpoint and the API each demand a nonce once; the request goes again with it and succeeds",
    "RFC 9449 §8, §9",
)
def test_server_nonces_are_fetched_once_and_sent_back(
    browser_page: Browser, nonces_required: Demo, runtime: str
) -> None:
    browser_page.base_url = nonces_required.spa
    page = nonces_required.spa + PAGES[runtime]
    before = last_seq(nonces_required)
    sign_in(browser_page, page)
    browser_page.click("#call-api")
    browser_page.wait_text("#out", '"sub": "alice"')
    browser_page.click("#call-api")  # the API's nonce is known now: no second demand
    browser_page.wait_for(
        lambda: len(provider_saw(nonces_required, "/api/me", before)) == 3, "the second API call to arrive"
    )
    seen = {path: provider_saw(nonces_required, path, before) for path in ("/token", "/api/me")}
    statuses = {path: [int(str(e["status"])) for e in entries] for path, entries in seen.items()}
    assert statuses == {"/token": [400, 200], "/api/me": [401, 200, 200]}, statuses
    browser_page.observed = f"/token {statuses['/token']}, /api/me {statuses['/api/me']}"


@journey(
    "package-reload",
    "Example app ({runtime}): reload",
    "still signed in after a reload, without the login page (prompt=none)",
    "issue 10",
)
def test_a_reload_restores_the_session_without_the_login_page(browser_page: Browser, demo: Demo, runtime: str) -> None:
    page = demo.spa + PAGES[runtime]
    sign_in(browser_page, page)
    before = last_seq(demo)
    browser_page.reload()
    browser_page.wait_visible("#call-api")
    assert browser_page.text("#who") == "Signed in as Alice Liddell"
    assert browser_page.url == page
    [silent] = provider_saw(demo, "/authorize", before)
    assert names(silent)["prompt"] == "none"
    assert not provider_saw(demo, "/login", before)
    assert [names(e, "form")["grant_type"] for e in provider_saw(demo, "/token", before)] == ["authorization_code"]


@journey(
    "package-two-tabs",
    "Example app ({runtime}): two tabs, tokens expiring together",
    "both tabs stay signed in; each refresh token is used once",
    "issue 10; RFC 9700 §4.14.2",
)
def test_two_tabs_share_one_refresh_and_both_stay_signed_in(
    browser_page: Browser, short_lived: Demo, runtime: str
) -> None:
    browser_page.base_url = short_lived.spa  # authenticate() knows the app by its origin
    page = short_lived.spa + PAGES[runtime]
    sign_in(browser_page, page)
    before = last_seq(short_lived)
    second = browser_page.open_tab(page)
    with browser_page.in_tab(second):
        browser_page.wait_visible("#call-api")  # the first tab handed its tokens over
        assert browser_page.text("#who") == "Signed in as Alice Liddell"
    assert not provider_saw(short_lived, "/authorize", before)  # no second sign-in

    # Three refresh periods: both tabs' access tokens expire together each time.
    def refreshes() -> list[dict[str, object]]:
        return [
            e for e in provider_saw(short_lived, "/token", before) if names(e, "form")["grant_type"] == "refresh_token"
        ]

    browser_page.wait_for(lambda: len(refreshes()) >= 3, "three refreshes", timeout=4 * SHORT_LIFETIME)
    used = [names(e, "form")["refresh_token"] for e in refreshes()]
    assert [e["status"] for e in refreshes()] == [200] * len(used)
    assert len(set(used)) == len(used)  # no refresh token was presented twice: no reuse
    for tab in (None, second):
        with browser_page.in_tab(tab) if tab is not None else nullcontext():
            assert browser_page.text("#who") == "Signed in as Alice Liddell"
            browser_page.click("#call-api")
            browser_page.wait_text("#out", '"sub": "alice"')
    # Sign-out in one tab signs out the other at once: told, not found out by a refused refresh.
    signing_out = last_seq(short_lived)
    browser_page.click("#sign-out")
    with browser_page.in_tab(second):
        browser_page.wait_visible("#sign-in", timeout=5)
        assert browser_page.text("#who") == "Signed out"
    browser_page.wait_url(lambda url: url == page, "back from the provider's sign-out")
    assert not provider_saw(short_lived, "/token", signing_out)


@journey(
    "package-logout-state",
    "Example app ({runtime}): a forged return from sign-out",
    "refused: the state is not the one this tab sent",
    "RP-Initiated Logout 1.0 §3",
)
def test_a_logout_return_with_another_state_is_refused(browser_page: Browser, demo: Demo, runtime: str) -> None:
    page = demo.spa + PAGES[runtime]
    open_example(browser_page, page)
    # This tab is waiting for the provider's sign-out to come back with state "sent".
    browser_page.evaluate(
        'sessionStorage.setItem("spalab_auth:spa-demo:logout", JSON.stringify({state: "sent", at: Date.now() / 1000}))'
    )
    browser_page.goto(page + "?state=forged")
    browser_page.wait_text("#out", "state check failed")
    assert browser_page.url == page  # cleaned all the same


@pytest.fixture(scope="session")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`spalab serve --issuer URL --client-id ID`: the SPA host alone, pointed at a provider it
    knows only by discovery (here a separate `spalab provider`, client "my-spa")."""
    folder = tmp_path_factory.mktemp("elsewhere")
    spa_port, provider_port = free_port(), free_port()
    spa, issuer = f"http://localhost:{spa_port}", f"http://127.0.0.1:{provider_port}"
    pages = f'["{spa}/example/", "{spa}/example/mpy.html"]'
    (folder / "provider.toml").write_text(
        f'issuer = "{issuer}"\nrequest_log = true\n\n[[clients]]\nclient_id = "my-spa"\n'
        f'redirect_uris = {pages}\npost_logout_redirect_uris = {pages}\ncors_origins = ["{spa}"]\n\n'
        '[[users]]\nusername = "alice"\npassword = "wonderland"\nclaims = { name = "Alice Liddell" }\n'
    )
    command = [sys.executable, "-m", "spalab"]
    provider = subprocess.Popen(
        [*command, "provider", "--config", str(folder / "provider.toml"), "--port", str(provider_port)]
        + ["--data-dir", str(folder), "--request-log"],
        stdout=(folder / "provider.log").open("w"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    wait_until_up(issuer + "/.well-known/openid-configuration", provider, folder / "provider.log")
    host = subprocess.Popen(
        [*command, "serve", "--issuer", issuer, "--client-id", "my-spa", "--spa-port", str(spa_port)],
        stdout=(folder / "host.log").open("w"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    wait_until_up(spa + "/", host, folder / "host.log")
    yield Demo(spa, issuer, provider)
    for process in (host, provider):
        process.terminate()
        process.wait(timeout=10)


@journey(
    "package-elsewhere",
    "Example app ({runtime}) against another provider (--issuer/--client-id)",
    "signed in; userinfo answers; signed out at that provider",
    "issue 10",
)
def test_the_example_app_works_against_a_provider_given_by_issuer(
    browser_page: Browser, elsewhere: Demo, runtime: str
) -> None:
    browser_page.base_url = elsewhere.spa
    page = elsewhere.spa + PAGES[runtime]
    sign_in(browser_page, page)
    assert browser_page.text("#who") == "Signed in as Alice Liddell"
    browser_page.click("#call-api")  # the example's API there: the provider's userinfo endpoint
    browser_page.wait_text("#out", '"sub": "alice"')
    sign_out_and_return(browser_page, elsewhere, page)


@journey(
    "package-worker",
    "Example app ({runtime}), tokens in a Web Worker: sign in, API, refresh, reload, sign out",
    "signed in; the API answers; the worker refreshes (rotation); a reload signs in again without the "
    "login page; sign-out revokes both tokens and ends the provider session",
    "draft-ietf-oauth-browser-based-apps §8; RFC 9700 §4.14.2; RFC 7009",
)
def test_the_token_worker_signs_in_calls_the_api_refreshes_and_signs_out(
    browser_page: Browser, short_lived: Demo, runtime: str
) -> None:
    browser_page.base_url = short_lived.spa
    page = short_lived.spa + WORKER_PAGES[runtime]
    before = last_seq(short_lived)
    sign_in(browser_page, page)
    assert browser_page.text("#who") == "Signed in as Alice Liddell"
    assert browser_page.url == page
    browser_page.click("#call-api")
    browser_page.wait_text("#out", '"sub": "alice"')
    [exchange] = provider_saw(short_lived, "/token", before)
    assert names(exchange, "form")["grant_type"] == "authorization_code" and exchange["dpop"] is False
    assert [e["authorization"] for e in provider_saw(short_lived, "/api/me", before)] == ["Bearer"]

    def refreshes() -> list[dict[str, object]]:
        token_calls = provider_saw(short_lived, "/token", before)
        return [e for e in token_calls if names(e, "form")["grant_type"] == "refresh_token"]

    browser_page.wait_for(lambda: len(refreshes()) >= 2, "two refreshes by the worker", timeout=3 * SHORT_LIFETIME)
    used = [names(e, "form")["refresh_token"] for e in refreshes()]
    assert [e["status"] for e in refreshes()] == [200] * len(used) and len(set(used)) == len(used)
    browser_page.click("#call-api")  # with the refreshed access token, which only the worker holds
    browser_page.wait_for(lambda: len(provider_saw(short_lived, "/api/me", before)) == 2, "the second API call")
    assert [e["status"] for e in provider_saw(short_lived, "/api/me", before)] == [200, 200]

    # The worker died with the page: a reload signs in again (prompt=none), no password asked.
    reloaded = last_seq(short_lived)
    browser_page.reload()
    browser_page.wait_visible("#call-api")
    [silent] = provider_saw(short_lived, "/authorize", reloaded)
    assert names(silent)["prompt"] == "none" and not provider_saw(short_lived, "/login", reloaded)

    signing_out = sign_out_and_return(browser_page, short_lived, page)  # the state checked and gone
    revoked = [names(e, "form")["token_type_hint"] for e in provider_saw(short_lived, "/revoke", signing_out)]
    assert sorted(revoked) == ["access_token", "refresh_token"]
    assert all(e["status"] == 200 for e in provider_saw(short_lived, "/revoke", signing_out))
    browser_page.observed = f"refresh tokens used once each: {len(used)} refreshes; both tokens revoked at sign-out"
