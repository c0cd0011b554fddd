"""The backend-for-frontend on the SPA host (spalab.host.bff; docs/SECURITY.md H3-H6), against the real
provider in-process: the BFF's httpx client reaches the provider app through httpx's ASGI transport, the
browser is two test clients (the SPA host's origin and the provider's) whose cookies the test carries
by hand, so that each cookie attribute the host sends is seen exactly as sent."""

import re
import socket
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from provider_support import ISSUER, SPA, TEST_CONFIG, Clock, Flow, api, seeded
from starlette.testclient import TestClient

from spalab.cli import find_bff_client
from spalab.host.app import create_spa_app
from spalab.host.bff import BFF, BFFSettings
from spalab.provider.app import create_provider_app
from spalab.provider.config import load_demo_config, parse_config

# Characters that Basic credentials must carry form-urlencoded (RFC 6749 §2.3.1).
BFF_SECRET = "bff-secret:for/tests%20+ ü"
BFF_CONFIG = (
    TEST_CONFIG
    + f"""
[[clients]]
client_id = "bff"
client_secret = "{BFF_SECRET}"
redirect_uris = ["{SPA}/bff/callback"]
"""
)
SETTINGS = {"issuer": ISSUER, "client_id": "spa-demo", "redirect_uri": SPA + "/"}
SAME_ORIGIN = {"X-Spalab-BFF": "1", "Sec-Fetch-Site": "same-origin"}


class Visitor:
    """The SPA host's side of one browser: its cookies (name → value, and the attributes last set)."""

    def __init__(self, spa: TestClient, provider: TestClient) -> None:
        self.spa = spa
        self.provider = provider
        self.jar: dict[str, str] = {}
        self.attributes: dict[str, dict[str, str]] = {}

    def request(self, method: str, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        response = self.spa.request(method, url, headers={**(headers or {}), **({"Cookie": cookie} if cookie else {})})
        self.spa.cookies.clear()  # this class is the jar
        for line in response.headers.get_list("set-cookie"):
            parsed = SimpleCookie()
            parsed.load(line)
            for name, morsel in parsed.items():
                self.attributes[name] = {k: str(v) for k, v in morsel.items() if v} | {"raw": line}
                if morsel["max-age"] == "0" or not morsel.value:
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = morsel.value
        return response

    def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.request("GET", url, headers)

    def start(self) -> dict[str, str]:
        """/bff/login: the authorization request's parameters."""
        login = self.get("/bff/login")
        assert login.status_code == 302, login.text
        location = login.headers["location"]
        assert location.startswith(ISSUER + "/authorize?"), location
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def authorize(self, params: dict[str, str]) -> str:
        """The user signs in and consents at the provider; the callback URL's path and query."""
        answer = Flow(self.provider).run(params)
        back = answer.headers["location"]
        assert back.startswith(SPA + "/bff/callback?"), back
        return back.removeprefix(SPA)

    def sign_in(self) -> httpx.Response:
        return self.get(self.authorize(self.start()))


@pytest.fixture
def bff(tmp_path: Path, clock: Clock) -> Iterator[tuple[BFF, TestClient, TestClient]]:
    provider_app = create_provider_app(parse_config(BFF_CONFIG, "bff test config"), seeded(tmp_path), clock=clock)
    settings = BFFSettings(ISSUER, "bff", BFF_SECRET, SPA, ISSUER + "/api")
    bff = BFF(settings, transport=httpx.ASGITransport(app=provider_app), clock=clock)
    spa = TestClient(create_spa_app([ISSUER], SETTINGS, bff=bff), base_url=SPA, follow_redirects=False)
    provider = TestClient(provider_app, base_url=ISSUER, follow_redirects=False)
    yield bff, spa, provider
    provider_app.state.provider.store.close()


@pytest.fixture
def visitor(bff: tuple[BFF, TestClient, TestClient]) -> Visitor:
    return Visitor(bff[1], bff[2])


def session_of(bff: tuple[BFF, TestClient, TestClient]) -> object:
    (only,) = bff[0].sessions.entries.values()
    return only


def test_login_sends_a_code_request_with_pkce_state_and_nonce(visitor: Visitor) -> None:
    """RFC 9700 §2.1.1, RFC 6749 §10.12, OIDC Core §3.1.2.1: S256, a fresh state and nonce per sign-in."""
    first, second = visitor.start(), visitor.start()
    assert first["client_id"] == "bff" and first["response_type"] == "code"
    assert first["redirect_uri"] == SPA + "/bff/callback"
    assert first["code_challenge_method"] == "S256" and len(first["code_challenge"]) == 43
    for name in ("state", "nonce", "code_challenge"):
        assert first[name] != second[name], name
        assert len(first[name]) >= 43, name  # 256 bits


def test_sign_in_keeps_the_tokens_on_the_server(bff: tuple[BFF, TestClient, TestClient], visitor: Visitor) -> None:
    """draft-ietf-oauth-browser-based-apps §6.1: the browser gets a session cookie, never a token."""
    answer = visitor.sign_in()
    assert (answer.status_code, answer.headers["location"]) == (303, "/bff/")
    assert set(visitor.jar) == {"__Host-spalab-bff"}  # the transaction cookies are gone
    session = visitor.get("/bff/session", SAME_ORIGIN)
    assert session.json()["signed_in"] is True and session.json()["sub"] == "alice"
    stored = session_of(bff)
    for secret in (stored.access_token, stored.refresh_token):  # type: ignore[attr-defined]
        assert secret and secret not in session.text and secret not in answer.text
        assert all(secret not in line for line in answer.headers.get_list("set-cookie"))


def test_the_session_cookie_is_host_only_httponly_strict_and_secure(visitor: Visitor) -> None:
    """RFC 6265bis §4.1.3.2 (__Host-), §5.6.7 (SameSite); docs/SECURITY.md H3."""
    visitor.sign_in()
    attributes = visitor.attributes["__Host-spalab-bff"]
    assert attributes["path"] == "/" and "domain" not in attributes
    assert attributes["httponly"] and attributes["secure"], attributes["raw"]
    assert attributes["samesite"].lower() == "strict", attributes["raw"]
    assert "max-age" not in attributes and "expires" not in attributes  # a browser-session cookie


def test_the_transaction_cookie_is_lax_so_the_callback_gets_it(visitor: Visitor) -> None:
    """RFC 6265bis §5.6.7.1: Strict would be withheld on the provider's cross-site redirect back."""
    visitor.start()
    attributes = visitor.attributes["__Host-spalab-bff-tx"]
    assert attributes["httponly"] and attributes["secure"] and attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/" and int(attributes["max-age"]) <= 600
    # The fallback for browsers that drop Secure cookies on http://localhost: same value, not Secure.
    fallback = visitor.attributes["spalab-bff-tx"]
    assert not fallback.get("secure") and fallback["httponly"] and fallback["samesite"].lower() == "lax"


def test_a_browser_that_drops_secure_cookies_on_http_gets_the_fallback_cookie(visitor: Visitor) -> None:
    """docs/SECURITY.md H3: only when the Secure transaction cookie did not come back."""
    params = visitor.start()
    visitor.jar.pop("__Host-spalab-bff-tx")  # what such an engine does: it never stored it
    visitor.get(visitor.authorize(params))
    assert set(visitor.jar) == {"spalab-bff"}
    attributes = visitor.attributes["spalab-bff"]
    assert attributes["httponly"] and not attributes.get("secure") and attributes["samesite"].lower() == "strict"
    assert visitor.get("/bff/session", SAME_ORIGIN).json()["sub"] == "alice"


def test_over_https_there_is_no_fallback_cookie(tmp_path: Path, clock: Clock) -> None:
    """docs/SECURITY.md H3: over https only the Secure __Host- cookies exist, and only they are read."""
    with socket.socket() as sock:  # a port nothing listens on (9000 may be a running demo's)
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = BFFSettings(nowhere, "bff", BFF_SECRET, "https://app.example", nowhere + "/api")
    app = create_spa_app([ISSUER], SETTINGS, bff=BFF(settings), allowed_hosts=frozenset({"app.example"}))
    client = TestClient(app, base_url="https://app.example", follow_redirects=False)
    # The provider is not running: the login still answers (an error for the page), setting nothing.
    assert client.get("/bff/login").headers["location"] == "/bff/?error=provider_unavailable"
    assert settings.secure_cookies and not settings.fallback_allowed
    headers = {**SAME_ORIGIN, "Cookie": "spalab-bff=anything"}
    assert client.get("/bff/session", headers=headers).json() == {"signed_in": False}


def test_the_api_is_called_with_the_servers_access_token(visitor: Visitor) -> None:
    """RFC 6750 §2.1: the BFF adds the Bearer token; the page sends only its cookie."""
    visitor.sign_in()
    answer = visitor.get("/bff/api/me", SAME_ORIGIN)
    assert answer.status_code == 200 and answer.json()["sub"] == "alice"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("route", ["/bff/session", "/bff/api/me", "/bff/logout"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sec-Fetch-Site": "same-origin"},
        {"Origin": SPA},
        {"X-Spalab-BFF": "0", "Sec-Fetch-Site": "same-origin"},
        {"X-Spalab-BFF": "1"},
        {"X-Spalab-BFF": "1", "Sec-Fetch-Site": "same-site"},
        {"X-Spalab-BFF": "1", "Sec-Fetch-Site": "cross-site"},
        {"X-Spalab-BFF": "1", "Sec-Fetch-Site": "none"},
        {"X-Spalab-BFF": "1", "Origin": "http://localhost:9000"},
        {"X-Spalab-BFF": "1", "Origin": "http://127.0.0.1:8000"},
        {"X-Spalab-BFF": "1", "Origin": "null"},
        {"X-Spalab-BFF": "1", "Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"},
    ],
    ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()) or "no headers",
)
def test_a_request_without_the_header_or_from_another_origin_is_refused(
    visitor: Visitor, route: str, headers: dict[str, str]
) -> None:
    """docs/SECURITY.md H4 (Fetch Metadata, RFC 6454 §7): the custom header AND a same-origin source."""
    visitor.sign_in()
    answer = visitor.request("POST" if route == "/bff/logout" else "GET", route, headers)
    assert (answer.status_code, answer.json()["error"]) == (403, "csrf_refused")
    assert visitor.get("/bff/api/me", SAME_ORIGIN).status_code == 200  # nothing was changed


@pytest.mark.parametrize(
    "headers", [SAME_ORIGIN, {"X-Spalab-BFF": "1", "Origin": SPA}, {**SAME_ORIGIN, "Origin": SPA}], ids=str
)
def test_a_same_origin_request_with_the_header_is_served(visitor: Visitor, headers: dict[str, str]) -> None:
    """docs/SECURITY.md H4: the control for the refusals above."""
    visitor.sign_in()
    assert visitor.get("/bff/api/me", headers).status_code == 200


def test_a_callback_with_another_state_is_refused_before_any_token_request(
    bff: tuple[BFF, TestClient, TestClient], visitor: Visitor
) -> None:
    """RFC 6749 §10.12 (login CSRF): the state must be the one this browser's transaction holds."""
    params = visitor.start()
    callback = visitor.authorize({**params, "state": "an-attackers-state"})
    answer = visitor.get(callback)
    assert answer.headers["location"] == "/bff/?error=state_mismatch"
    assert not bff[0].sessions.entries and "__Host-spalab-bff" not in visitor.jar
    # The transaction is spent: the right response afterwards finds none.
    right = visitor.authorize(params)
    assert visitor.get(right).headers["location"] == "/bff/?error=no_transaction"
    # The code of the refused callback was never redeemed: the provider still takes it.
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert code and not bff[0].sessions.entries


def test_a_callback_without_this_browsers_transaction_is_refused(visitor: Visitor) -> None:
    """RFC 6749 §10.12: a response the browser did not ask for (another browser's code) makes no session."""
    callback = visitor.authorize(visitor.start())
    stranger = Visitor(visitor.spa, visitor.provider)
    assert stranger.get(callback).headers["location"] == "/bff/?error=no_transaction"
    assert not stranger.jar


def test_a_callback_from_another_issuer_is_refused(visitor: Visitor) -> None:
    """RFC 9207 §2.4: iss must be the configured issuer."""
    callback = visitor.authorize(visitor.start()).replace("iss=http", "iss=https")
    assert visitor.get(callback).headers["location"] == "/bff/?error=issuer_mismatch"


def test_an_id_token_with_another_nonce_is_refused(bff: tuple[BFF, TestClient, TestClient], visitor: Visitor) -> None:
    """OIDC Core §3.1.3.7 (11): the id_token's nonce must be this sign-in's."""
    params = visitor.start()
    (pending,) = bff[0].pending.entries.values()
    pending.nonce = "another-sign-ins-nonce"
    assert visitor.get(visitor.authorize(params)).headers["location"] == "/bff/?error=id_token_invalid"
    assert not bff[0].sessions.entries


def test_an_expired_access_token_is_refreshed_on_the_server(
    bff: tuple[BFF, TestClient, TestClient], visitor: Visitor, clock: Clock
) -> None:
    """RFC 6749 §6, RFC 9700 §4.14.2: refreshed before it expires; the rotated refresh token replaces the old."""
    visitor.sign_in()
    stored = session_of(bff)
    old_access, old_refresh = stored.access_token, stored.refresh_token  # type: ignore[attr-defined]
    clock.advance(3600)
    answer = visitor.get("/bff/api/me", SAME_ORIGIN)
    assert answer.status_code == 200 and answer.json()["sub"] == "alice"
    assert stored.access_token != old_access and stored.refresh_token != old_refresh  # type: ignore[attr-defined]


def test_sign_out_revokes_the_tokens_and_forgets_the_session(
    bff: tuple[BFF, TestClient, TestClient], visitor: Visitor
) -> None:
    """RFC 7009 §2: the tokens are revoked at the provider; the cookie is cleared."""
    visitor.sign_in()
    stored = session_of(bff)
    answer = visitor.request("POST", "/bff/logout", SAME_ORIGIN)
    assert answer.json() == {"signed_in": False} and not visitor.jar
    assert "max-age=0" in visitor.attributes["__Host-spalab-bff"]["raw"].lower()
    assert api(bff[2], stored.access_token).status_code == 401  # type: ignore[attr-defined]
    assert visitor.get("/bff/api/me", SAME_ORIGIN).json()["error"] == "not_signed_in"


def test_a_new_sign_in_replaces_the_browsers_session_and_revokes_its_tokens(
    bff: tuple[BFF, TestClient, TestClient], visitor: Visitor
) -> None:
    """RFC 7009 §2: the session a new sign-in replaces does not stay behind with live tokens."""
    visitor.sign_in()
    first = session_of(bff)
    first_id = visitor.jar["__Host-spalab-bff"]
    visitor.sign_in()
    assert session_of(bff) is not first and visitor.jar["__Host-spalab-bff"] != first_id
    assert api(bff[2], first.access_token).status_code == 401  # type: ignore[attr-defined]
    assert visitor.get("/bff/api/me", SAME_ORIGIN).status_code == 200


@pytest.mark.parametrize("path", ["me%2F..%2F..%2Fjwks", "%2E%2E", "me%2F..", "x.y", "me//x", "me/", "me%00"])
def test_the_proxy_forwards_plain_api_paths_only(visitor: Visitor, path: str) -> None:
    """docs/SECURITY.md H5: the proxy reaches the API base only, never another path of the provider."""
    visitor.sign_in()
    answer = visitor.get("/bff/api/" + path, SAME_ORIGIN)
    assert (answer.status_code, answer.json()["error"]) == (404, "not_found"), answer.text


def test_the_bff_is_off_without_a_confidential_client_for_it() -> None:
    """docs/SECURITY.md H6: only where the host knows the provider and the secret (the built-in demo)."""
    demo = load_demo_config("http://127.0.0.1:9000", "http://localhost:8000")
    found = find_bff_client(demo, "http://localhost:8000")
    assert found is not None and found.client_id == "bff-demo" and found.client_secret not in repr(found)
    assert find_bff_client(demo, "http://localhost:8001") is None  # another origin: its redirect URI is not there
    assert find_bff_client(parse_config(TEST_CONFIG, "test config"), SPA) is None
    off = TestClient(create_spa_app([ISSUER], SETTINGS), base_url=SPA)
    assert off.get("/bff/session", headers=SAME_ORIGIN).status_code == 404
    assert off.get("/bff/login").status_code == 404


def test_the_bff_page_has_no_inline_script_and_gets_the_hosts_csp(bff: tuple[BFF, TestClient, TestClient]) -> None:
    """docs/SECURITY.md C8: the BFF page runs under the SPA's CSP (no inline script); the demo links to it."""
    page = bff[1].get("/bff/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "script-src 'self' " in page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    for tag in re.findall(r"<script\b[^>]*>", page.text):
        assert "src=" in tag, tag
    assert not re.search(r"\son[a-z]+=", page.text), "inline event handler"
    assert bff[1].get("/bff/bff.js").headers["content-type"].startswith("text/javascript")
    assert 'href="/bff/"' in bff[1].get("/").text


def test_with_another_issuer_the_bff_is_off_unless_its_client_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/SECURITY.md H6: --issuer alone runs no BFF; --bff-client-id turns it on, its secret from the
    environment (never the command line), with --bff-api naming what it proxies to."""
    from spalab.cli import BFF_SECRET_ENV, UsageError, _parser, bff_at_another_provider

    def settings(*extra: str) -> BFFSettings | None:
        args = _parser().parse_args(["serve", "--issuer", "https://idp.example", "--client-id", "spa", *extra])
        return bff_at_another_provider(args, "https://idp.example", SPA)

    monkeypatch.delenv(BFF_SECRET_ENV, raising=False)
    assert settings() is None
    with pytest.raises(UsageError, match=BFF_SECRET_ENV):
        settings("--bff-client-id", "my-bff", "--bff-api", "https://api.example")
    monkeypatch.setenv(BFF_SECRET_ENV, "s3cret")
    with pytest.raises(UsageError, match="--bff-api"):
        settings("--bff-client-id", "my-bff")
    found = settings("--bff-client-id", "my-bff", "--bff-api", "https://api.example/v1/")
    assert found is not None and (found.issuer, found.client_id, found.api_base) == (
        "https://idp.example",
        "my-bff",
        "https://api.example/v1",
    )
    assert found.redirect_uri == SPA + "/bff/callback" and "s3cret" not in repr(found)
