"""Small tools the lab's experiments share: driving the SPA and the provider's
pages with Playwright, request-log windows, PKCE pairs, driving /authorize by
hand in a page, and fetch from inside a page.

The SPA drivers here are Playwright-only on purpose: the experiments use
pytest-playwright's `page` (one fresh context per test) and read engine details
(history, fetch errors) that only a Playwright page exposes uniformly."""

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from playwright.sync_api import Page, expect

from harness import Demo

BOOT_TIMEOUT = 60_000

SERVERS = ("spa-host", "provider")
Entry = dict[str, Any]


def open_app(page: Page) -> None:
    page.goto("/")
    expect(page.locator("#signin-code")).to_be_enabled(timeout=BOOT_TIMEOUT)


def start(page: Page, flow: str = "code", mode: str = "query") -> None:
    """flow: "code" (mode query or fragment), "token" or "id_token token"."""
    if flow == "code":
        page.check(f'input[name="response-mode"][value="{mode}"]')
        page.click("#signin-code")
    else:
        page.check(f'input[name="implicit-type"][value="{flow}"]')
        page.click("#signin-implicit")


def authenticate(page: Page, username: str = "alice", password: str = "wonderland") -> None:
    """Signs in at the provider and allows on the consent page if it is shown."""
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()
    # Either the consent page (at /authorize) or, with consent remembered, straight back to the client.
    page.wait_for_url(lambda url: "/login" not in url, wait_until="commit")
    if "/authorize" in page.url:
        page.get_by_role("button", name="Allow").click()


def sign_in(page: Page, flow: str = "code", mode: str = "query") -> None:
    open_app(page)
    start(page, flow, mode)
    authenticate(page)
    expect(page.locator("#signed-in")).to_be_visible(timeout=BOOT_TIMEOUT)


def message(page: Page) -> str:
    box = page.locator("#message")
    expect(box).to_be_visible(timeout=BOOT_TIMEOUT)
    return box.inner_text()


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


def authorize_in_page(page: Page, demo: Demo, params: dict[str, str], username: str = "alice",
                      password: str = "wonderland") -> dict[str, str]:  # fmt: skip
    """Sends the browser to /authorize with `params`, signs in, and returns the
    authorization response read from the redirect URI's query or fragment."""
    redirect_uri = params["redirect_uri"]
    page.goto(demo.issuer + "/authorize?" + urlencode(params))
    authenticate(page, username, password)
    # Read the URL as soon as it commits: the SPA at "/" cleans it once it boots.
    page.wait_for_url(lambda url: url.startswith(redirect_uri) and "state=" in url, wait_until="commit")
    parts = urlsplit(page.url)
    return dict(parse_qsl(parts.fragment or parts.query))


def fetch_in_page(page: Page, url: str, method: str = "GET", form: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """fetch() from the page's own origin: {status, body, acao} or {error} when the engine rejects."""
    init: dict[str, Any] = {"method": method, "headers": dict(headers or {})}
    if form is not None:
        init["body"] = urlencode(form)
        init["headers"]["content-type"] = "application/x-www-form-urlencoded"
    return page.evaluate(
        """async ([url, init]) => {
            try {
                const r = await fetch(url, init);
                return {status: r.status, body: await r.text(), acao: r.headers.get("access-control-allow-origin")};
            } catch (e) {
                return {error: e.name + ": " + e.message};
            }
        }""",
        [url, init],
    )


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
