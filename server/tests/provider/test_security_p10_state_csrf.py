"""docs/SECURITY.md P10: `state` comes back byte-exact; the sign-in and consent forms carry
an anti-CSRF token, so a forged POST starts no session and issues no code."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from provider_support import ISSUER, REDIRECT, SPA, Flow, hidden, response_params, table_rows
from starlette.testclient import TestClient

STATES = {
    "reserved": "a&b=c#d+e%20f%g?h/i;j,k",
    "unicode": "é ☃ 𝄞 Ωmega 中文",
    "spaces": "  two  spaces  ",
    "percent-encoded-looking": "%41%2B%26%3D%23",
    "plus-only": "+",
    "quotes-and-brackets": "\"'<>[]{}|\\^`",
}
WRONG_TOKEN = "0" * 64
PASSWORDS = {"alice": "wonderland", "bob": "builder"}


def count(flow: Flow, table: str) -> int:
    return table_rows(flow.client.app)[table]


def session_cookie_set(response) -> bool:  # type: ignore[no-untyped-def]
    return any(h.startswith("spalab_session_") for h in response.headers.get_list("set-cookie"))


@pytest.fixture
def other_browser(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A second browser with its own cookie jar, on the same provider."""
    with TestClient(app, base_url=ISSUER, follow_redirects=False, raise_server_exceptions=False) as c:
        yield c


# --- state ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
def test_state_is_echoed_byte_exact_through_sign_in_and_consent(flow: Flow, state: str) -> None:
    """RFC 6749 §4.1.2: state is returned exactly as the client sent it."""
    got = response_params(flow.run(flow.code_params(state=state)).headers["location"])
    assert got["state"].encode() == state.encode()
    assert got["code"]


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
def test_state_is_echoed_byte_exact_in_the_fragment(flow: Flow, state: str) -> None:
    """RFC 6749 §4.2.2: the implicit response echoes state exactly too."""
    params = flow.code_params(state=state, response_type="token", code_challenge=None, code_challenge_method=None)
    got = response_params(flow.run(params).headers["location"], "fragment")
    assert got["state"].encode() == state.encode()
    assert got["access_token"]


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
def test_state_is_echoed_byte_exact_on_errors(flow: Flow, state: str) -> None:
    """RFC 6749 §4.1.2.1: error responses echo state exactly."""
    got = response_params(flow.authorize(flow.code_params(state=state, scope="bogus")).headers["location"])
    assert got["error"] == "invalid_scope"
    assert got["state"].encode() == state.encode()


# --- anti-CSRF on the sign-in form ------------------------------------------------------


@pytest.mark.parametrize("forgery", ["missing", "wrong", "other-browser", "no-cookie"])
def test_login_post_without_this_browsers_csrf_token_starts_no_session(
    flow: Flow, other_browser: TestClient, data_dir: Path, forgery: str
) -> None:
    """RFC 6749 §10.12 (login CSRF): the sign-in form is bound to the browser that loaded it."""
    victim = flow.client
    own_token = hidden(victim.get("/login").text, "csrf_token")
    foreign_token = hidden(other_browser.get("/login").text, "csrf_token")
    form = {"username": "alice", "password": "wonderland", "next": "/"}
    if forgery == "wrong":
        form["csrf_token"] = WRONG_TOKEN
    elif forgery == "other-browser":
        form["csrf_token"] = foreign_token
    elif forgery == "no-cookie":
        victim.cookies.clear()
        form["csrf_token"] = own_token
    response = victim.post("/login", data=form)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert not session_cookie_set(response)
    assert count(flow, "sessions") == 0
    after = flow.authorize(flow.code_params())
    assert after.status_code == 302 and after.headers["location"].startswith("/login")


def test_login_form_carries_a_token_that_signs_in(flow: Flow, data_dir: Path) -> None:
    """RFC 6749 §10.12: control — the form as served does sign in."""
    assert flow.sign_in().status_code == 303
    assert count(flow, "sessions") == 1


# --- anti-CSRF on the consent form ------------------------------------------------------


def consent_page(flow: Flow, params: dict[str, str], username: str = "alice") -> dict[str, str]:
    """Signs in and returns the consent form's hidden fields."""
    response = flow.authorize(params)
    next_url = parse_qs(urlsplit(response.headers["location"]).query)["next"][0]
    signed_in = flow.sign_in(username, PASSWORDS[username], next_url)
    page = flow.client.get(signed_in.headers["location"])
    assert page.status_code == 200 and "Allow access?" in page.text
    return {"request_id": hidden(page.text, "request_id"), "csrf_token": hidden(page.text, "csrf_token")}


@pytest.mark.parametrize("forgery", ["missing", "wrong", "other-session", "no-session"])
def test_consent_post_without_this_sessions_csrf_token_issues_no_code(
    flow: Flow, other_browser: TestClient, data_dir: Path, forgery: str
) -> None:
    """RFC 6749 §10.12: consent is bound to the user's session, so a forged POST issues nothing."""
    params = flow.code_params()
    fields = consent_page(flow, params)
    form, sender = {**fields, "decision": "allow"}, flow.client
    if forgery == "missing":
        del form["csrf_token"]
    elif forgery == "wrong":
        form["csrf_token"] = WRONG_TOKEN
    elif forgery == "other-session":
        attacker = Flow(other_browser)
        consent_page(attacker, attacker.code_params(), "bob")
        sender = other_browser
    else:
        sender = other_browser
    response = sender.post("/consent", data=form)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert count(flow, "codes") == 0
    assert count(flow, "grants") == 0
    # Control: the real form, from the real session, still answers the request.
    answered = flow.client.post("/consent", data={**fields, "decision": "allow"})
    assert answered.status_code == 303
    got = response_params(answered.headers["location"])
    assert answered.headers["location"].startswith(REDIRECT) and got["state"] == params["state"] and got["code"]


def test_consent_token_of_one_request_does_not_answer_another(flow: Flow, data_dir: Path) -> None:
    """RFC 6749 §10.12: the consent token is bound to its own pending request too."""
    first = consent_page(flow, flow.code_params())
    second = flow.client.get("/authorize", params=flow.code_params(redirect_uri=SPA + "/cb?a=1"))
    request_id = hidden(second.text, "request_id")
    response = flow.client.post(
        "/consent", data={"request_id": request_id, "csrf_token": first["csrf_token"], "decision": "allow"}
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert count(flow, "codes") == 0


def test_a_form_from_before_a_restart_or_from_another_instance_still_counts(config, data_dir) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P10, P23: the key behind CSRF tokens and device cookies lives in the store, so a
    sign-in form served before a restart (or by another instance on the same database) is accepted, and
    a device cookie keeps its own throttling budget afterwards."""
    from spalab.provider.app import create_provider_app

    first = create_provider_app(config, data_dir)
    with TestClient(first, base_url=ISSUER, follow_redirects=False) as browser:
        page = browser.get("/login", params={"next": "/"})
        cookies = dict(browser.cookies)
    second = create_provider_app(config, data_dir)
    with TestClient(second, base_url=ISSUER, follow_redirects=False, cookies=cookies) as browser:
        form = {
            "username": "alice",
            "password": "wonderland",
            "next": "/",
            "csrf_token": hidden(page.text, "csrf_token"),
        }
        assert browser.post("/login", data=form).status_code == 303
    assert first.state.provider.csrf_key == second.state.provider.csrf_key
