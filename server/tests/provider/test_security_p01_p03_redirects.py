"""docs/SECURITY.md P1–P3: exact redirect URIs, no redirect before the client is known,
no open redirector at sign-in."""

from urllib.parse import urlencode

import pytest
from provider_support import ISSUER, REDIRECT, SPA, Flow, hidden, response_params

# A registered URI changed in one way each; none may be redirected to.
NOT_REGISTERED = {
    "path-appended": REDIRECT + "x",
    "segment-appended": REDIRECT + "/x",
    "query-added": REDIRECT + "?a=1",
    "query-extended": SPA + "/cb?a=1&b=2",
    "query-changed": SPA + "/cb?a=2",
    "query-dropped": SPA + "/cb",
    "fragment": REDIRECT + "#f",
    "scheme-and-host-case": "HTTP://LOCALHOST:8000/",
    "path-case": SPA + "/CB?a=1",
    "other-port": "http://localhost:8001/",
    "port-dropped": "http://localhost/",
    "other-scheme": "https://localhost:8000/",
    "host-appended": "http://localhost:8000.evil.test/",
    "userinfo-host": "http://localhost:8000@evil.test/",
    "userinfo-added": "http://evil.test@localhost:8000/",
    "trailing-slash-missing": SPA,
    "other-clients-uri": SPA + "/other",
}

OFF_ORIGIN = {
    "absolute": "https://evil.test",
    "scheme-relative": "//evil.test",
    "backslash": "/\\evil.test",
    "double-backslash": "\\\\evil.test",
    "javascript": "javascript:alert(1)",
    "scheme-no-slashes": "https:evil.test",
    "leading-space": " //evil.test",
}


def assert_error_page(response) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.1.2.1: a page for the user, never a redirect."""
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def session_cookie_set(response) -> bool:  # type: ignore[no-untyped-def]
    return any(h.startswith("spalab_session_") for h in response.headers.get_list("set-cookie"))


# --- P1: exact redirect URI match -----------------------------------------------------


@pytest.mark.parametrize("redirect_uri", NOT_REGISTERED.values(), ids=NOT_REGISTERED.keys())
def test_unregistered_redirect_uri_gets_a_page_without_location(flow: Flow, redirect_uri: str) -> None:
    """RFC 9700 §2.1, §4.1.3: only an exact string match with a registered URI is redirected to."""
    assert_error_page(flow.authorize(flow.code_params(redirect_uri=redirect_uri)))


@pytest.mark.parametrize("redirect_uri", [REDIRECT, SPA + "/cb?a=1"])
def test_registered_redirect_uris_are_redirected_to(flow: Flow, redirect_uri: str) -> None:
    """RFC 9700 §2.1: the registered URIs themselves work (control for the cases above)."""
    response = flow.authorize(flow.code_params(redirect_uri=redirect_uri, prompt="none"))
    assert response.status_code == 302
    assert response.headers["location"].startswith(redirect_uri)
    assert response_params(response.headers["location"])["error"] == "login_required"


@pytest.mark.parametrize(
    "redirect_uri", [SPA + "/cb?a=1", REDIRECT + "x", None], ids=["other-registered", "path-appended", "missing"]
)
def test_other_redirect_uri_at_token_endpoint_is_rejected(flow: Flow, redirect_uri: str | None) -> None:
    """RFC 6749 §4.1.3, RFC 9700 §4.1.3: redirect_uri at the token endpoint must be identical."""
    code = flow.code()
    response = flow.exchange(code, redirect_uri=redirect_uri)
    assert response.status_code == 400
    assert response.json()["error"] == ("invalid_request" if redirect_uri is None else "invalid_grant")


# --- P2: no redirect before client and redirect URI are validated ---------------------


@pytest.mark.parametrize(
    "client_id", ["evil", "SPA", "spa ", None], ids=["unknown", "other-case", "trailing-space", "missing"]
)
def test_unknown_or_missing_client_id_gets_a_page_without_location(flow: Flow, client_id: str | None) -> None:
    """RFC 6749 §4.1.2.1: an unknown client must not be redirected to."""
    assert_error_page(flow.authorize(flow.code_params(client_id=client_id)))


def test_missing_redirect_uri_gets_a_page_without_location(flow: Flow) -> None:
    """OIDC Core §3.1.2.1, RFC 6749 §4.1.2.1: no redirect_uri is guessed."""
    assert_error_page(flow.authorize(flow.code_params(redirect_uri=None)))


@pytest.mark.parametrize("value", ["same", "different"])
@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_repeated_client_id_or_redirect_uri_gets_a_page(flow: Flow, name: str, value: str) -> None:
    """RFC 6749 §3.1, §4.1.2.1: a repeated parameter is invalid before anything is trusted."""
    params = flow.code_params()
    repeated = params[name] if value == "same" else {"client_id": "other-spa", "redirect_uri": SPA + "/other"}[name]
    response = flow.client.get("/authorize?" + urlencode(params) + "&" + urlencode({name: repeated}))
    assert_error_page(response)


def test_unknown_client_gets_a_page_even_when_other_parameters_are_bad(flow: Flow) -> None:
    """RFC 6749 §4.1.2.1: client and redirect URI are checked before anything else."""
    params = flow.code_params(client_id="evil", scope="bogus", response_type="bogus", code_challenge=None)
    assert_error_page(flow.authorize(params))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"scope": "openid bogus"}, "invalid_scope"),
        ({"response_type": "bogus"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
    ],
    ids=["bad-scope", "unsupported-response-type", "missing-response-type"],
)
def test_later_errors_redirect_with_error_state_and_iss(
    flow: Flow, overrides: dict[str, str | None], error: str
) -> None:
    """RFC 6749 §4.1.2.1, RFC 9207 §2: once the redirect URI is valid, errors go back to it."""
    params = flow.code_params(**overrides)
    response = flow.authorize(params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    got = response_params(location)
    assert got["error"] == error
    assert got["state"] == params["state"]
    assert got["iss"] == ISSUER


# --- P3: no open redirector at sign-in ------------------------------------------------


@pytest.mark.parametrize("next_url", OFF_ORIGIN.values(), ids=OFF_ORIGIN.keys())
def test_off_origin_next_is_refused_on_get(client, next_url: str) -> None:  # type: ignore[no-untyped-def]
    """RFC 9700 §4.11: the sign-in page only ever returns to this provider's own pages."""
    assert_error_page(client.get("/login", params={"next": next_url}))


@pytest.mark.parametrize("next_url", OFF_ORIGIN.values(), ids=OFF_ORIGIN.keys())
def test_off_origin_next_is_refused_on_post(client, next_url: str) -> None:  # type: ignore[no-untyped-def]
    """RFC 9700 §4.11: even right credentials and a valid form do not redirect off-origin."""
    page = client.get("/login")
    form = {
        "username": "alice",
        "password": "wonderland",
        "next": next_url,
        "csrf_token": hidden(page.text, "csrf_token"),
    }
    response = client.post("/login", data=form)
    assert_error_page(response)
    assert not session_cookie_set(response)


def test_same_origin_next_is_honoured(flow: Flow) -> None:
    """RFC 9700 §4.11: a path on this provider is where sign-in returns to."""
    next_url = "/authorize?client_id=spa&x=1"
    assert flow.client.get("/login", params={"next": next_url}).status_code == 200
    response = flow.sign_in(next_url=next_url)
    assert response.status_code == 303
    assert response.headers["location"] == next_url
    assert session_cookie_set(response)
