"""docs/SECURITY.md P39: what an operator takes away in the config ends when the provider restarts with it,
for what was issued before too: an account removed ends its sessions, codes, refresh and access tokens (no
500: the id_token's claims came from the account), and a scope taken from a client is no longer issued on
its older grants. Found by an attacker's review: a removed account went on signing in and refreshing."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provider_support import SECRET, TEST_CONFIG, Clock, Flow, api, confidential_tokens, response_params
from starlette.applications import Starlette
from starlette.testclient import TestClient

from spalab.provider.app import create_provider_app
from spalab.provider.config import parse_config

CONFIDENTIAL = ("confidential", SECRET)
WITHOUT_ALICE = re.sub(r'\n\[\[users\]\]\nusername = "alice"\n[^\[]*', "\n", TEST_CONFIG)
SPA_WITHOUT_CONTACTS = TEST_CONFIG.replace(
    'client_id = "spa"\nname = "Test SPA"\n',
    'client_id = "spa"\nname = "Test SPA"\nscopes = ["openid", "profile", "email"]\n',
)


@contextmanager
def restarted(
    config_text: str, data_dir: Path, clock: Clock, database: str | None, cookies: object
) -> Iterator[TestClient]:
    """The provider started again on the same store with another config; the browser keeps its cookies."""
    app: Starlette = create_provider_app(
        parse_config(config_text, "changed config"), data_dir, clock=clock, database=database
    )
    try:
        with TestClient(app, base_url="http://127.0.0.1:9000", follow_redirects=False) as client:
            client.cookies.update(cookies)  # type: ignore[arg-type]
            yield client
    finally:
        app.state.provider.store.close()


def _refresh(client: TestClient, refresh_token: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "spa"}
    )


def test_a_removed_account_ends_its_session_codes_and_tokens(
    flow: Flow, client: TestClient, data_dir: Path, clock: Clock, database: str | None
) -> None:
    assert "alice" not in WITHOUT_ALICE and 'username = "bob"' in WITHOUT_ALICE
    tokens = flow.tokens()
    unused_code = flow.code()
    confidential = confidential_tokens(flow)
    with restarted(WITHOUT_ALICE, data_dir, clock, database, client.cookies) as after:
        # Introspection says her tokens are not active.
        for token in (confidential["refresh_token"], confidential["access_token"]):
            introspected = after.post("/introspect", data={"token": token}, auth=CONFIDENTIAL)
            assert introspected.json() == {"active": False}
        # Her access token no longer opens the API or userinfo.
        for path in ("/api/me", "/userinfo"):
            answer = api(after, tokens["access_token"], path)
            assert (answer.status_code, answer.json()["error"]) == (401, "invalid_token"), path
        # Her refresh token and the code issued to her are refused, not a 500.
        refreshed = _refresh(after, tokens["refresh_token"])
        assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant"), refreshed.text
        flow.client = after
        exchanged = flow.exchange(unused_code)
        assert (exchanged.status_code, exchanged.json()["error"]) == (400, "invalid_grant"), exchanged.text
        # Her browser's session signs nobody in: /authorize asks for a sign-in, with no code.
        answer = flow.authorize(flow.code_params())
        assert answer.status_code == 302 and answer.headers["location"].startswith("/login?"), answer.headers
        assert "code" not in response_params(answer.headers["location"])
    # Her grant was revoked, not suspended: with the account back, the refresh token stays dead.
    with restarted(TEST_CONFIG, data_dir, clock, database, client.cookies) as restored:
        refreshed = _refresh(restored, tokens["refresh_token"])
        assert (refreshed.status_code, refreshed.json()["error"]) == (400, "invalid_grant"), refreshed.text


def test_a_scope_taken_from_a_client_is_no_longer_issued_on_its_older_grants(
    flow: Flow, client: TestClient, data_dir: Path, clock: Clock, database: str | None
) -> None:
    tokens = flow.tokens()
    assert "contacts.read" in tokens["scope"].split()
    with restarted(SPA_WITHOUT_CONTACTS, data_dir, clock, database, client.cookies) as after:
        refreshed = _refresh(after, tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["scope"].split() == ["openid", "profile", "email"]
        answer = api(after, refreshed.json()["access_token"], "/api/contacts")
        assert (answer.status_code, answer.json()["error"]) == (403, "insufficient_scope")
        # Asking for it back on a refresh is refused as a widening.
        widened = after.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refreshed.json()["refresh_token"],
                "client_id": "spa",
                "scope": "openid contacts.read",
            },
        )
        assert (widened.status_code, widened.json()["error"]) == (400, "invalid_scope")
