"""Happy paths: each grant and response type, end to end over HTTP."""

import base64
import json

from joserfc import jwt
from joserfc.jwk import KeySet
from provider_support import ISSUER, REDIRECT, Clock, Flow, api, confidential_tokens, response_params

from spalab.provider.core.claims import at_hash


def _keys(client) -> KeySet:  # type: ignore[no-untyped-def]
    return KeySet.import_key_set(client.get("/jwks").json())


def test_code_flow_with_pkce_issues_tokens_that_work_at_the_api(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.1, RFC 7636: code + PKCE → access, refresh and id tokens."""
    tokens = flow.tokens()
    assert tokens["token_type"] == "Bearer"
    assert tokens["refresh_token"]
    assert tokens["expires_in"] > 0
    me = api(client, tokens["access_token"])
    assert me.status_code == 200
    assert me.json()["sub"] == "alice"
    contacts = api(client, tokens["access_token"], "/api/contacts")
    assert contacts.status_code == 200
    assert contacts.json()["contacts"]


def test_code_response_in_query_by_default_with_state_and_iss(flow: Flow) -> None:
    """RFC 6749 §4.1.2, RFC 9207 §2: code, state and iss in the query."""
    params = flow.code_params(state="st&=é ~")
    location = flow.run(params).headers["location"]
    assert location.startswith(REDIRECT + "?")
    got = response_params(location)
    assert got["state"] == "st&=é ~"
    assert got["iss"] == ISSUER
    assert "#" not in location


def test_code_response_mode_fragment(flow: Flow) -> None:
    """OAuth 2.0 Multiple Response Types §2.1: response_mode=fragment puts the code in the fragment."""
    params = flow.code_params(response_mode="fragment")
    location = flow.run(params).headers["location"]
    assert location.startswith(REDIRECT + "#")
    got = response_params(location, "fragment")
    assert got["code"] and got["iss"] == ISSUER and got["state"] == params["state"]
    assert flow.exchange(got["code"]).status_code == 200


def test_access_token_is_an_rfc9068_jwt(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 9068 §2: typ at+jwt, iss, aud, client_id, scope, exp, jti."""
    tokens = flow.tokens()
    decoded = jwt.decode(tokens["access_token"], _keys(client), algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256"
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == ISSUER + "/api"
    assert claims["client_id"] == "spa"
    assert "contacts.read" in claims["scope"].split()
    assert claims["exp"] - claims["iat"] <= 600
    assert claims["jti"]


def test_id_token_carries_nonce_and_audience(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """OIDC Core §2, §3.1.3.7: id_token signed RS256, aud = client, nonce echoed."""
    params = flow.code_params(nonce="n-123")
    code = response_params(flow.run(params).headers["location"])["code"]
    tokens = flow.exchange(code).json()
    decoded = jwt.decode(tokens["id_token"], _keys(client), algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    assert decoded.claims["aud"] == "spa"
    assert decoded.claims["nonce"] == "n-123"
    assert decoded.claims["email"] == "alice@example.test"


def test_refresh_grant_rotates_and_new_token_works(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §6, RFC 9700 §4.14.2: refresh yields a new refresh token."""
    tokens = flow.tokens()
    refreshed = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
    )
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["refresh_token"] != tokens["refresh_token"]
    assert api(client, body["access_token"]).status_code == 200


def test_implicit_token_response_in_fragment_without_refresh_token(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §4.2.2: implicit returns the access token in the fragment, no refresh token."""
    params = flow.code_params(response_type="token", code_challenge=None, code_challenge_method=None, nonce=None)
    location = flow.run(params).headers["location"]
    assert "?" not in location
    got = response_params(location, "fragment")
    assert got["token_type"] == "Bearer" and got["iss"] == ISSUER and got["state"] == params["state"]
    assert "refresh_token" not in got and "code" not in got
    assert api(client, got["access_token"]).status_code == 200


def test_implicit_id_token_token_has_nonce_and_at_hash(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """OIDC Core §3.2.2.10: id_token with nonce and at_hash for the access token."""
    params = flow.code_params(response_type="id_token token", code_challenge=None, code_challenge_method=None)
    got = response_params(flow.run(params).headers["location"], "fragment")
    claims = jwt.decode(got["id_token"], _keys(client), algorithms=["RS256"]).claims
    assert claims["nonce"] == params["nonce"]
    assert claims["at_hash"] == at_hash(got["access_token"])
    assert claims["aud"] == "spa"


def test_confidential_client_with_basic_and_post_authentication(client) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §2.3.1: client_secret_basic and client_secret_post both work."""
    for method in ("basic", "post"):
        flow = Flow(client)
        code = flow.code(
            client_id="confidential",
            redirect_uri="http://localhost:8000/confidential/callback",
            code_challenge=None,
            code_challenge_method=None,
            nonce=None,
        )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://localhost:8000/confidential/callback",
        }
        if method == "basic":
            response = client.post("/token", data=form, auth=("confidential", "s3cret-for-tests"))
        else:
            response = client.post(
                "/token", data={**form, "client_id": "confidential", "client_secret": "s3cret-for-tests"}
            )
        assert response.status_code == 200, (method, response.text)


def test_userinfo_releases_claims_by_scope(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """OIDC Core §5.3, §5.4: profile and email claims follow the scopes."""
    tokens = flow.tokens()
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.json() == {"sub": "alice", "name": "Alice Liddell", "email": "alice@example.test"}


def test_remembered_consent_skips_the_consent_page(flow: Flow) -> None:
    """OIDC Core §3.1.2.4: consent already given need not be asked again."""
    flow.code()
    again = flow.authorize(flow.code_params())
    assert again.status_code == 302
    assert "code=" in again.headers["location"]
    forced = flow.authorize(flow.code_params(prompt="consent"))
    assert forced.status_code == 200 and "Allow access?" in forced.text


def test_prompt_none_without_session_answers_login_required(flow: Flow) -> None:
    """OIDC Core §3.1.2.6: prompt=none never shows a page."""
    response = flow.authorize(flow.code_params(prompt="none"))
    assert response.status_code == 302
    assert response_params(response.headers["location"])["error"] == "login_required"


def test_prompt_login_signs_in_again_once(flow: Flow) -> None:
    """OIDC Core §3.1.2.1: prompt=login asks to sign in even with a session, and only once."""
    flow.code()
    response = flow.authorize(flow.code_params(prompt="login"))
    assert response.status_code == 302 and response.headers["location"].startswith("/login?")
    signed_in = flow.sign_in(next_url=response_params(response.headers["location"])["next"])
    issued = flow.client.get(signed_in.headers["location"])
    assert issued.status_code == 302 and "code" in response_params(issued.headers["location"])


def _auth_time(id_token: str) -> int:
    payload = id_token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["auth_time"])


def test_max_age_asks_an_older_sign_in_to_sign_in_again(flow: Flow, clock: Clock) -> None:
    """OIDC Core §3.1.2.1: with max_age, a sign-in older than that many seconds signs in again (once: the
    request it resumes no longer carries max_age), and the id_token names the new sign-in's time, which the
    client checks (spalab-auth asks prompt=login as max_age=0 too)."""
    first = flow.tokens()
    signed_in_at = _auth_time(first["id_token"])
    clock.advance(120)
    assert flow.authorize(flow.code_params(max_age="600")).status_code == 302  # young enough: a code at once
    response = flow.authorize(flow.code_params(max_age="60"))
    assert response.status_code == 302 and response.headers["location"].startswith("/login?")
    resume = response_params(response.headers["location"])["next"]
    assert "max_age" not in resume
    signed_in = flow.sign_in(next_url=resume)
    issued = flow.client.get(signed_in.headers["location"])
    code = response_params(issued.headers["location"])["code"]
    tokens = flow.exchange(code).json()
    assert _auth_time(tokens["id_token"]) == signed_in_at + 120
    # Without a page to show, an older sign-in is login_required.
    clock.advance(120)
    silent = flow.authorize(flow.code_params(max_age="60", prompt="none"))
    assert response_params(silent.headers["location"])["error"] == "login_required"


def test_a_max_age_that_is_not_a_number_of_seconds_is_invalid_request(flow: Flow) -> None:
    """OIDC Core §3.1.2.1: max_age is a non-negative number of seconds."""
    flow.code()
    for bad in ("-1", "1e3", "60s", " 60", "12345678901"):  # "" is no max_age (RFC 6749 §3.1)
        response = flow.authorize(flow.code_params(max_age=bad))
        assert response_params(response.headers["location"])["error"] == "invalid_request", bad


def test_revocation_of_refresh_token_ends_the_session(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 7009 §2.1: revoking the refresh token revokes its access tokens too."""
    tokens = flow.tokens()
    revoked = client.post("/revoke", data={"token": tokens["refresh_token"], "client_id": "spa"})
    assert revoked.status_code == 200
    assert api(client, tokens["access_token"]).status_code == 401
    refresh = client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": "spa"}
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_revocation_of_access_token(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 7009 §2.1: a revoked access token no longer works at the API."""
    tokens = flow.tokens()
    assert (
        client.post(
            "/revoke", data={"token": tokens["access_token"], "client_id": "spa", "token_type_hint": "access_token"}
        ).status_code
        == 200
    )
    assert api(client, tokens["access_token"]).status_code == 401


def test_introspection_for_confidential_client(flow: Flow, client) -> None:  # type: ignore[no-untyped-def]
    """RFC 7662 §2.2: active tokens with their claims; unknown tokens inactive."""
    tokens = confidential_tokens(flow)
    auth = ("confidential", "s3cret-for-tests")
    active = client.post("/introspect", data={"token": tokens["access_token"]}, auth=auth).json()
    assert active["active"] is True and active["client_id"] == "confidential" and active["sub"] == "alice"
    assert client.post("/introspect", data={"token": "nope"}, auth=auth).json() == {"active": False}
    public = client.post("/introspect", data={"token": tokens["access_token"], "client_id": "spa"})
    assert public.status_code == 401


def test_metadata_has_rfc8414_required_fields(client) -> None:  # type: ignore[no-untyped-def]
    """RFC 8414 §2, §3.3: issuer matches, required fields present, both discovery URLs agree."""
    oidc = client.get("/.well-known/openid-configuration").json()
    oauth = client.get("/.well-known/oauth-authorization-server").json()
    assert oidc == oauth
    assert oidc["issuer"] == ISSUER
    for field in (
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ):
        assert oidc[field], field
    for field in (
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
        "userinfo_endpoint",
    ):
        assert oidc[field].startswith(ISSUER + "/")
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert oidc["authorization_response_iss_parameter_supported"] is True
    assert "code" in oidc["response_types_supported"]


def test_response_type_values_in_any_order(flow: Flow) -> None:
    """RFC 6749 §3.1.1: "token id_token" means the same as "id_token token"."""
    params = flow.code_params(response_type="token id_token", code_challenge=None, code_challenge_method=None)
    got = response_params(flow.run(params).headers["location"], "fragment")
    assert got["id_token"] and got["access_token"]


def test_prompt_consent_survives_the_sign_in_step(flow: Flow) -> None:
    """OIDC Core §3.1.2.1: prompt=consent asks again even when consent was remembered."""
    flow.code()
    flow.client.cookies.clear()
    response = flow.authorize(flow.code_params(prompt="consent"))
    next_url = response_params(response.headers["location"])["next"]
    signed_in = flow.sign_in(next_url=next_url)
    page = flow.client.get(signed_in.headers["location"])
    assert page.status_code == 200 and "Allow access?" in page.text
