"""docs/SECURITY.md P25: sign-out at the provider changes nothing without its CSRF token or a valid
id_token_hint; the end-session endpoint redirects only to an exactly registered post_logout_redirect_uri,
with state (OpenID Connect RP-Initiated Logout 1.0)."""

import base64
import json

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from provider_support import ISSUER, POST_LOGOUT, REDIRECT, SPA, Flow, hidden, response_params
from starlette.testclient import TestClient

from spalab.provider.pages import PAGE_HEADERS


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


# --- the end-session endpoint (OpenID Connect RP-Initiated Logout 1.0) ------------------------------

END = "/end-session"
OTHER_SPA_LOGOUT = SPA + "/other-bye"


def _id_token(flow: Flow, client_id: str = "spa", redirect_uri: str = REDIRECT, scope: str | None = None) -> str:
    """An id_token the provider issues to `client_id` after the user signs in (code + PKCE)."""
    params = flow.code_params(client_id=client_id, redirect_uri=redirect_uri, **({"scope": scope} if scope else {}))
    code = response_params(flow.run(params).headers["location"])["code"]
    answer = flow.exchange(code, client_id=client_id, redirect_uri=redirect_uri)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id_token"])


def _b64(data: dict) -> str:  # type: ignore[type-arg]
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:  # type: ignore[type-arg]
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def _unchanged(response, flow: Flow) -> bool:  # type: ignore[no-untyped-def]
    """Nothing happened: no redirect, no cookie change, still signed in."""
    return "location" not in response.headers and not _clears_cookie(response) and _still_signed_in(flow)


def _confirm(client: TestClient, page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The confirmation page's form fields, as the browser would post them."""
    names = ("csrf_token", "client_id", "post_logout_redirect_uri", "state")
    return {n: hidden(page.text, n) for n in names if f'name="{n}"' in page.text}


def test_discovery_advertises_the_end_session_endpoint(client: TestClient) -> None:
    """RP-Initiated Logout §2.1: end_session_endpoint in the provider's metadata, and it answers."""
    endpoint = client.get("/.well-known/openid-configuration").json()["end_session_endpoint"]
    assert endpoint == ISSUER + END
    assert client.get(END).status_code == 200


def test_a_valid_hint_signs_out_at_once_and_redirects_with_302(flow: Flow, client: TestClient) -> None:
    """RP-Initiated Logout §2, §3: this session's id_token → signed out, 302 to the registered URI with state."""
    hint = _id_token(flow)
    query = {"id_token_hint": hint, "post_logout_redirect_uri": POST_LOGOUT, "state": "st-1"}
    response = client.get(END, params=query)
    assert response.status_code == 302
    assert response.headers["location"] == POST_LOGOUT + "?state=st-1"
    assert _clears_cookie(response)
    assert not _still_signed_in(flow)


def test_a_post_signs_out_and_redirects_with_303(flow: Flow, client: TestClient) -> None:
    """RP-Initiated Logout §2 (POST form) / docs/SECURITY.md P16: a redirect after a POST is 303."""
    form = {"id_token_hint": _id_token(flow), "post_logout_redirect_uri": POST_LOGOUT}
    response = client.post(END, data=form)
    assert (response.status_code, response.headers["location"]) == (303, POST_LOGOUT)
    assert not _still_signed_in(flow)


def test_an_expired_hint_is_accepted(flow: Flow, client: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    """RP-Initiated Logout §2: an expired id_token still identifies the session when signature and issuer verify."""
    hint = _id_token(flow)
    clock.advance(3600)  # id_tokens live 300 s; the session 8 h
    response = client.get(END, params={"id_token_hint": hint})
    assert response.status_code == 200 and _clears_cookie(response)
    assert not _still_signed_in(flow)


def test_without_a_redirect_uri_a_signed_out_page(flow: Flow, client: TestClient) -> None:
    """RP-Initiated Logout §2: no post_logout_redirect_uri: the provider's own page, with the page headers."""
    response = client.get(END, params={"id_token_hint": _id_token(flow), "state": "s"})
    assert response.status_code == 200 and "location" not in response.headers
    assert {k: response.headers[k] for k in PAGE_HEADERS} == PAGE_HEADERS
    assert _clears_cookie(response)


@pytest.mark.parametrize(
    "uri",
    [
        POST_LOGOUT + "/",  # extra slash
        POST_LOGOUT + "?x=1",  # extra query
        POST_LOGOUT.upper(),  # case
        SPA + "/Signed-out",
        SPA + "/bye?from=spa&x=1",  # the registered query, extended
        SPA + "/",  # a redirect_uri, not a post-logout one
        "https://evil.example/signed-out",  # unregistered
    ],
)
def test_the_redirect_uri_must_match_exactly(flow: Flow, client: TestClient, uri: str) -> None:
    """RP-Initiated Logout §3: post_logout_redirect_uri must exactly match a registered one: else a page."""
    response = client.get(END, params={"id_token_hint": _id_token(flow), "post_logout_redirect_uri": uri})
    assert response.status_code == 400
    assert _unchanged(response, flow)


def test_a_registered_uri_with_a_query_keeps_it_and_gets_state(flow: Flow, client: TestClient) -> None:
    """RP-Initiated Logout §3: the exact registered URI, query and all, plus state."""
    query = {"id_token_hint": _id_token(flow), "post_logout_redirect_uri": SPA + "/bye?from=spa", "state": "q"}
    response = client.get(END, params=query)
    assert response.headers["location"] == SPA + "/bye?from=spa&state=q"


def test_state_is_echoed_exactly(flow: Flow, client: TestClient) -> None:
    """RP-Initiated Logout §3 / docs/SECURITY.md P10: state comes back byte for byte."""
    state = "a b&c=d/é?#%+"
    query = {"id_token_hint": _id_token(flow), "post_logout_redirect_uri": POST_LOGOUT, "state": state}
    location = client.get(END, params=query).headers["location"]
    assert location.startswith(POST_LOGOUT + "?")
    assert response_params(location) == {"state": state}


def test_a_hint_from_another_client_cannot_use_this_clients_uri(flow: Flow, client: TestClient) -> None:
    """RP-Initiated Logout §3: the URI is matched against the list of the client the hint was issued to."""
    _signed_in(flow)
    hint = _id_token(flow, "other-spa", SPA + "/other", scope="openid profile")
    response = client.get(END, params={"id_token_hint": hint, "post_logout_redirect_uri": POST_LOGOUT})
    assert response.status_code == 400
    assert _unchanged(response, flow)
    ok = client.get(END, params={"id_token_hint": hint, "post_logout_redirect_uri": OTHER_SPA_LOGOUT})
    assert ok.headers["location"] == OTHER_SPA_LOGOUT


def test_client_id_must_match_the_hints_audience(flow: Flow, client: TestClient) -> None:
    """RP-Initiated Logout §2: with both, client_id must be the client the id_token was issued to."""
    query = {"id_token_hint": _id_token(flow), "client_id": "other-spa", "post_logout_redirect_uri": OTHER_SPA_LOGOUT}
    response = client.get(END, params=query)
    assert response.status_code == 400
    assert _unchanged(response, flow)


def _forged(flow: Flow, client: TestClient, app, kind: str) -> str:  # type: ignore[no-untyped-def]
    real = _id_token(flow)
    header, _, signature = real.split(".")
    if kind == "unsigned":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(real))}."
    if kind == "altered":
        return f"{header}.{_b64({**_claims(real), 'sub': 'bob'})}.{signature}"
    if kind == "other key":
        key = RSAKey.generate_key(2048, parameters={"alg": "RS256"})
        kid = next(key.kid for key in app.state.provider.issuer.keys.keys if key.alg == "RS256")
        return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": kid}, _claims(real), key, algorithms=["RS256"])
    if kind == "other issuer":
        claims = {**_claims(real), "iss": "https://evil.example"}
        return str(app.state.provider.issuer.keys.sign(claims, "JWT", 1_800_000_000))
    return flow.tokens()["access_token"]  # signed by us, but its aud is the API, no client


@pytest.mark.parametrize("kind", ["unsigned", "altered", "other key", "other issuer", "access token"])
def test_a_forged_hint_gets_the_confirmation_page_and_no_redirect(  # type: ignore[no-untyped-def]
    flow: Flow, client: TestClient, app, kind: str
) -> None:
    """RP-Initiated Logout §2, §4: a hint that does not verify: the user is asked, and is never redirected."""
    hint = _forged(flow, client, app, kind)
    query = {"id_token_hint": hint, "client_id": "spa", "post_logout_redirect_uri": POST_LOGOUT, "state": "s"}
    page = client.get(END, params=query)
    assert page.status_code == 200
    assert _unchanged(page, flow)
    confirmed = client.post(END, data=_confirm(client, page))
    assert confirmed.status_code == 200 and "location" not in confirmed.headers  # signed out, not redirected
    assert not _still_signed_in(flow)


def test_a_hint_for_another_user_asks_first(flow: Flow, client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    """RP-Initiated Logout §2: an id_token naming someone else than the signed-in user: confirmation."""
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as bobs_browser:
        bob = Flow(bobs_browser)
        assert bob.sign_in("bob", "builder").status_code == 303
        bobs_hint = _id_token(bob)
    _signed_in(flow)
    response = client.get(END, params={"id_token_hint": bobs_hint, "post_logout_redirect_uri": POST_LOGOUT})
    assert response.status_code == 200
    assert _unchanged(response, flow)


def test_a_hint_from_an_earlier_sign_in_asks_first(flow: Flow, client: TestClient, clock) -> None:  # type: ignore[no-untyped-def]
    """RP-Initiated Logout §2: an id_token of the same user but another (earlier) session is stale."""
    old_hint = _id_token(flow)
    client.cookies.clear()
    clock.advance(60)
    _signed_in(flow)  # a new session, with a new auth_time
    response = client.get(END, params={"id_token_hint": old_hint})
    assert response.status_code == 200
    assert _unchanged(response, flow)


def test_without_a_hint_the_user_confirms_then_is_signed_out(flow: Flow, client: TestClient) -> None:
    """RP-Initiated Logout §2: no id_token_hint: the user must be asked; the answer is a CSRF-bound form."""
    _signed_in(flow)
    page = client.get(END, params={"client_id": "spa", "post_logout_redirect_uri": POST_LOGOUT, "state": "s"})
    assert page.status_code == 200
    assert {k: page.headers[k] for k in PAGE_HEADERS} == PAGE_HEADERS
    assert _unchanged(page, flow)
    confirmed = client.post(END, data=_confirm(client, page))
    assert (confirmed.status_code, confirmed.headers["location"]) == (303, POST_LOGOUT + "?state=s")
    assert _clears_cookie(confirmed)
    assert not _still_signed_in(flow)


def test_confirmation_without_its_csrf_token_does_nothing(flow: Flow, client: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    """docs/SECURITY.md P25: the confirmation form posted cross-site (no token, or another session's): no change."""
    _signed_in(flow)
    page = client.get(END, params={"client_id": "spa", "post_logout_redirect_uri": POST_LOGOUT})
    form = _confirm(client, page)
    without = {k: v for k, v in form.items() if k != "csrf_token"}
    response = client.post(END, data=without, headers={"Origin": "https://evil.example"})
    assert response.status_code == 200  # the question again
    assert _unchanged(response, flow)
    forged = {**form, "csrf_token": app.state.provider.csrf_token("end-session", "some-other-session")}
    response = client.post(END, data=forged)
    assert response.status_code == 400
    assert _unchanged(response, flow)


def test_a_confirmation_token_in_a_get_does_not_count(flow: Flow, client: TestClient) -> None:
    """RP-Initiated Logout §2: only the confirmation form's POST is the user's answer, never a link."""
    _signed_in(flow)
    page = client.get(END, params={"client_id": "spa"})
    response = client.get(END, params=_confirm(client, page))
    assert response.status_code == 200
    assert _unchanged(response, flow)


@pytest.mark.parametrize(
    "query",
    [
        {"post_logout_redirect_uri": "https://evil.example/"},  # no client known: nothing to match against
        {"post_logout_redirect_uri": POST_LOGOUT},  # even a URI registered for some client
        {"client_id": "spa", "post_logout_redirect_uri": "//evil.example/signed-out"},
        {"client_id": "spa", "post_logout_redirect_uri": "http://localhost:8000@evil.example/signed-out"},
        {"client_id": "nobody", "post_logout_redirect_uri": POST_LOGOUT},
    ],
)
def test_no_open_redirect(client: TestClient, query: dict[str, str]) -> None:
    """RP-Initiated Logout §3, §4 / RFC 9700 §4.11: only validated URIs are redirected to, signed in or not."""
    response = client.get(END, params=query)
    assert response.status_code == 400 and "location" not in response.headers


def test_without_a_session_a_validated_uri_is_followed(client: TestClient) -> None:
    """RP-Initiated Logout §3: nobody to sign out; the registered URI of the named client is used."""
    response = client.get(END, params={"client_id": "spa", "post_logout_redirect_uri": POST_LOGOUT, "state": "x"})
    assert (response.status_code, response.headers["location"]) == (302, POST_LOGOUT + "?state=x")
    assert not _clears_cookie(response)


def test_an_access_token_is_no_id_token_hint_even_when_its_audience_is_a_client(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """RP-Initiated Logout §2: the hint must be an id_token. With an API audience equal to a client_id,
    an access token (typ at+jwt) would otherwise pass for one; it gets the confirmation page instead."""
    from provider_support import TEST_CONFIG, seeded

    from spalab.provider.app import create_provider_app
    from spalab.provider.config import parse_config

    config = parse_config(TEST_CONFIG.replace("request_log = true", 'request_log = true\napi_audience = "spa"'), "t")
    with TestClient(create_provider_app(config, seeded(tmp_path)), base_url=ISSUER, follow_redirects=False) as browser:
        flow = Flow(browser)
        access_token = flow.tokens()["access_token"]
        assert _claims(access_token)["aud"] == "spa"
        page = browser.get(END, params={"id_token_hint": access_token, "post_logout_redirect_uri": POST_LOGOUT})
        assert page.status_code == 200 and 'name="csrf_token"' in page.text  # asked, not signed out
        assert _unchanged(page, flow)
        # Not a hint at all, so no client is known from it: confirming signs out without a redirect.
        confirmed = browser.post(END, data=_confirm(browser, page))
        assert confirmed.status_code == 200 and "location" not in confirmed.headers


@pytest.mark.parametrize(
    "header",
    [{"alg": "RS256", "crit": [1]}, {"alg": "RS256", "crit": "x"}, {"alg": 1}, {"alg": "RS256", "kid": [1]}, []],
    ids=["crit list of numbers", "crit string", "alg number", "kid list", "header array"],
)
def test_a_crafted_jwt_header_is_refused_not_a_500(client: TestClient, flow: Flow, header: object) -> None:
    """docs/SECURITY.md P22: a token joserfc cannot read (some headers make it raise TypeError) is an
    invalid hint or an invalid token, never a 500 — at every endpoint that reads JWTs."""
    token = f"{base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b'=').decode()}.e30.c2ln"
    _signed_in(flow)
    assert client.get(END, params={"id_token_hint": token}).status_code == 200  # the confirmation page
    for path in ("/api/me", "/userinfo"):
        answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_token", path
    assert client.post("/revoke", data={"token": token, "client_id": "spa"}).status_code == 200
