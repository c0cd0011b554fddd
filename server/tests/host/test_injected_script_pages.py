"""The lab's injected-script pages (E14, spalab.host.lab_storage): the example app with one way of
holding tokens each, and the baseline, every one with /lab/attacker.js first in <head>; served
under the SPA's own policies, their settings built per variant, their redirect URIs registered."""

import re

import pytest
from starlette.testclient import TestClient

from spalab.host.app import create_spa_app
from spalab.host.lab_storage import PREFIX, VARIANTS
from spalab.provider.config import load_demo_config

PROVIDER = "http://127.0.0.1:9000"
SPA = "http://localhost:8000"
SETTINGS = {"issuer": PROVIDER, "client_id": "spa-demo", "redirect_uri": SPA + "/", "scope": "openid"}
PAGES = [f"{PREFIX}{v}/{p}" for v in VARIANTS for p in ("", "mpy.html")] + [PREFIX + "baseline/"]


@pytest.fixture(scope="module")
def spa() -> TestClient:
    return TestClient(create_spa_app([PROVIDER], SETTINGS), base_url=SPA)


@pytest.mark.parametrize("path", PAGES)
def test_each_page_carries_the_attacker_first_and_the_spas_own_policies(spa: TestClient, path: str) -> None:
    """A well-configured page: the same CSP as the SPA (script from self only), which lets a same-origin
    injected script run; the attacker's tag comes before the app's scripts."""
    response = spa.get(path)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"] == spa.get("/").headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    scripts = re.findall(r"<script[^>]*src=\"([^\"]+)\"", response.text)
    assert scripts[0] == "/lab/attacker.js" and len(scripts) >= 2
    assert 'id="attacker-run"' in response.text and "<script>" not in response.text  # no inline script
    assert all("@" in src for src in scripts if src.startswith("/vendor/"))  # the pinned, versioned URLs


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_gets_its_own_storage_dpop_and_redirect_uri(spa: TestClient, variant: str) -> None:
    for name, page in (("pyscript.json", ""), ("mpy.json", "mpy.html")):
        auth = spa.get(f"{PREFIX}{variant}/{name}").json()["auth"]
        assert (auth["storage"], auth["dpop"]) == (VARIANTS[variant]["storage"], VARIANTS[variant]["dpop"])
        assert auth["redirect_uri"] == auth["post_logout_redirect_uri"] == f"{SPA}{PREFIX}{variant}/{page}"
    assert spa.get(f"{PREFIX}{variant}/main.py").text == spa.get("/example/main.py").text


def test_every_page_is_a_registered_redirect_uri_of_the_built_in_demo() -> None:
    clients = load_demo_config(PROVIDER, SPA).clients
    for path in PAGES:
        client = clients["baseline-oidc-client-ts" if "/baseline/" in path else "spa-demo"]
        assert SPA + path in client.redirect_uris
        if "/baseline/" not in path:
            assert SPA + path in client.post_logout_redirect_uris


@pytest.mark.parametrize(
    "path", [PREFIX + "nope/", PREFIX + "memory/other.html", PREFIX + "baseline/mpy.html", PREFIX + "x/main.py"]
)
def test_anything_else_under_the_prefix_is_a_plain_404(spa: TestClient, path: str) -> None:
    response = spa.get(path)
    assert response.status_code == 404 and "nope" not in response.text and "other" not in response.text


def test_nothing_from_the_request_reaches_the_page(spa: TestClient) -> None:
    plain = spa.get(PREFIX + "memory/").text
    assert spa.get(PREFIX + "memory/?code=<b>X</b>&state=%3Cscript%3E").text == plain


def test_the_attacker_writes_text_only_and_talks_to_the_pages_servers_only(spa: TestClient) -> None:
    script = spa.get("/lab/attacker.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "textContent" in script.text
    # Every request it makes goes to an address read from the app's own config or discovery.
    assert not re.search(r"https?://(?!localhost|127\.0\.0\.1)", script.text)
