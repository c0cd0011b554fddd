"""Client authentication: none, client_secret_basic, client_secret_post (RFC 6749 §2.3.1, §3.2.1)."""

import base64

import pytest

from spalab.provider.core import client_auth
from spalab.provider.core.errors import OAuthError
from spalab.provider.core.records import Client

SPA = Client("spa", ("http://c/cb",), cors_origins=("http://127.0.0.1:8000",))
SERVER = Client("my server", ("https://rp/cb",), client_secret="s3:cr%t")
CLIENTS = {c.client_id: c for c in (SPA, SERVER)}


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, None),
        (basic("my%20server:s3%3Acr%25t"), ("my server", "s3:cr%t")),  # RFC 6749 §2.3.1: form-urlencoded parts
        (basic("a:b:c"), ("a", "b:c")),  # only the first colon separates
        ("basic " + base64.b64encode(b"a:b").decode(), ("a", "b")),  # scheme is case-insensitive
    ],
)
def test_basic_parsed(header: str | None, expected: tuple[str, str] | None) -> None:
    """RFC 7617 §2: Basic credentials are base64(id ":" secret)."""
    assert client_auth.parse_basic_credentials(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "Basic not*base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff:x").decode(),
        "Basic é",
    ],
)
def test_basic_malformed(header: str) -> None:
    """RFC 7617 §2 / RFC 6749 §5.2: another scheme or malformed credentials are invalid_client, never a 500."""
    with pytest.raises(OAuthError) as caught:
        client_auth.parse_basic_credentials(header)
    assert caught.value.error == "invalid_client"


@pytest.mark.parametrize(
    "form, header, error",
    [
        ({"client_id": "nobody"}, None, "invalid_client"),
        ({"client_id": "spa", "client_secret": "x"}, None, "invalid_client"),  # docs/SECURITY.md P20
        ({"client_id": "my server"}, None, "invalid_client"),  # RFC 6749 §3.2.1: must authenticate
        ({"client_id": "my server", "client_secret": "wrong"}, None, "invalid_client"),
        ({"client_secret": "s3:cr%t"}, basic("my%20server:s3%3Acr%25t"), "invalid_request"),  # two methods
        ({"client_id": "spa"}, basic("my%20server:s3%3Acr%25t"), "invalid_request"),  # ids differ
        ({}, basic("my%20server:wrong"), "invalid_client"),
    ],
)
def test_authentication_refused(form: dict[str, str], header: str | None, error: str) -> None:
    """RFC 6749 §2.3: one method per request, the right secret, no secret for public clients."""
    with pytest.raises(OAuthError) as caught:
        client_auth.authenticate_client(CLIENTS, form, header)
    assert caught.value.error == error


@pytest.mark.parametrize(
    "form, header, client",
    [
        ({"client_id": "spa"}, None, SPA),
        ({"client_id": "my server", "client_secret": "s3:cr%t"}, None, SERVER),
        ({}, basic("my%20server:s3%3Acr%25t"), SERVER),
        ({"client_id": "my server"}, basic("my%20server:s3%3Acr%25t"), SERVER),
    ],
)
def test_authentication_accepted(form: dict[str, str], header: str | None, client: Client) -> None:
    """RFC 6749 §2.3.1: none for public clients, Basic or post for confidential ones."""
    assert client_auth.authenticate_client(CLIENTS, form, header) is client


@pytest.mark.parametrize(
    "origin, refused",
    [(None, False), ("http://127.0.0.1:8000", False), ("http://127.0.0.1:8001", True), ("null", True)],
)
def test_browser_origin(origin: str | None, refused: bool) -> None:
    """RFC 9700 §4.2.4: a page on an unregistered origin is refused before any code is looked at."""
    try:
        client_auth.check_browser_origin(SPA, origin)
        error = None
    except OAuthError as exc:
        error = exc.error
    assert error == ("invalid_client" if refused else None)
