"""docs/SECURITY.md P24: both servers answer only their configured host names (DNS rebinding),
and no redirect is built from a request's Host.

A rebinding page on rebind.attacker.example, its name re-resolved to 127.0.0.1, reaches our
loopback servers as "same origin"; only the Host header it carries tells it apart."""

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from provider_support import ISSUER, TEST_CONFIG, seeded, serving
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message

from spalab.host.app import create_spa_app
from spalab.provider.app import create_provider_app
from spalab.provider.config import ConfigError, ProviderConfig, parse_config

SPA = "http://localhost:8000"
SETTINGS = {"issuer": ISSUER, "client_id": "spa-demo", "redirect_uri": SPA + "/"}
REBOUND = "rebind.attacker.example"
FOREIGN = [
    f"{REBOUND}:9000",
    f"{REBOUND}:8000",
    REBOUND,
    "example.com",
    "127.0.0.2:9000",
    "localhost.:9000",
    "[::2]:9000",
    "[::ffff:127.0.0.1]:9000",
    "2130706433:9000",
]
MALFORMED = ["", " ", "a b", "[::1", "[zz::1]:9000", "localhost:9000:1", "localhost/x", "user@localhost", "localhost:x"]
LOOPBACK = ["127.0.0.1", "localhost", "LOCALHOST", "[::1]", "[0:0:0:0:0:0:0:1]"]


@pytest.fixture(scope="module")
def provider(config: ProviderConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One provider for the module: a refused request changes nothing, which the log test shows."""
    app = create_provider_app(config, seeded(tmp_path_factory.mktemp("provider")))
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def spa() -> TestClient:
    return TestClient(create_spa_app([ISSUER], SETTINGS), base_url=SPA, follow_redirects=False)


def provider_for(tmp_path: Path, issuer: str, extra: str = "") -> TestClient:
    config = parse_config(f'issuer = "{issuer}"\nrequest_log = true\n{extra}\n', "test config")
    return TestClient(create_provider_app(config, seeded(tmp_path)), base_url=issuer, follow_redirects=False)


# --- the provider ---

PROVIDER_REQUESTS = [
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/authorize"),
    ("POST", "/consent"),
    ("GET", "/_spalab/requests"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/jwks"),
    ("POST", "/token"),
    ("GET", "/api/me"),
    ("GET", "/static/provider.css"),
]
JSON_PATHS = ("/_spalab/", "/.well-known/", "/jwks", "/token", "/api/")


@pytest.mark.parametrize(("method", "path"), PROVIDER_REQUESTS)
def test_provider_refuses_a_rebound_host_on_every_route(provider: TestClient, method: str, path: str) -> None:
    """docs/SECURITY.md P24, RFC 9110 §15.5.20: a Host the provider does not serve gets 421, in the
    route's own kind of answer (P22), and never a redirect."""
    form = {"username": "alice", "password": "wonderland", "next": "/"} if method == "POST" else None
    response = provider.request(method, path, data=form, headers={"Host": f"{REBOUND}:9000"})
    assert response.status_code == 421
    assert "location" not in response.headers and "set-cookie" not in response.headers
    if path.startswith(JSON_PATHS):
        assert response.json()["error"] == "invalid_request"
    else:
        assert response.headers["content-type"].startswith("text/html")


def test_refused_requests_reach_neither_the_log_nor_the_sign_in(provider: TestClient) -> None:
    """docs/SECURITY.md P24: the rebinding page can neither read the request log nor drive /login."""
    before = provider.get("/_spalab/requests").json()["last_seq"]
    login = provider.get("/login", headers={"Host": REBOUND})
    sign_in = provider.post("/login", data={"username": "alice", "password": "wonderland"}, headers={"Host": REBOUND})
    assert (login.status_code, sign_in.status_code) == (421, 421)
    assert logged_since(provider, before) == []
    assert provider.get("/login").status_code == 200  # control: the issuer's host is served and logged
    assert logged_since(provider, before) == ["/login"]


def logged_since(client: TestClient, seq: int) -> list[str]:
    entries = client.get("/_spalab/requests", params={"since": seq}).json()["entries"]
    return [entry["path"] for entry in entries if entry["path"] != "/_spalab/requests"]


@pytest.mark.parametrize("host", FOREIGN)
def test_provider_refuses_every_other_host_name(provider: TestClient, host: str) -> None:
    """docs/SECURITY.md P24: lookalikes of the loopback names (127.0.0.2, a trailing dot, ::2, a mapped
    or numeric IPv4) are other hosts."""
    assert provider.get("/.well-known/openid-configuration", headers={"Host": host}).status_code == 421


@pytest.mark.parametrize("host", MALFORMED)
def test_a_malformed_host_is_a_bad_request(provider: TestClient, host: str) -> None:
    """RFC 9110 §7.4: an invalid Host field value gets 400."""
    response = provider.get("/.well-known/openid-configuration", headers={"Host": host})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "hosts",
    [[], [b"127.0.0.1:9000", b"127.0.0.1:9000"], [b"127.0.0.1", REBOUND.encode()], [b"\xff\xfe"], [b"localhost\x00"]],
)
def test_no_host_several_or_undecodable_are_a_bad_request(
    provider: TestClient, spa: TestClient, hosts: list[bytes]
) -> None:
    """RFC 9110 §7.4: a request without Host, with more than one, or with bytes no host has gets 400."""
    for app in (provider.app, spa.app):
        assert asgi_get(app, "/_spalab/requests", [(b"host", h) for h in hosts])[0] == 400


@pytest.mark.parametrize("host", [*LOOPBACK, *(f"{h}:9000" for h in LOOPBACK), "127.0.0.1:9100", "localhost:80"])
def test_provider_answers_the_issuer_host_and_the_loopback_names_on_any_port(provider: TestClient, host: str) -> None:
    """docs/SECURITY.md P24: IP literals and localhost cannot be rebound. Ports are not compared: a
    rebinding request names the attacker's host whatever its port (hosts.py)."""
    assert provider.get("/.well-known/openid-configuration", headers={"Host": host}).status_code == 200
    assert provider.get("/login", headers={"Host": host}).status_code == 200


def test_behind_a_proxy_the_issuer_host_is_served_automatically(tmp_path: Path) -> None:
    """docs/SECURITY.md P24: issuer https://idp.example.com → Host idp.example.com (any case, any port)."""
    client = provider_for(tmp_path, "https://idp.example.com")
    for host in ("idp.example.com", "IDP.example.com:443", "127.0.0.1:9000"):
        assert client.get("/jwks", headers={"Host": host}).status_code == 200, host
    for host in ("idp.internal", "example.com", "evil.idp.example.com.attacker.example"):
        assert client.get("/jwks", headers={"Host": host}).status_code == 421, host


def test_allowed_hosts_adds_the_names_an_operator_lists(tmp_path: Path) -> None:
    """docs/SECURITY.md P24: config key allowed_hosts, e.g. the name a reverse proxy forwards."""
    client = provider_for(tmp_path, "https://idp.example.com", 'allowed_hosts = ["IDP.internal", "[::1]"]')
    assert client.get("/jwks", headers={"Host": "idp.internal:8443"}).status_code == 200
    assert client.get("/jwks", headers={"Host": "other.internal"}).status_code == 421


@pytest.mark.parametrize(
    "value", ['["idp:8443"]', '["[::1]:8443"]', '["http://idp"]', '["idp/x"]', '[""]', '["a b"]', '"idp"']
)
def test_allowed_hosts_takes_host_names_only(value: str) -> None:
    """A port, scheme or path in allowed_hosts is a config error naming the key."""
    with pytest.raises(ConfigError, match="allowed_hosts"):
        parse_config(f'issuer = "{ISSUER}"\nallowed_hosts = {value}\n', "test config")


def test_an_issuer_without_a_valid_host_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="issuer"):
        parse_config('issuer = "http://127.0.0.1:90x0"\n', "test config")


def test_provider_builds_no_redirect_from_the_host(provider: TestClient) -> None:
    """docs/SECURITY.md P24: Starlette's trailing-slash redirect would put the request's Host into
    Location; the provider answers 404 instead."""
    for path in ("/login/", "/authorize/", "/static"):
        response = provider.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers, path


# --- the SPA host ---

SPA_REQUESTS = [
    ("GET", "/"),
    ("GET", "/index.html"),
    ("GET", "/baseline/"),
    ("GET", "/baseline"),
    ("GET", "/main.py"),
    ("GET", "/app.css"),
    ("GET", "/pyscript.json"),
    ("GET", "/_spalab/requests"),
    ("GET", "/lab/blank"),
    ("GET", "/lab/bounce"),
    ("GET", "/vendor/pyodide/pyodide.mjs"),
    ("POST", "/"),
]


@pytest.mark.parametrize(("method", "path"), SPA_REQUESTS)
def test_spa_host_refuses_a_rebound_host_on_every_route(spa: TestClient, method: str, path: str) -> None:
    """docs/SECURITY.md P24: pages, configs, the request log, lab pages and static files all refuse."""
    response = spa.request(method, path, headers={"Host": f"{REBOUND}:8000"})
    assert response.status_code == 421
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("host", [*FOREIGN, *MALFORMED])
def test_spa_host_refuses_every_other_host(spa: TestClient, host: str) -> None:
    assert spa.get("/_spalab/requests", headers={"Host": host}).status_code in (400, 421)


@pytest.mark.parametrize("host", [f"{h}:8000" for h in LOOPBACK])
def test_spa_host_answers_the_loopback_names(spa: TestClient, host: str) -> None:
    """docs/SECURITY.md P24; lab E5 loads http://127.0.0.1:<spa port>/lab/blank as an unregistered origin."""
    for path in ("/", "/lab/blank", "/_spalab/requests", "/pyscript.json"):
        assert spa.get(path, headers={"Host": host}).status_code == 200, path


@pytest.mark.parametrize("host", [f"{h}:8000" for h in LOOPBACK])
@pytest.mark.parametrize(
    ("path", "location"),
    [("/baseline", "/baseline/"), ("/baseline?runtime=py", "/baseline/?runtime=py"), ("/lab/bounce", "/lab/landing")],
)
def test_spa_host_redirects_carry_a_path_only(spa: TestClient, host: str, path: str, location: str) -> None:
    """docs/SECURITY.md P24: no Location is built from the Host (StaticFiles' directory redirect would be)."""
    response = spa.get(path, headers={"Host": host})
    assert response.status_code in (302, 307)
    assert response.headers["location"] == location


def test_a_double_slash_path_redirects_to_a_path_not_a_host(spa: TestClient) -> None:
    """docs/SECURITY.md P24: //baseline must not become Location //baseline/ (a browser reads that as
    host "baseline")."""
    status, sent = asgi_get(spa.app, "//baseline", [(b"host", b"localhost:8000")])
    assert status == 307
    assert dict(sent[0]["headers"])[b"location"] == b"/baseline/"


# --- over real HTTP: what a browser's rebound request looks like on the wire ---


def test_a_rebound_request_over_http_reads_nothing(tmp_path: Path) -> None:
    """docs/SECURITY.md P24: uvicorn on 127.0.0.1, both servers; the attacker's name in Host gets 421."""
    apps = [create_spa_app([ISSUER], SETTINGS), create_provider_app(parse_config(TEST_CONFIG, "t"), seeded(tmp_path))]
    for app in apps:
        with serving(app) as base, httpx.Client(base_url=base, timeout=10) as browser:
            port = base.rsplit(":", 1)[1]
            rebound = browser.get("/_spalab/requests", headers={"Host": f"{REBOUND}:{port}"})
            assert rebound.status_code == 421
            assert browser.get("/_spalab/requests").status_code == 200  # control: Host 127.0.0.1:<port>


# --- a raw ASGI call, for header sets no HTTP client sends ---


def asgi_get(app: ASGIApp, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, list[Message]]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 9000),
    }
    anyio.run(app, scope, receive, send)
    return sent[0]["status"], sent
