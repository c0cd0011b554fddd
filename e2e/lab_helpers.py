"""Small tools the lab's experiments share, on top of spa_page's SPA drivers:
request-log windows, PKCE pairs, driving /authorize by hand, fetch from inside a
page, and reading a callback URL after the page has scrubbed it.

Everything here is written on drivers.Browser, so the experiments run unchanged
in Chromium, Firefox (Playwright) and WebKitGTK (Selenium)."""

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from drivers import Browser
from harness import Demo
from spa_page import BOOT_TIMEOUT, authenticate

SERVERS = ("spa-host", "provider")
Entry = dict[str, Any]

# The URL this document was loaded from. PerformanceNavigationTiming keeps it, query and
# fragment included, after history.replaceState has cleaned the address bar (measured in all
# three engines; experiment E10), so it reads a callback however fast the page scrubbed it.
NAVIGATION_URL = "performance.getEntriesByType('navigation')[0]?.name ?? ''"


def mark(demo: Demo) -> dict[str, int]:
    """The last sequence number each server's log holds, to read only what comes after."""
    return {s: max((e["seq"] for e in demo.requests_seen(s)), default=0) for s in SERVERS}


def seen_since(demo: Demo, since: dict[str, int]) -> dict[str, list[Entry]]:
    return {s: [e for e in demo.requests_seen(s) if e["seq"] > since[s]] for s in SERVERS}


def param_names(entry: Entry, part: str = "query") -> set[str]:
    return {p["name"] for p in entry[part]}


def param(entry: Entry, name: str) -> str | None:
    return next((p["value"] for p in entry["query"] if p["name"] == name), None)


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 §4.1-4.2: a verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def navigation_url(browser: Browser) -> str:
    return str(browser.evaluate(NAVIGATION_URL))


def callback_url(browser: Browser, redirect_uri: str) -> str:
    """The authorization response the current document was loaded with (query or fragment)."""
    browser.wait_for(
        lambda: navigation_url(browser).startswith(redirect_uri) and "state=" in navigation_url(browser),
        f"a callback at {redirect_uri}",
        BOOT_TIMEOUT,
    )
    return navigation_url(browser)


def authorize_in_page(
    browser: Browser, demo: Demo, params: dict[str, str], username: str = "alice", password: str = "wonderland"
) -> dict[str, str]:
    """Sends the browser to /authorize with `params`, signs in, and returns the
    authorization response read from the redirect URI's query or fragment."""
    redirect_uri = params["redirect_uri"]
    browser.goto(demo.issuer + "/authorize?" + urlencode(params))
    authenticate(browser, username, password)
    parts = urlsplit(callback_url(browser, redirect_uri))
    return dict(parse_qsl(parts.fragment or parts.query))


def forget_provider_session(browser: Browser, demo: Demo) -> None:
    """Drops the provider's session cookie, so the next /authorize asks for a password again."""
    browser.goto(demo.issuer + "/static/provider.css")
    browser.clear_cookies()


FETCH = """async ([url, init]) => {
    try {
        const r = await fetch(url, init);
        return {status: r.status, body: await r.text(), acao: r.headers.get("access-control-allow-origin")};
    } catch (e) {
        return {error: e.name + ": " + e.message};
    }
}"""


def fetch_in_page(
    browser: Browser,
    url: str,
    method: str = "GET",
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """fetch() from the page's own origin: {status, body, acao} or {error} when the engine rejects."""
    init: dict[str, Any] = {"method": method, "headers": dict(headers or {})}
    if form is not None:
        init["body"] = urlencode(form)
        init["headers"]["content-type"] = "application/x-www-form-urlencoded"
    return dict(browser.evaluate_async(FETCH, [url, init]))


def redact(url: str) -> str:
    """A URL for the report: parameter names kept, values of codes and tokens cut."""
    return re.sub(r"((?:code|access_token|id_token|refresh_token|state)=)[^&#]+", r"\1…", url)


def url_shape(url: str) -> str:
    """Origin, path and parameter names only: "http://h/p?code,state#access_token"."""
    parts = urlsplit(url)
    shape = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path
    query = ",".join(n for n, _ in parse_qsl(parts.query, keep_blank_values=True))
    fragment = ",".join(n for n, _ in parse_qsl(parts.fragment, keep_blank_values=True))
    return shape + (f"?{query}" if query else "") + (f"#{fragment}" if fragment else "")
