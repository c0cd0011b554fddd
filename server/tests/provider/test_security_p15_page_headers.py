"""docs/SECURITY.md P15: pages that take credentials or consent, and error pages, cannot be framed
and leak no Referer."""

import pytest
from provider_support import Flow, hidden
from starlette.testclient import TestClient


def _assert_page_headers(response) -> None:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("text/html")
    directives = [d.strip() for d in response.headers["content-security-policy"].split(";")]
    assert "frame-ancestors 'none'" in directives
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_login_page(client: TestClient) -> None:
    """RFC 9700 §4.16: the sign-in page forbids framing and Referer."""
    response = client.get("/login", params={"next": "/"})
    assert response.status_code == 200
    _assert_page_headers(response)


def test_login_page_after_a_failed_attempt(flow: Flow) -> None:
    """RFC 9700 §4.16: the sign-in page shown again after a wrong password keeps the headers."""
    response = flow.sign_in(password="wrong")
    assert response.status_code == 400
    _assert_page_headers(response)


def test_consent_page(flow: Flow) -> None:
    """RFC 9700 §4.16: the consent page (clickjacking target) forbids framing and Referer."""
    assert flow.sign_in().status_code == 303
    response = flow.authorize(flow.code_params())
    assert response.status_code == 200 and "Allow access?" in response.text
    _assert_page_headers(response)


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/authorize", {"client_id": "nobody", "redirect_uri": "http://localhost:8000/"}),
        ("GET", "/authorize", {"client_id": "spa", "redirect_uri": "http://localhost:8000/x"}),
        ("GET", "/login", {"next": "https://evil.test/"}),
        ("POST", "/consent", {"request_id": "x", "csrf_token": "y", "decision": "allow"}),
        ("GET", "/no-such-page", {}),
        ("PUT", "/authorize", {}),
    ],
)
def test_error_pages(client: TestClient, method: str, path: str, params: dict[str, str]) -> None:
    """RFC 9700 §4.16: error pages carry the same anti-framing and no-referrer headers."""
    if method == "POST":
        response = client.post(path, data=params)
    else:
        response = client.request(method, path, params=params)
    assert 400 <= response.status_code < 500
    _assert_page_headers(response)


def test_throttled_login_page(flow: Flow) -> None:
    """RFC 9700 §4.16: the 429 sign-in page carries the headers too."""
    page = flow.client.get("/login", params={"next": "/"})
    form = {"username": "bob", "password": "wrong", "next": "/", "csrf_token": hidden(page.text, "csrf_token")}
    for _ in range(6):
        response = flow.client.post("/login", data=form)
    assert response.status_code == 429
    _assert_page_headers(response)
