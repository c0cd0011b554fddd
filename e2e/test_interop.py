"""Interop: the example app (spalab-auth) against an independent OpenID provider, panva's
node `oidc-provider` (e2e/interop/, pinned in its package-lock.json), started here on loopback.

`spalab serve --issuer URL --client-id ID` (the SPA host alone) points the example app at it by
discovery only; the provider advertises DPoP (RFC 9449), revocation and RP-Initiated Logout and
signs in anyone through its development login and consent pages. Each engine and runtime signs
in, calls userinfo (the example's API there), signs out through the provider's "confirm logout"
page, and ends signed out.

The provider writes the token, userinfo, revocation and end-session requests it saw to a JSON
lines file (method, path, status, DPoP proof or not, Authorization scheme, token_type answered:
never a token); every assertion message below carries that log.
"""

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from drivers import Browser, journey
from harness import ROOT, free_port, wait_until_up
from test_package import PAGES, open_example

pytestmark = pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")

INTEROP = ROOT / "e2e" / "interop"
CLIENT_ID = "interop-spa"
USERNAME = "alice"  # the provider's dev login takes any username and any password
SHORT_LIFETIME = 10  # seconds: access tokens refreshed every 5 s (half the lifetime ahead of expiry)
CONSENT_PAGE = "document.querySelector('input[name=prompt][value=consent]') !== null"  # its form, hidden field


def _pinned_version() -> str:
    try:
        lock = json.loads((INTEROP / "package-lock.json").read_text())
        return str(lock["packages"]["node_modules/oidc-provider"]["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return "?"


OIDC_PROVIDER_VERSION = _pinned_version()


@dataclass
class Interop:
    spa: str
    issuer: str
    request_log: Path

    def requests(self, route: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """The provider's request log from entry `since` on, of one route (authorization, token,
        userinfo, revocation, end_session, end_session_confirm) or all; CORS preflights left out."""
        try:
            lines = self.request_log.read_text().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines[since:]:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line being written
            if isinstance(entry, dict) and entry.get("method") != "OPTIONS":
                entries.append(entry)
        return [e for e in entries if route is None or e.get("route") == route]

    def count(self) -> int:
        try:
            return len(self.request_log.read_text().splitlines())
        except FileNotFoundError:
            return 0

    def seen(self, since: int = 0) -> str:
        """The log, for assertion messages."""
        return "oidc-provider saw:\n" + "\n".join(json.dumps(e) for e in self.requests(since=since))


def start_interop(folder: Path, *provider_args: str) -> Iterator[Interop]:
    """node e2e/interop/provider.mjs, and `spalab serve --issuer ... --client-id ...` pointed at it."""
    node = shutil.which("node")
    if node is None or not (INTEROP / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the interop provider needs node and e2e/interop/node_modules: run scripts/setup --test")
    spa_port, provider_port = free_port(), free_port()
    spa, issuer = f"http://localhost:{spa_port}", f"http://127.0.0.1:{provider_port}"
    request_log = folder / "requests.jsonl"
    pages = [spa + path for path in PAGES.values()]
    provider = subprocess.Popen(
        [node, "provider.mjs", "--port", str(provider_port), "--client-id", CLIENT_ID]
        + [arg for page in pages for arg in ("--redirect-uri", page)]
        + ["--request-log", str(request_log), *provider_args],
        stdout=(folder / "provider.log").open("w"),
        stderr=subprocess.STDOUT,
        cwd=INTEROP,
    )
    wait_until_up(issuer + "/.well-known/openid-configuration", provider, folder / "provider.log")
    host = subprocess.Popen(
        [sys.executable, "-m", "spalab", "serve", "--issuer", issuer, "--client-id", CLIENT_ID]
        + ["--spa-port", str(spa_port), "--data-dir", str(folder)],
        stdout=(folder / "host.log").open("w"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        wait_until_up(spa + "/", host, folder / "host.log")
        yield Interop(spa, issuer, request_log)
    finally:
        for process in (host, provider):
            process.terminate()
            process.wait(timeout=10)
    assert provider.returncode == 0, (folder / "provider.log").read_text()  # it stops cleanly on SIGTERM


@pytest.fixture(scope="session")
def interop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Interop]:
    yield from start_interop(tmp_path_factory.mktemp("interop"))


@pytest.fixture(scope="session")
def interop_short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Interop]:
    """The same, with access tokens that live SHORT_LIFETIME seconds."""
    yield from start_interop(tmp_path_factory.mktemp("interop-short"), "--access-token-ttl", str(SHORT_LIFETIME))


def sign_in_at_oidc_provider(browser: Browser, issuer: str) -> None:
    """oidc-provider's development pages: the login form, then the consent page if shown."""
    browser.wait_for(lambda: browser.url.startswith(issuer) and browser.is_visible("input[name=login]"), "its login")
    browser.fill("input[name=login]", USERNAME)
    browser.fill("input[name=password]", "any password")
    browser.click_button("Sign-in")
    browser.wait_for(
        lambda: browser.url.startswith(browser.base_url) or bool(browser.evaluate(CONSENT_PAGE)),
        "its consent page or the app",
    )
    if not browser.url.startswith(browser.base_url):
        browser.click_button("Continue")


@journey(
    "interop-oidc-provider",
    f"Example app ({{runtime}}) against node oidc-provider {OIDC_PROVIDER_VERSION}",
    "signed in; userinfo answers with the user's claims; signed out at that provider (its logout page)",
    "OIDC Core; RFC 7636; RFC 7009; RP-Initiated Logout 1.0; RFC 9449 advertised",
)
def test_the_example_app_works_against_node_oidc_provider(
    browser_page: Browser, interop: Interop, runtime: str
) -> None:
    browser_page.base_url = interop.spa
    page = interop.spa + PAGES[runtime]
    start = interop.count()
    open_example(browser_page, page)
    browser_page.click("#sign-in")
    sign_in_at_oidc_provider(browser_page, interop.issuer)
    browser_page.wait_visible("#call-api")
    assert browser_page.url == page, interop.seen(start)  # the code left the address bar
    # The id_token of a code flow carries no profile claims at oidc-provider (OIDC Core §5.4, its
    # conformIdTokenClaims): the package completes them from userinfo (same sub), so the name shows.
    who = browser_page.text("#who")
    assert who == "Signed in as Alice Liddell", (who, interop.seen(start))

    browser_page.click("#call-api")  # the example's API at another provider: its userinfo endpoint
    browser_page.wait_text("#out", f'"sub": "{USERNAME}"')
    claims = json.loads(browser_page.text("#out"))
    assert claims["name"] == "Alice Liddell" and claims["email"] == "alice@example.com", claims

    # What the provider saw: it advertises ES256 for DPoP, so the example turns DPoP on (RFC 9449):
    # the code went with a proof and came back as a DPoP-bound token, used with a proof at userinfo.
    log = interop.seen(start)
    [exchange] = [e for e in interop.requests("token", start) if e.get("grant_type") == "authorization_code"]
    assert exchange["status"] == 200 and exchange["refresh_token_issued"], log
    assert (exchange["dpop"], exchange["token_type"]) == (True, "DPoP"), log
    userinfo = [e for e in interop.requests("userinfo", start) if e["status"] == 200]
    assert userinfo, log
    assert {(e["authorization"], e["dpop"]) for e in userinfo} == {("DPoP", True)}, log

    signing_out = interop.count()
    browser_page.click("#sign-out")
    # oidc-provider asks the visitor to confirm a logout (its own page, a form on its origin).
    browser_page.wait_for(
        lambda: browser_page.url.startswith(interop.issuer) and browser_page.is_visible("button[form='op.logoutForm']"),
        "oidc-provider's logout confirmation",
    )
    browser_page.click_button("Yes, sign me out")
    browser_page.wait_url(lambda url: url == page, "back on the app, the logout state checked and gone")
    browser_page.wait_visible("#sign-in")
    assert browser_page.text("#who") == "Signed out"
    log = interop.seen(signing_out)
    revoked = interop.requests("revocation", signing_out)
    assert [e["status"] for e in revoked] == [200, 200], log  # the refresh token and the access token
    assert [e["method"] for e in interop.requests("end_session", signing_out)] == ["GET"], log
    assert [e["status"] for e in interop.requests("end_session_confirm", signing_out)] == [303], log
    # The provider session is over: signing in again shows its login page.
    browser_page.click("#sign-in")
    browser_page.wait_for(lambda: browser_page.is_visible("input[name=login]"), "oidc-provider's login page")
    browser_page.observed = (
        f"{who!r}; token_type {exchange['token_type']}, DPoP proofs {'sent' if exchange['dpop'] else 'not sent'}; "
        "userinfo answered; signed out after the provider's logout page"
    )


@journey(
    "interop-oidc-provider-reload-refresh",
    f"Example app ({{runtime}}) against node oidc-provider {OIDC_PROVIDER_VERSION}: reload, refresh",
    "a reload signs in again without its login page (prompt=none); the refresh token rotates",
    "OIDC Core §3.1.2.1 prompt=none; RFC 6749 §6; RFC 9700 §4.14.2",
)
@pytest.mark.engines("chromium")  # to keep the interop run short; sign-in runs in every engine
def test_a_reload_and_a_refresh_work_against_node_oidc_provider(
    browser_page: Browser, interop_short_lived: Interop, runtime: str
) -> None:
    interop = interop_short_lived
    browser_page.base_url = interop.spa
    page = interop.spa + PAGES[runtime]
    open_example(browser_page, page)
    browser_page.click("#sign-in")
    sign_in_at_oidc_provider(browser_page, interop.issuer)
    browser_page.wait_visible("#call-api")
    start = interop.count()
    browser_page.reload()
    browser_page.wait_visible("#call-api")
    assert browser_page.url == page, interop.seen(start)
    assert [e["prompt"] for e in interop.requests("authorization", start)] == ["none"], interop.seen(start)

    def refreshes() -> list[dict[str, Any]]:
        return [e for e in interop.requests("token", start) if e.get("grant_type") == "refresh_token"]

    browser_page.wait_for(lambda: len(refreshes()) >= 2, "two refreshes", timeout=3 * SHORT_LIFETIME)
    log = interop.seen(start)
    assert [e["status"] for e in refreshes()] == [200] * len(refreshes()), log
    # RFC 9449 §5: each refresh carries a proof by the same key and the tokens stay bound.
    assert {(e["dpop"], e["token_type"]) for e in refreshes()} == {(True, "DPoP")}, log
    browser_page.click("#call-api")
    browser_page.wait_text("#out", f'"sub": "{USERNAME}"')
