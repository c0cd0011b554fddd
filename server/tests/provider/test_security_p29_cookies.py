"""docs/SECURITY.md P29: the provider's cookies are HttpOnly and SameSite=Lax; on https they are Secure and
carry the `__Host-` prefix (host-only, Path=/), so no other host or plain-http page can set them.
An operator's config never puts passwords on the login page (only the built-in demo's users)."""

import argparse
from pathlib import Path

from provider_support import TEST_CONFIG, Flow, response_params, seeded
from starlette.testclient import TestClient

from spalab.cli import _serve_config
from spalab.provider.app import create_provider_app
from spalab.provider.config import parse_config

HTTPS_ISSUER = "https://idp.example.test"


def _cookies(response) -> list[str]:  # type: ignore[no-untyped-def]
    return response.headers.get_list("set-cookie")


def test_https_provider_cookies_use_the_host_prefix(tmp_path: Path) -> None:
    """RFC 6265bis §4.1.3.2: `__Host-` cookies must be Secure, Path=/ and have no Domain."""
    config = parse_config(TEST_CONFIG.replace("http://127.0.0.1:9000", HTTPS_ISSUER), "https test config")
    with TestClient(
        create_provider_app(config, seeded(tmp_path)), base_url=HTTPS_ISSUER, follow_redirects=False
    ) as client:
        flow = Flow(client)
        login_page = client.get("/login", params={"next": "/"})
        signed_in = flow.sign_in()
        cookies = _cookies(login_page) + _cookies(signed_in)
        assert {c.split("=", 1)[0].removeprefix("__Host-").split("_")[1] for c in cookies} == {
            "csrf",
            "device",
            "session",
        }
        for cookie in cookies:
            attributes = [a.strip().lower() for a in cookie.split(";")]
            assert cookie.startswith("__Host-spalab_"), cookie
            assert "secure" in attributes and "httponly" in attributes and "path=/" in attributes, cookie
            assert not any(a.startswith("domain=") for a in attributes), cookie
        # The prefixed session cookie is the one the provider reads back: the flow completes.
        response = flow.run(flow.code_params())
        assert "code" in response_params(response.headers["location"])


def test_http_provider_cookies_are_httponly_and_lax(client: TestClient, flow: Flow) -> None:
    """Plain http (the loopback demo) cannot use `__Host-`; the cookies are still HttpOnly, SameSite=Lax."""
    cookies = _cookies(client.get("/login", params={"next": "/"})) + _cookies(flow.sign_in())
    assert cookies
    for cookie in cookies:
        attributes = [a.strip().lower() for a in cookie.split(";")]
        assert "httponly" in attributes and "samesite=lax" in attributes, cookie


def _serve_args(config: Path | None) -> argparse.Namespace:
    return argparse.Namespace(config=config, provider_port=None)


def test_serve_with_an_operators_config_shows_no_passwords(tmp_path: Path) -> None:
    """`spalab serve --config FILE`: the login page lists no account and no password from the file."""
    path = tmp_path / "idp.toml"
    path.write_text(TEST_CONFIG, encoding="utf-8")
    config = _serve_config(_serve_args(path), "http://localhost:8000")
    assert all(user.demo_password is None for user in config.users.values())
    with TestClient(create_provider_app(config, seeded(tmp_path)), base_url="http://127.0.0.1:9000") as client:
        page = client.get("/login", params={"next": "/"}).text
    assert "wonderland" not in page and "builder" not in page


def test_the_built_in_demo_shows_its_own_accounts(tmp_path: Path) -> None:
    """The built-in demo config is the one place passwords are shown: its users are public by design."""
    config = _serve_config(_serve_args(None), "http://localhost:8000")
    with TestClient(create_provider_app(config, seeded(tmp_path)), base_url="http://127.0.0.1:9000") as client:
        page = client.get("/login", params={"next": "/"}).text
    assert "wonderland" in page
