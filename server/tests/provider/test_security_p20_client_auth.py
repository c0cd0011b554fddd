"""docs/SECURITY.md P20: a confidential client must authenticate at the token endpoint; a public
client's secret proves nothing and is refused; one authentication method per request."""

import base64

import pytest
from provider_support import CONFIDENTIAL_REDIRECT, SECRET, Flow
from starlette.testclient import TestClient

ENDPOINTS = ["/token", "/revoke", "/introspect"]


def _confidential_code(client: TestClient) -> str:
    return Flow(client).code(
        client_id="confidential", redirect_uri=CONFIDENTIAL_REDIRECT, code_challenge=None, code_challenge_method=None
    )


def _code_form(code: str, **extra: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": CONFIDENTIAL_REDIRECT, **extra}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _assert_invalid_client(response, basic: bool) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    if basic:
        # RFC 6749 §5.2: a failed Basic authentication gets a Basic challenge.
        assert response.headers["www-authenticate"].lower().startswith("basic")


def test_confidential_client_without_secret_is_refused(client: TestClient) -> None:
    """RFC 6749 §3.2.1: a confidential client sending only its client_id → 401 invalid_client."""
    code = _confidential_code(client)
    response = client.post("/token", data=_code_form(code, client_id="confidential"))
    _assert_invalid_client(response, basic=False)


@pytest.mark.parametrize("wrong", ["wrong", SECRET + "x", SECRET[:-1], SECRET.upper(), ""])
def test_confidential_client_with_wrong_secret_is_refused(client: TestClient, wrong: str) -> None:
    """RFC 6749 §2.3.1: a wrong secret, by Basic or in the body → 401 invalid_client."""
    code = _confidential_code(client)
    basic = client.post("/token", data=_code_form(code), headers=_basic("confidential", wrong))
    _assert_invalid_client(basic, basic=True)
    if wrong:  # an empty form value counts as absent (RFC 6749 §3.1)
        post = client.post("/token", data=_code_form(code, client_id="confidential", client_secret=wrong))
        _assert_invalid_client(post, basic=False)
    # The refused attempts did not spend the code.
    good = client.post("/token", data=_code_form(code), auth=("confidential", SECRET))
    assert good.status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_confidential_client_must_authenticate_at_every_back_channel_endpoint(
    client: TestClient, endpoint: str
) -> None:
    """RFC 7009 §2.1, RFC 7662 §2.1: revocation and introspection authenticate the client too."""
    form = {"client_id": "confidential", "token": "x", "grant_type": "refresh_token", "refresh_token": "x"}
    _assert_invalid_client(client.post(endpoint, data=form), basic=False)
    _assert_invalid_client(client.post(endpoint, data=form, headers=_basic("confidential", "nope")), basic=True)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_public_client_sending_a_secret_is_refused(flow: Flow, client: TestClient, endpoint: str) -> None:
    """docs/SECURITY.md P20: a public client has no secret; one that sends a secret is invalid_client."""
    tokens = flow.tokens()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "token": tokens["access_token"]}
    post = client.post(endpoint, data={**form, "client_id": "spa", "client_secret": "anything"})
    _assert_invalid_client(post, basic=False)
    basic = client.post(endpoint, data=form, headers=_basic("spa", "anything"))
    _assert_invalid_client(basic, basic=True)


def test_public_client_sending_a_secret_gets_no_tokens_for_its_code(flow: Flow, client: TestClient) -> None:
    """docs/SECURITY.md P20: the code exchange with a sent secret fails, whatever the secret."""
    response = flow.exchange(flow.code(), client_secret="guess")
    _assert_invalid_client(response, basic=False)


def test_basic_and_post_together_is_invalid_request(client: TestClient) -> None:
    """RFC 6749 §2.3: a client must not use more than one authentication method per request."""
    code = _confidential_code(client)
    form = _code_form(code, client_id="confidential", client_secret=SECRET)
    response = client.post("/token", data=form, auth=("confidential", SECRET))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_basic_client_id_must_match_the_body(client: TestClient) -> None:
    """RFC 6749 §2.3.1: the body's client_id cannot differ from the authenticated one."""
    code = _confidential_code(client)
    response = client.post("/token", data=_code_form(code, client_id="spa"), auth=("confidential", SECRET))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_code_of_confidential_client_cannot_be_redeemed_as_a_public_client(client: TestClient) -> None:
    """RFC 6749 §4.1.3: the code is bound to the confidential client; no other client can use it."""
    code = _confidential_code(client)
    response = client.post("/token", data=_code_form(code, client_id="spa"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_basic_credentials_are_form_urlencoded(client: TestClient) -> None:
    """RFC 6749 §2.3.1: client_id and secret are form-urlencoded before base64 (a secret with ':' or '%')."""
    code = _confidential_code(client)
    response = client.post("/token", data=_code_form(code), headers=_basic("confidential", SECRET.replace("-", "%2D")))
    assert response.status_code == 200
