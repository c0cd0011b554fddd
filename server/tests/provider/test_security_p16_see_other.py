"""docs/SECURITY.md P16: a redirect after a POST that carried credentials or consent is 303 See Other."""

from provider_support import Flow, hidden, response_params
from starlette.testclient import TestClient


def _consent_form(flow: Flow, decision: str) -> dict[str, str]:
    page = flow.authorize(flow.code_params())
    assert page.status_code == 200 and "Allow access?" in page.text
    return {
        "request_id": hidden(page.text, "request_id"),
        "csrf_token": hidden(page.text, "csrf_token"),
        "decision": decision,
    }


def test_login_post_redirects_with_303(flow: Flow) -> None:
    """RFC 9700 §4.12: 307 would make the browser re-POST the password to the next URL."""
    response = flow.sign_in(next_url="/authorize?client_id=spa")
    assert response.status_code == 303
    assert response.headers["location"] == "/authorize?client_id=spa"


def test_consent_allow_redirects_with_303(flow: Flow) -> None:
    """RFC 9700 §4.12: the consent POST's redirect to the client is 303."""
    flow.sign_in()
    response = flow.client.post("/consent", data=_consent_form(flow, "allow"))
    assert response.status_code == 303
    assert response_params(response.headers["location"])["code"]


def test_consent_deny_redirects_with_303(flow: Flow) -> None:
    """RFC 9700 §4.12: the error redirect after the consent POST is 303 as well."""
    flow.sign_in()
    response = flow.client.post("/consent", data=_consent_form(flow, "deny"))
    assert response.status_code == 303
    assert response_params(response.headers["location"])["error"] == "access_denied"


def test_logout_post_redirects_with_303(flow: Flow, client: TestClient) -> None:
    """RFC 9700 §4.12: sign-out is a POST too; its redirect is 303."""
    flow.sign_in()
    home = client.get("/")
    response = client.post("/logout", data={"csrf_token": hidden(home.text, "csrf_token")})
    assert response.status_code == 303


def test_authorize_post_redirects_with_303(flow: Flow) -> None:
    """RFC 9700 §4.12: a form-posted authorization request is answered with 303, never 307/308."""
    flow.code()  # signed in, consent remembered
    response = flow.client.post("/authorize", data=flow.code_params())
    assert response.status_code == 303
    assert response_params(response.headers["location"])["code"]
    error = flow.client.post("/authorize", data=flow.code_params(scope="bogus"))
    assert error.status_code == 303
    assert response_params(error.headers["location"])["error"] == "invalid_scope"
