"""The lab, backend-for-frontend (issue 12; draft-ietf-oauth-browser-based-apps §6.1): the same attacker
moves as against the browser-held tokens, run against the BFF page (/bff/), in each engine. The tokens
live in the SPA host's memory; the page holds an HttpOnly session cookie.

- E15: after sign-in through the BFF, an injected script reads what it can (cookies, storage, the page,
  every response, with fetch wrapped), sends what it found elsewhere, starts a sign-in of its own, and
  calls the API through the BFF. Then the BFF's defences as the browser shows them: pages of another
  site and of the same site on another origin get no data from /bff/ (custom header, Sec-Fetch-Site /
  Origin, no CORS), and the session cookie's attributes as the browser stored them.
"""

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from drivers import Browser, PlaywrightBrowser, SeleniumBrowser
from harness import Demo
from lab_helpers import fetch_in_page, mark, seen_since
from spa_page import authenticate

from spalab.host.bff import FALLBACK_TX_COOKIE, TX_COOKIE

pytestmark = pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")
Observe = Callable[..., None]
ARCHITECTURE = "BFF (server-side tokens)"
BFF_HEADERS = {"X-Spalab-BFF": "1"}
JWT = re.compile(r"eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*")
# What /bff/session may say: who is signed in, never a token.
SESSION_KEYS = {"signed_in", "sub", "name", "email", "scope", "expires_at"}

# An injected script: everything a script in the page can read, and fetch wrapped so that every request
# the page makes from now on, and its response, is copied.
LOOK_AROUND = """async () => {
    window.__seen = [];
    const original = window.fetch;
    window.fetch = async function (input, init) {
        const response = await original.apply(this, arguments);
        const headers = [...new Headers((init && init.headers) || {})].map((pair) => pair.join(": "));
        window.__seen.push({url: String(input), headers: headers, status: response.status,
                            body: await response.clone().text()});
        return response;
    };
    const found = {cookie: document.cookie, localStorage: {...localStorage}, sessionStorage: {...sessionStorage},
                   html: document.documentElement.outerHTML,
                   resources: performance.getEntries().map((entry) => entry.name)};
    found.indexedDB = indexedDB.databases ? (await indexedDB.databases()).map((db) => db.name) : "not listable";
    for (const path of ["/bff/session", "/bff/api/me"]) {
        const response = await fetch(path, {headers: {"X-Spalab-BFF": "1"}});
        found[path] = {status: response.status, body: await response.text()};
    }
    return found;
}"""

# An injected script starting sign-ins of its own without leaving the page: fetch (manual and followed
# redirects) and a hidden iframe.
FRESH_FLOW = """async () => {
    const out = {};
    try { const r = await fetch("/bff/login", {redirect: "manual"}); out.manual = r.type + " " + r.status; }
    catch (e) { out.manual = e.name; }
    try { const r = await fetch("/bff/login"); out.follow = r.status + " " + r.url; }
    catch (e) { out.follow = e.name; }
    const frame = document.createElement("iframe");
    frame.hidden = true;
    frame.src = "/bff/login";
    document.body.appendChild(frame);
    await new Promise((ok) => setTimeout(ok, 3000));
    try { out.iframe = frame.contentWindow.location.href; } catch (e) { out.iframe = e.name; }
    return out;
}"""

# From a page of another origin: the BFF's API with the browser's cookies, without and with the header.
FROM_ELSEWHERE = """async (url) => {
    const out = {};
    for (const [label, init] of [["no header", {credentials: "include"}],
                                 ["header", {credentials: "include", headers: {"X-Spalab-BFF": "1"}}],
                                 ["no-cors", {credentials: "include", mode: "no-cors"}]]) {
        try {
            const r = await fetch(url, init);
            out[label] = r.type === "opaque" ? "opaque (unreadable)" : r.status + " " + (await r.text()).slice(0, 80);
        } catch (e) { out[label] = e.name; }
    }
    return out;
}"""

# From a page of another origin: a form POST (a top-level navigation) to the BFF's sign-out.
FORM_POST = """async (url) => {
    const form = document.createElement("form");
    form.method = "POST";
    form.action = url;
    document.body.appendChild(form);
    form.submit();
    return true;
}"""


class _Blank(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        body = b"<!doctype html><title>another origin of the same site</title><p>lab page</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def same_site_page() -> Iterator[str]:
    """A page on http://localhost:<another port>: the BFF's site (ports do not make a site), another origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Blank)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def sign_in_through_the_bff(browser: Browser, demo: Demo) -> None:
    browser.goto("/bff/")
    browser.wait_visible("#sign-in")
    browser.click("#sign-in")
    browser.wait_for(lambda: browser.url.startswith(demo.issuer + "/login"), "the provider's login page")
    authenticate(browser)
    browser.wait_url(lambda url: url == demo.spa + "/bff/", "back on the BFF page")
    browser.wait_visible("#call-api")


def stored_cookies(browser: Browser, demo: Demo) -> list[dict[str, Any]]:
    """The SPA host's cookies as the browser stored them (not what a script sees): Playwright's
    context.cookies() for Chromium and Firefox, WebDriver's Get All Cookies (current page) for WebKit."""
    if isinstance(browser, PlaywrightBrowser):
        return [dict(c) for c in browser.page.context.cookies(demo.spa)]
    assert isinstance(browser, SeleniumBrowser)
    return [dict(c) for c in browser.driver.get_cookies()]


def settled_cookies(browser: Browser, demo: Demo, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The stored cookies once the sign-in's transaction cookies are gone, or as they are after `timeout`
    seconds: the callback's Set-Cookie deletes them, and an engine's cookie store, read from outside the
    page, may show that a moment after the navigation (seen once in Firefox, in CI)."""
    deadline = time.monotonic() + timeout
    while True:
        cookies = stored_cookies(browser, demo)
        if not any(c["name"] in (TX_COOKIE, FALLBACK_TX_COOKIE) for c in cookies) or time.monotonic() > deadline:
            return cookies
        browser.pause(0.2)


def describe(cookie: dict[str, Any]) -> str:
    flags = [f for f in ("httpOnly", "secure") if cookie.get(f)]
    same_site, path = cookie.get("sameSite"), cookie.get("path")
    partition = f", partition {cookie['partitionKey']}" if cookie.get("partitionKey") else ""
    return f"{cookie['name']} ({', '.join(flags) or 'no flags'}, SameSite={same_site}, path {path}{partition})"


def test_an_injected_script_can_call_the_api_through_the_bff_but_take_no_token(
    browser_page: Browser, demo: Demo, observe: Observe
) -> None:
    spec = "draft-ietf-oauth-browser-based-apps §5.1, §6.1; docs/SECURITY.md H3, H4"
    sign_in_through_the_bff(browser_page, demo)
    found = dict(browser_page.evaluate_async(LOOK_AROUND))
    browser_page.click("#call-api")  # the page's own API call, through the wrapped fetch
    browser_page.wait_text("#out", '"sub": "alice"')
    seen = list(browser_page.evaluate("window.__seen"))
    everything = json.dumps([found, seen])
    jwts = JWT.findall(everything)
    session = json.loads(found["/bff/session"]["body"])
    names = " ".join(re.findall(r'"(\w*token\w*)"', everything))

    # The access token: a JWT (RFC 9068) nowhere in what the script can read.
    observed = (
        f"document.cookie {found['cookie']!r}; localStorage {found['localStorage']}, sessionStorage "
        f"{found['sessionStorage']}, IndexedDB {found['indexedDB']}; {len(seen)} responses read through the wrapped "
        f"fetch, /bff/session's keys {sorted(session)}; JWTs found: {len(jwts)}"
    )
    passed = not jwts and set(session) <= SESSION_KEYS and found["cookie"] == ""
    observe(
        "E15",
        "BFF: an injected script looks for the access token",
        observed,
        "no token anywhere a script can read: the cookie is HttpOnly, storage is empty, the BFF answers without tokens",
        spec,
        passed,
        move="read the access token",
        architecture=ARCHITECTURE,
        attacker="succeeded" if jwts else "stopped",
    )
    assert passed, observed

    observed = f"field names with 'token' in all the script read: {names or 'none'}; /bff/session: {sorted(session)}"
    passed = not names and set(session) <= SESSION_KEYS
    observe(
        "E15",
        "BFF: an injected script looks for the refresh token",
        observed,
        "the refresh token never leaves the SPA host",
        spec,
        passed,
        move="read the refresh token",
        architecture=ARCHITECTURE,
        attacker="stopped" if passed else "succeeded",
    )
    assert passed, observed

    # What the script could send away is document.cookie: used elsewhere (this process), it is no session.
    elsewhere = httpx.get(
        demo.spa + "/bff/api/me", headers={**BFF_HEADERS, "Origin": demo.spa, "Cookie": found["cookie"]}
    )

    # The script's own sign-in, first without leaving the page, then by navigating it.
    before = mark(demo)
    fresh = dict(browser_page.evaluate_async(FRESH_FLOW))
    quiet = [(e["method"], e["path"], e["status"]) for e in seen_since(demo, before)["spa-host"]]
    before = mark(demo)
    browser_page.evaluate("location.assign('/bff/login')")
    # The URL is /bff/ before and after: wait for the new page's own question to the BFF instead.
    browser_page.wait_for(lambda: bool(_seen(demo, before, "/bff/session")), "the reloaded page's /bff/session")
    browser_page.wait_visible("#call-api")
    navigated = [
        (e["path"], e["status"]) for e in seen_since(demo, before)["spa-host"] if e["path"].startswith("/bff/")
    ]
    script_gone = browser_page.evaluate("typeof window.__seen") == "undefined"
    callbacks = [e for e in quiet if e[1] == "/bff/callback"]
    observed = (
        f"in the page: fetch /bff/login (manual) → {fresh['manual']}, followed → {fresh['follow']}, hidden iframe → "
        f"{fresh['iframe']}; callbacks reached: {callbacks or 'none'}. Navigating the page: {navigated}; "
        f"the new session's tokens stay in the BFF; the script unloaded with the page: {script_gone}"
    )
    passed = not callbacks and script_gone and ("/bff/callback", 303) in navigated
    observe(
        "E15",
        "BFF: an injected script starts a sign-in of its own",
        observed,
        "a flow the script starts delivers the tokens to the BFF, never to the script; without leaving the page "
        "it gets no response at all (CORS at /authorize, CSP frame-src, a cookie the iframe's callback lacks)",
        spec + "; draft-ietf-oauth-browser-based-apps §5.1.3",
        passed,
        move="start a fresh flow of its own",
        architecture=ARCHITECTURE,
        attacker="stopped" if passed else "succeeded",
    )
    assert passed, observed

    # The move a BFF does not stop: the script uses the session through the page while it is open.
    proxied = fetch_in_page(browser_page, "/bff/api/me", headers=BFF_HEADERS)
    body = json.loads(proxied.get("body") or "{}")
    observed = f"fetch('/bff/api/me', X-Spalab-BFF: 1) from the script → {proxied.get('status')} sub={body.get('sub')}"
    proxied_ok = proxied.get("status") == 200 and body.get("sub") == "alice"
    observe(
        "E15",
        "BFF: an injected script calls the API through the page",
        observed,
        "succeeds: same-origin script is indistinguishable from the page, so the BFF proxies its calls while the "
        "page is open (the draft's point: a BFF keeps tokens out of reach, not the session)",
        spec + "; draft-ietf-oauth-browser-based-apps §6.1.3.3",
        proxied_ok,
        move="proxy an API call through the page",
        architecture=ARCHITECTURE,
        attacker="succeeded" if proxied_ok else "stopped",
    )
    assert proxied_ok, observed

    # For contrast, the cookie the browser holds (no script can read it) would be a session elsewhere. Read
    # on a page loaded from this origin: WebKit's WebDriver lists no SameSite=Strict cookie for a page that a
    # cross-site redirect brought (the provider's, back from sign-in), though the page's requests carry it.
    browser_page.goto("/bff/")
    browser_page.wait_visible("#call-api")
    # For contrast, the cookie the browser holds (no script can read it) would be a session elsewhere.
    stored = stored_cookies(browser_page, demo)
    jar = "; ".join(f"{c['name']}={c['value']}" for c in stored)
    with_the_jar = httpx.get(demo.spa + "/bff/api/me", headers={**BFF_HEADERS, "Origin": demo.spa, "Cookie": jar})
    observed = (
        f"the script's document.cookie sent from elsewhere → {elsewhere.status_code} {elsewhere.json().get('error')}; "
        f"(the HttpOnly cookie itself, {[c['name'] for c in stored]}, which only the browser's own store gives out, "
        f"→ {with_the_jar.status_code})"
    )
    passed = elsewhere.status_code == 401 and elsewhere.json().get("error") == "not_signed_in"
    observe(
        "E15",
        "BFF: what a script can steal, used elsewhere",
        observed,
        "nothing a script can read is a credential: the session cookie is HttpOnly (it is one, for whoever "
        "reads the browser's cookie store: a session, not a token, ended by sign-out)",
        spec + "; RFC 6265bis §4.1.2.6 (HttpOnly)",
        passed,
        move="use a stolen token elsewhere",
        architecture=ARCHITECTURE,
        attacker="stopped" if passed else "succeeded",
    )
    assert passed, observed


def test_the_bff_answers_only_its_own_origin_and_its_cookie_is_locked_down(
    browser_page: Browser, demo: Demo, observe: Observe, same_site_page: str
) -> None:
    spec = "docs/SECURITY.md H3, H4; Fetch §3.2 (CORS), Fetch Metadata §2; RFC 6265bis §4.1.3.2, §5.6.7"
    started = mark(demo)
    sign_in_through_the_bff(browser_page, demo)
    api = demo.spa + "/bff/api/me"
    results = {}
    statuses = {}
    for label, page in (
        ("another site", "http://127.0.0.1:" + str(urlsplit(demo.spa).port) + "/lab/blank"),
        ("same site, another origin", same_site_page),
    ):
        browser_page.goto(page)
        before = mark(demo)
        results[label] = dict(browser_page.evaluate_async(FROM_ELSEWHERE, api))
        statuses[label] = [
            (e["method"], e["status"]) for e in seen_since(demo, before)["spa-host"] if e["path"] == "/bff/api/me"
        ]
    # A form POST to sign-out from the same site: the Strict cookie goes along, the header cannot.
    browser_page.goto(same_site_page)
    before = mark(demo)
    browser_page.evaluate_async(FORM_POST, demo.spa + "/bff/logout")
    browser_page.wait_for(lambda: bool(_seen(demo, before, "/bff/logout")), "the form's POST")
    form_status = [e["status"] for e in _seen(demo, before, "/bff/logout")]
    browser_page.goto("/bff/")
    browser_page.wait_visible("#call-api")  # still signed in

    leaked = [
        f"{label}: {how} → {answer}"
        for label, answers in results.items()
        for how, answer in answers.items()
        if answer[:3].isdigit() and answer.startswith("200")
    ]
    served = [s for label in statuses for s in statuses[label] if s[1] == 200]
    observed = (
        "; ".join(f"{label}: {answers} (the host answered {statuses[label]})" for label, answers in results.items())
        + f"; a form POST to /bff/logout from the same site → {form_status}, still signed in"
    )
    passed = not leaked and not served and form_status == [403]
    observe(
        "E15",
        "BFF: pages of other origins get no data and cannot sign the user out",
        observed,
        "every request from another origin is refused by the host (403 csrf_refused: no header, or Sec-Fetch-Site "
        "not same-origin) or never sent (the header needs a CORS preflight the host does not answer)",
        spec,
        passed,
    )
    assert passed, observed

    browser_page.goto("/bff/")
    cookies = settled_cookies(browser_page, demo)
    session = [c for c in cookies if "spalab-bff" in c["name"]]
    observed = "; ".join(describe(c) for c in cookies) or "no cookies"
    if len(session) != 1:  # what the host was asked, to tell a late sign-in start from a deletion not applied
        observed += "; the host saw " + ", ".join(
            f"{e['method']} {e['path']} → {e['status']} at {e['time']:.3f} "
            f"(referer {e['referer']}, cookies {e['cookies']})"
            for e in seen_since(demo, started)["spa-host"]
            if e["path"] in ("/bff/login", "/bff/callback")
        )
    prefixed = [c for c in session if c["name"] == "__Host-spalab-bff"]
    locked = (
        len(session) == 1
        and session[0].get("httpOnly") is True
        and str(session[0].get("sameSite")) == "Strict"
        and session[0].get("path") == "/"
    )
    secure = bool(prefixed) and prefixed[0].get("secure") is True
    fallback = not prefixed and session[0]["name"] == "spalab-bff" if session else False
    observe(
        "E15",
        "BFF: the session cookie as the browser stored it",
        observed
        + ("" if prefixed else "; the engine did not keep the Secure __Host- cookie on http://localhost: the fallback"),
        "__Host-spalab-bff: HttpOnly, Secure, SameSite=Strict, Path=/, no Domain; the transaction cookies gone. "
        "An engine that drops Secure cookies on http://localhost gets spalab-bff (HttpOnly, SameSite=Strict, "
        "not Secure): recorded",
        spec,
        locked and (secure or fallback),
        recorded=locked and fallback,
    )
    assert locked, observed


def _seen(demo: Demo, before: dict[str, int], path: str) -> list[dict[str, Any]]:
    return [e for e in seen_since(demo, before)["spa-host"] if e["path"] == path]
