"""docs/SECURITY.md P25: sign-out at the provider changes nothing without its CSRF token."""

from provider_support import Flow, hidden, response_params
from starlette.testclient import TestClient


def _signed_in(flow: Flow) -> None:
    flow.code()  # signs in and remembers consent


def _still_signed_in(flow: Flow) -> bool:
    response = flow.authorize(flow.code_params(prompt="none"))
    return "code" in response_params(response.headers["location"])


def _clears_cookie(response) -> bool:  # type: ignore[no-untyped-def]
    return any(h.startswith("spalab_session_") for h in response.headers.get_list("set-cookie"))


def test_cross_site_logout_without_token_changes_nothing(flow: Flow, client: TestClient) -> None:
    """A cross-site form POST carries the cookie but not the token: no sign-out, no cookie change."""
    _signed_in(flow)
    response = client.post("/logout", data={"next": "/"}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 400
    assert not _clears_cookie(response)
    assert _still_signed_in(flow)


def test_logout_with_another_sessions_token_changes_nothing(flow: Flow, client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    """The token is bound to the session: one minted for another session does not sign this one out."""
    _signed_in(flow)
    forged = app.state.provider.csrf_token("logout", "some-other-session")
    response = client.post("/logout", data={"csrf_token": forged})
    assert response.status_code == 400
    assert not _clears_cookie(response)
    assert _still_signed_in(flow)


def test_logout_with_the_token_ends_the_session(flow: Flow, client: TestClient) -> None:
    """With the home page's token, the server-side session is deleted and the cookie cleared."""
    _signed_in(flow)
    home = client.get("/")
    response = client.post("/logout", data={"csrf_token": hidden(home.text, "csrf_token")})
    assert response.status_code == 303
    assert _clears_cookie(response)
    assert not _still_signed_in(flow)


def test_logout_without_a_session_just_goes_home(client: TestClient) -> None:
    response = client.post("/logout", data={"csrf_token": "anything"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert not _clears_cookie(response)
