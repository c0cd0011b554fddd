"""docs/SECURITY.md P21: neither the log lines nor the demo request log contain a full code, token,
password or client secret."""

import base64
import json
import logging

import pytest
from dpop_support import Holder, dpop_tokens
from provider_support import (
    CONFIDENTIAL_REDIRECT,
    ISSUER,
    REDIRECT,
    SECRET,
    SPA,
    Clock,
    Flow,
    api,
    hidden,
    response_params,
)
from starlette.testclient import TestClient

from spalab.requestlog import describe_params, param_names

WRONG_PASSWORD = "hunter2-not-right"
# Shorter windows than this may occur by chance; the log shows at most 6 characters of a value.
WINDOW = 12


def _run_everything(client: TestClient) -> list[str]:
    """Every kind of request that carries a secret; returns the secrets that travelled."""
    secrets: list[str] = ["wonderland", WRONG_PASSWORD, SECRET]
    flow = Flow(client)
    secrets.append(flow.verifier)
    page = client.get("/login", params={"next": "/"})
    client.post(
        "/login",
        data={
            "username": "alice",
            "password": WRONG_PASSWORD,
            "next": "/",
            "csrf_token": hidden(page.text, "csrf_token"),
        },
    )
    code = flow.code()
    # A browser may send the SPA's callback URL, code and all, as the Referer.
    tokens = flow.client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "spa",
            "code_verifier": flow.verifier,
        },
        headers={"Referer": f"{REDIRECT}?code={code}&state=s&iss=x", "Origin": SPA},
    ).json()
    secrets += [code, tokens["access_token"], tokens["refresh_token"], tokens["id_token"]]
    refreshed = client.post(
        "/token", data={"grant_type": "refresh_token", "client_id": "spa", "refresh_token": tokens["refresh_token"]}
    ).json()
    secrets += [refreshed["access_token"], refreshed["refresh_token"], refreshed["id_token"]]
    api(client, refreshed["access_token"])
    api(client, refreshed["access_token"], "/userinfo")
    client.get("/api/me", params={"access_token": refreshed["access_token"]})  # refused, but logged
    client.post("/introspect", data={"token": refreshed["access_token"]}, auth=("confidential", SECRET))
    client.post(
        "/introspect", data={"token": refreshed["refresh_token"], "client_id": "confidential", "client_secret": SECRET}
    )
    client.post("/revoke", data={"token": refreshed["refresh_token"], "client_id": "spa"})
    # Implicit: the token is in the fragment, which no server ever sees, but its id_token is kept too.
    implicit = flow.run(
        flow.code_params(response_type="id_token token", code_challenge=None, code_challenge_method=None)
    )
    fragment = response_params(implicit.headers["location"], "fragment")
    secrets += [fragment["access_token"], fragment["id_token"]]
    # A confidential client's code, exchanged with the secret in the body.
    confidential = Flow(client)
    confidential_code = confidential.code(
        client_id="confidential", redirect_uri=CONFIDENTIAL_REDIRECT, code_challenge=None, code_challenge_method=None
    )
    exchanged = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": confidential_code,
            "redirect_uri": CONFIDENTIAL_REDIRECT,
            "client_id": "confidential",
            "client_secret": SECRET,
        },
    ).json()
    secrets += [confidential_code, exchanged["access_token"], exchanged["refresh_token"]]
    return secrets


def _leaks(text: str, secrets: list[str]) -> list[str]:
    found = []
    for secret in secrets:
        windows = (
            [secret] if len(secret) <= WINDOW else [secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)]
        )
        if any(window in text for window in windows):
            found.append(secret[:8] + "…")
    return found


def test_log_lines_contain_no_secrets(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    """docs/SECURITY.md P21, STYLE.md §9: one line per request with parameter names, never values."""
    caplog.set_level(logging.DEBUG)
    secrets = _run_everything(client)
    # httpx logs the test client's own request URLs (one deliberately carries ?access_token=);
    # that is the client side of the test, not what the provider writes.
    server_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.name == "spalab.access" and "/token" in r.getMessage() for r in server_records)
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in server_records)
    assert _leaks(text, secrets) == []


def test_request_log_contains_no_secrets(client: TestClient) -> None:
    """docs/SECURITY.md P21: the demo timeline shows codes and tokens truncated, passwords and secrets never."""
    secrets = _run_everything(client)
    entries = client.get("/_spalab/requests").json()["entries"]
    assert {"/authorize", "/login", "/consent", "/token", "/revoke", "/introspect", "/api/me"} <= {
        e["path"] for e in entries
    }
    assert _leaks(json.dumps(entries, ensure_ascii=False), secrets) == []


def test_request_log_still_tells_the_story(client: TestClient) -> None:
    """docs/SECURITY.md P21, STYLE.md §9: names are recorded and values truncated, not dropped."""
    _run_everything(client)
    entries = client.get("/_spalab/requests").json()["entries"]
    token_requests = [e for e in entries if e["path"] == "/token" and e["method"] == "POST"]
    names = {p["name"] for e in token_requests for p in e["form"]}
    assert {"grant_type", "code", "code_verifier", "refresh_token", "client_secret"} <= names
    shown = {p["name"]: p["value"] for e in token_requests for p in e["form"]}
    assert shown["grant_type"] in ("authorization_code", "refresh_token")
    assert shown["client_secret"] == "(hidden)"
    assert 0 < len(shown["code"]) <= 8
    assert any(e["referer"] and "code=" in e["referer"] for e in token_requests)
    assert all(e["authorization"] in (None, "Basic", "Bearer") and e["dpop"] is False for e in entries)


def test_the_request_log_tells_its_newest_entry_so_a_reader_can_ask_only_for_what_follows(client) -> None:  # type: ignore[no-untyped-def]
    """The SPA's timeline marks where the log stands before a sign-in, then reads only newer entries."""
    client.get("/.well-known/openid-configuration")
    mark = client.get("/_spalab/requests", params={"since": "9007199254740991"}).json()
    assert mark["entries"] == [] and mark["last_seq"] >= 1
    client.get("/jwks")
    newer = client.get("/_spalab/requests", params={"since": str(mark["last_seq"])}).json()
    assert [e["path"] for e in newer["entries"]] == ["/jwks"]


def test_a_malformed_authorization_header_is_not_kept_whole(flow: Flow, client: TestClient) -> None:
    """docs/SECURITY.md P21: only the scheme of an Authorization header is logged; a header that does not
    start with a scheme and a space (a tab, or a bare credential) keeps none of its value."""
    access_token = flow.tokens()["access_token"]
    basic = base64.b64encode(f"confidential:{SECRET}".encode()).decode()
    for header in (f"Bearer\t{access_token}", access_token, f"Basic\t{basic}", f"Bearer {access_token}"):
        client.get("/api/me", headers={"Authorization": header})
    entries = client.get("/_spalab/requests").json()["entries"]
    logged = [e["authorization"] for e in entries if e["path"] == "/api/me"]
    assert logged[-4:] == ["(malformed)", "(malformed)", "(malformed)", "Bearer"]
    assert _leaks(json.dumps(entries), [access_token, basic, SECRET]) == []


def test_a_dpop_request_is_logged_by_its_scheme_and_a_flag_only(flow: Flow, client: TestClient, clock: Clock) -> None:
    """docs/SECURITY.md P21, P35: the log says a DPoP proof came (for the demo's timeline), never the proof or
    the token."""
    holder = Holder()
    tokens = dpop_tokens(flow, holder, clock.now)
    proof = holder.proof("GET", ISSUER + "/api/me", clock.now, access_token=tokens["access_token"])
    client.get("/api/me", headers={"Authorization": f"DPoP {tokens['access_token']}", "DPoP": proof})
    entries = client.get("/_spalab/requests").json()["entries"]
    api_entry = next(e for e in entries if e["path"] == "/api/me")
    assert (api_entry["authorization"], api_entry["dpop"]) == ("DPoP", True)
    assert [e["dpop"] for e in entries if e["path"] == "/token"][-1] is True
    assert _leaks(json.dumps(entries), [proof, tokens["access_token"], tokens["refresh_token"]]) == []


def test_the_request_log_names_the_cookies_a_request_carried_never_their_values(client: TestClient) -> None:
    """docs/SECURITY.md P21: lab E16 asks whether a framed /authorize carried the session cookie; the name
    answers that, and the session id itself appears nowhere in the log."""
    flow = Flow(client)
    assert flow.sign_in().status_code == 303
    session = next(value for name, value in client.cookies.items() if name.startswith("spalab_session_"))
    flow.authorize(flow.code_params(prompt="none"))
    entries = client.get("/_spalab/requests").json()["entries"]
    authorize = [e for e in entries if e["path"] == "/authorize"][-1]
    assert any(name.startswith("spalab_session_") for name in authorize["cookies"])
    assert session not in json.dumps(entries) and session[:WINDOW] not in json.dumps(entries)


@pytest.mark.parametrize(
    "raw",
    ["", "a=1&b=2", "a&&b=", "code=x%3Dy&state=%E2%9C%93", "na+me=v&%ZZ=1", "a=1;b=2", "&=v&x==y", "%C3%A9=1&%FF=2"],
)
def test_the_log_line_names_the_same_parameters_as_the_timeline(raw: str) -> None:
    """The access log names parameters without decoding values (requestlog.param_names); the names are the
    ones the demo's timeline lists (describe_params), however the query is written."""
    assert param_names(raw) == [item["name"] for item in describe_params(raw)]


def test_the_access_log_names_a_requests_query_and_form_parameters(
    flow: Flow, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider without the demo's request log still writes its line: method, path, query and form names."""
    caplog.set_level(logging.INFO, logger="spalab.access")
    flow.exchange(flow.code())
    lines = [r.getMessage() for r in caplog.records if r.name == "spalab.access"]
    assert any(line.startswith("provider GET /authorize query=[") and "code_challenge" in line for line in lines)
    token = [line for line in lines if line.startswith("provider POST /token ")]
    assert token == ["provider POST /token query=[] form=[grant_type,code,redirect_uri,client_id,code_verifier]"]
