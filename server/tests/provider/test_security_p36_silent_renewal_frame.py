"""docs/SECURITY.md P36: a prompt=none answer of a client that opted in (`silent_renewal_frame`) may be
framed by that client's redirect origins, and by nothing else; every other provider response, the
sign-in and consent pages above all, stays unframeable."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_support import REDIRECT, SPA, TEST_CONFIG, Clock, Flow, response_params, seeded
from starlette.testclient import TestClient

from spalab.provider.app import create_provider_app
from spalab.provider.config import ConfigError, parse_config

SILENT_CALLBACK = SPA + "/silent-callback"
SILENT_CLIENT = f"""
[[clients]]
client_id = "silent"
redirect_uris = ["{SILENT_CALLBACK}", "https://app.example.test/silent", "{SPA}/other-page"]
silent_renewal_frame = true
"""
# Its redirect URIs' origins, each once, in the order registered.
SILENT_ORIGINS = f"frame-ancestors {SPA} https://app.example.test"


@pytest.fixture
def silent(tmp_path: Path, clock: Clock) -> Iterator[Flow]:
    config = parse_config(TEST_CONFIG + SILENT_CLIENT, "config with a silent-renewal client")
    app = create_provider_app(config, seeded(tmp_path), clock=clock)
    with TestClient(app, base_url="http://127.0.0.1:9000", follow_redirects=False) as client:
        yield Flow(client)


def silent_params(flow: Flow, **overrides: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {"client_id": "silent", "redirect_uri": SILENT_CALLBACK, "scope": "openid"}
    return flow.code_params(**{**base, **overrides})


def assert_unframeable(response) -> None:  # type: ignore[no-untyped-def]
    directives = [d.strip() for d in response.headers["content-security-policy"].split(";")]
    assert "frame-ancestors 'none'" in directives
    assert response.headers["x-frame-options"] == "DENY"


def assert_framed_by_registered_origins(response) -> None:  # type: ignore[no-untyped-def]
    assert response.headers["content-security-policy"] == SILENT_ORIGINS
    # X-Frame-Options cannot name origins; sent with DENY it would overrule the list in some engines.
    assert "x-frame-options" not in response.headers


def consented(flow: Flow) -> None:
    """Signs in and approves the silent client once, as the user would at the first sign-in."""
    response = flow.run(silent_params(flow))
    assert "code" in response_params(response.headers["location"]), response.headers["location"]


def test_a_prompt_none_code_is_frameable_by_exactly_the_clients_redirect_origins(silent: Flow) -> None:
    """OIDC Core §3.1.2.6, RFC 9700 §4.16: the redirect carrying the code names the registered origins only."""
    consented(silent)
    response = silent.authorize(silent_params(silent, prompt="none"))
    assert response.status_code == 302
    assert response.headers["location"].startswith(SILENT_CALLBACK + "?")
    assert "code" in response_params(response.headers["location"])
    assert_framed_by_registered_origins(response)


def test_login_required_is_framed_like_the_code_and_never_a_login_page(silent: Flow) -> None:
    """OIDC Core §3.1.2.6: with no session, prompt=none answers login_required on the redirect URI."""
    response = silent.authorize(silent_params(silent, prompt="none"))
    assert response.status_code == 302
    assert response_params(response.headers["location"])["error"] == "login_required"
    assert response.headers["location"].startswith(SILENT_CALLBACK + "?")
    assert_framed_by_registered_origins(response)


def test_consent_required_is_framed_like_the_code(silent: Flow) -> None:
    """OIDC Core §3.1.2.6: signed in but never approved: consent_required, no consent page."""
    assert silent.sign_in().status_code == 303
    response = silent.authorize(silent_params(silent, prompt="none"))
    assert response_params(response.headers["location"])["error"] == "consent_required"
    assert_framed_by_registered_origins(response)


def test_without_prompt_none_the_same_client_gets_nothing_frameable(silent: Flow) -> None:
    """RFC 9700 §4.16: the redirect to sign-in, the sign-in and consent pages, and a code issued after a
    visible step or without prompt=none are unframeable for the opted-in client too."""
    to_login = silent.authorize(silent_params(silent))
    assert to_login.status_code == 302 and to_login.headers["location"].startswith("/login")
    assert_unframeable(to_login)
    login_page = silent.client.get(to_login.headers["location"])
    assert login_page.status_code == 200
    assert_unframeable(login_page)
    assert silent.sign_in().status_code == 303
    consent_page = silent.authorize(silent_params(silent))
    assert consent_page.status_code == 200 and "Allow access?" in consent_page.text
    assert_unframeable(consent_page)
    consented(silent)
    code = silent.authorize(silent_params(silent))
    assert "code" in response_params(code.headers["location"])
    assert_unframeable(code)


def test_a_client_that_did_not_opt_in_is_never_frameable(silent: Flow) -> None:
    """RFC 9700 §4.16: "spa" has a redirect URI on the same origin, but did not opt in: prompt=none gets DENY."""
    silent.run(silent.code_params())
    code = silent.authorize(silent.code_params(prompt="none"))
    assert "code" in response_params(code.headers["location"])
    assert code.headers["location"].startswith(REDIRECT)
    assert_unframeable(code)
    silent.client.cookies.clear()
    login_required = silent.authorize(silent.code_params(prompt="none"))
    assert response_params(login_required.headers["location"])["error"] == "login_required"
    assert_unframeable(login_required)


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"code_challenge": None}, 302),  # an invalid request: error redirect
        ({"state": ["a", "b"]}, 302),  # a repeated parameter: error redirect
        ({"redirect_uri": "https://evil.test/silent"}, 400),  # an unregistered redirect URI: error page
        ({"client_id": "nobody"}, 400),  # unknown client: error page
    ],
)
def test_an_invalid_prompt_none_request_is_not_frameable(
    silent: Flow, overrides: dict[str, str | list[str] | None], status: int
) -> None:
    """RFC 6749 §4.1.2.1, RFC 9700 §4.16: only a valid request of an opted-in client earns the list."""
    consented(silent)
    params = {**silent_params(silent, prompt="none"), **overrides}
    response = silent.client.get("/authorize", params={k: v for k, v in params.items() if v is not None})
    assert response.status_code == status
    if status == 302:
        assert response_params(response.headers["location"])["error"] == "invalid_request"
    assert_unframeable(response)


def test_silent_renewal_frame_is_off_unless_set_and_must_be_a_boolean() -> None:
    """docs/SECURITY.md P36: opt-in per client; a typo is an error, not a silent default."""
    config = parse_config(TEST_CONFIG + SILENT_CLIENT, "x")
    assert config.clients["silent"].frame_origins == (SPA, "https://app.example.test")
    assert all(c.frame_origins == () for name, c in config.clients.items() if name != "silent")
    with pytest.raises(ConfigError, match="silent_renewal_frame"):
        parse_config(TEST_CONFIG + SILENT_CLIENT.replace("= true", '= "yes"'), "x")
