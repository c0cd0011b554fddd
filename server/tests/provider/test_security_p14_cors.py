"""docs/SECURITY.md P14: CORS for registered origins on the back-channel endpoints, `*` on discovery
and JWKS, and never any CORS header from the authorization endpoint or the provider's pages."""

import pytest
from provider_support import SECRET, SPA, Flow, api, hidden
from starlette.testclient import TestClient

EVIL = "http://evil.test"
# (path, method, request headers the browser would ask for)
REGISTERED_ONLY = [
    ("/token", "POST", "content-type"),
    ("/revoke", "POST", "content-type"),
    ("/introspect", "POST", "authorization, content-type"),
    ("/userinfo", "GET", "authorization"),
    ("/api/me", "GET", "authorization"),
    ("/api/contacts", "GET", "authorization"),
]
ANYONE = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks"]


def _preflight(client: TestClient, path: str, origin: str, method: str, headers: str = ""):  # type: ignore[no-untyped-def]
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=request_headers)


def _actual(client: TestClient, path: str, method: str, origin: str, token: str = "x"):  # type: ignore[no-untyped-def]
    headers = {"Origin": origin, "Authorization": f"Bearer {token}"}
    if method == "POST":
        headers.pop("Authorization")
        return client.post(
            path, data={"client_id": "spa", "grant_type": "refresh_token", "token": "x"}, headers=headers
        )
    return client.get(path, headers=headers)


def _cors_headers(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.parametrize(("path", "method", "wanted"), REGISTERED_ONLY)
def test_preflight_from_registered_origin_is_allowed(client: TestClient, path: str, method: str, wanted: str) -> None:
    """RFC 9700 §2.6: the registered SPA origin may call the back-channel endpoints."""
    response = _preflight(client, path, SPA, method, wanted)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    assert method in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(("path", "method", "wanted"), REGISTERED_ONLY)
def test_preflight_from_unregistered_origin_is_refused(client: TestClient, path: str, method: str, wanted: str) -> None:
    """RFC 9700 §2.6: any other origin's preflight is refused, with no Allow-Origin."""
    response = _preflight(client, path, EVIL, method, wanted)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("path", "method", "wanted"), REGISTERED_ONLY)
def test_actual_request_from_registered_origin_gets_allow_origin(
    flow: Flow, client: TestClient, path: str, method: str, wanted: str
) -> None:
    """RFC 9700 §2.6: responses (success or error) to the registered origin are readable by it."""
    token = flow.tokens()["access_token"] if method == "GET" else "x"
    response = _actual(client, path, method, SPA, token)
    assert response.status_code < 500
    assert response.headers["access-control-allow-origin"] == SPA
    assert "origin" in response.headers.get("vary", "").lower()


@pytest.mark.parametrize(("path", "method", "wanted"), REGISTERED_ONLY)
def test_actual_request_from_unregistered_origin_gets_no_allow_origin(
    flow: Flow, client: TestClient, path: str, method: str, wanted: str
) -> None:
    """RFC 9700 §2.6: another origin's page cannot read the answer, even with a valid token."""
    token = flow.tokens()["access_token"] if method == "GET" else "x"
    response = _actual(client, path, method, EVIL, token)
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", ANYONE)
@pytest.mark.parametrize("origin", [SPA, EVIL])
def test_discovery_and_jwks_answer_any_origin(client: TestClient, path: str, origin: str) -> None:
    """RFC 8414 §3, OIDC Discovery: public documents, `*` for everyone, no credentials."""
    response = client.get(path, headers={"Origin": origin})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    preflight = _preflight(client, path, origin, "GET")
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"


def _page_requests(client: TestClient) -> list:  # type: ignore[type-arg]
    """Every front-channel request a browser makes, each sent with the registered Origin."""
    origin = {"Origin": SPA}
    flow = Flow(client)
    params = flow.code_params()
    responses = [client.get("/authorize", params=params, headers=origin)]
    login_page = client.get("/login", params={"next": "/"}, headers=origin)
    responses.append(login_page)
    form = {
        "username": "alice",
        "password": "wonderland",
        "next": "/",
        "csrf_token": hidden(login_page.text, "csrf_token"),
    }
    responses.append(client.post("/login", data={**form, "password": "wrong"}, headers=origin))
    responses.append(client.post("/login", data=form, headers=origin))
    consent_page = client.get("/authorize", params=params, headers=origin)
    responses.append(consent_page)
    consent = {
        "request_id": hidden(consent_page.text, "request_id"),
        "csrf_token": hidden(consent_page.text, "csrf_token"),
        "decision": "allow",
    }
    responses.append(client.post("/consent", data=consent, headers=origin))
    responses.append(client.post("/authorize", data=params, headers=origin))
    responses.append(client.get("/authorize", params={"client_id": "nobody"}, headers=origin))
    responses.append(client.get("/", headers=origin))
    responses.append(client.post("/logout", data={}, headers=origin))
    for path in ("/authorize", "/login", "/consent", "/logout", "/"):
        for method in ("GET", "POST"):
            responses.append(_preflight(client, path, SPA, method, "content-type"))
    return responses


def test_front_channel_never_sends_cors_headers(client: TestClient) -> None:
    """RFC 9700 §2.6: /authorize, sign-in, consent and the provider's pages are never readable cross-origin."""
    responses = _page_requests(client)
    assert any(r.status_code == 200 and "Allow access?" in r.text for r in responses), "consent page reached"
    for response in responses:
        where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
        assert _cors_headers(response) == {}, where


@pytest.mark.parametrize("origin", [EVIL, "null", SPA + ".evil.test", "http://localhost:8001"])
def test_a_token_request_from_an_unregistered_origin_is_refused_without_spending_the_code(
    flow: Flow, origin: str
) -> None:
    """RFC 9700 §2.6, §4.2.4 (lab E5): CORS only hides the answer from a foreign page; the provider
    refuses the request itself, before looking at the code, so the code stays the client's."""
    code = flow.code()
    foreign = flow.client.post(
        "/token",
        headers={"Origin": origin},
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": SPA + "/",
            "client_id": "spa",
            "code_verifier": flow.verifier,
        },
    )
    assert foreign.status_code in (400, 401)
    assert foreign.json()["error"] == "invalid_client"
    own = flow.client.post(
        "/token",
        headers={"Origin": SPA},
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": SPA + "/",
            "client_id": "spa",
            "code_verifier": flow.verifier,
        },
    )
    assert own.status_code == 200, own.text


def test_requests_without_an_origin_are_not_affected(flow: Flow) -> None:
    """Servers and command-line tools send no Origin; the check is for browsers only."""
    assert flow.exchange(flow.code()).status_code == 200


@pytest.mark.parametrize("origin", [EVIL, "null"])
def test_a_revocation_from_an_unregistered_origin_is_refused_and_revokes_nothing(flow: Flow, origin: str) -> None:
    """RFC 9700 §2.6 (lab E5): a foreign page cannot make the provider revoke the SPA's tokens."""
    tokens = flow.tokens()
    for token in (tokens["refresh_token"], tokens["access_token"]):
        foreign = flow.client.post("/revoke", headers={"Origin": origin}, data={"token": token, "client_id": "spa"})
        assert foreign.status_code == 401 and foreign.json()["error"] == "invalid_client"
    assert api(flow.client, tokens["access_token"]).status_code == 200
    refreshed = flow.client.post(
        "/token", data={"grant_type": "refresh_token", "client_id": "spa", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200


@pytest.mark.parametrize("origin", [EVIL, "null"])
def test_an_introspection_from_an_unregistered_origin_is_refused(flow: Flow, origin: str) -> None:
    """RFC 9700 §2.6: a page on a foreign origin gets no answer about a token, even with the credentials."""
    token = flow.tokens()["access_token"]
    foreign = flow.client.post(
        "/introspect", headers={"Origin": origin}, data={"token": token}, auth=("confidential", SECRET)
    )
    assert foreign.status_code == 401 and foreign.json()["error"] == "invalid_client"
    assert "active" not in foreign.json()


@pytest.mark.parametrize(("path", "method"), [("/token", "POST"), ("/userinfo", "GET"), ("/api/me", "GET")])
def test_a_dpop_client_may_send_its_proof_and_read_the_nonce(client: TestClient, path: str, method: str) -> None:
    """RFC 9449 §4.1, §8, §9 (docs/SECURITY.md P30, P32): the SPA sends a DPoP header from its own origin (the
    preflight allows it) and reads DPoP-Nonce (exposed) as well as WWW-Authenticate."""
    preflight = _preflight(client, path, SPA, method, "authorization, content-type, dpop")
    assert preflight.status_code == 200
    assert "dpop" in preflight.headers["access-control-allow-headers"].lower()
    answer = client.request(method, path, headers={"Origin": SPA, "DPoP": "x"})
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"dpop-nonce", "www-authenticate"} <= exposed
