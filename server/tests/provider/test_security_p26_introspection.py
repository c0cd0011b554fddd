"""docs/SECURITY.md P26 (RFC 7662 §2.1, §4): introspection is for confidential clients, and each learns
only about the tokens issued to it."""

import pytest
from provider_support import SECRET, Flow, confidential_tokens
from starlette.testclient import TestClient

CONFIDENTIAL = ("confidential", SECRET)


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_client_learns_about_its_own_tokens(flow: Flow, client: TestClient, kind: str) -> None:
    token = confidential_tokens(flow)[kind]
    answer = client.post("/introspect", data={"token": token}, auth=CONFIDENTIAL).json()
    assert answer["active"] is True and answer["client_id"] == "confidential"


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_client_learns_nothing_about_another_clients_tokens(flow: Flow, client: TestClient, kind: str) -> None:
    """RFC 7662 §4: the SPA's live tokens look inactive to another client: no sub, scope or expiry leaks."""
    token = flow.tokens()[kind]
    answer = client.post("/introspect", data={"token": token}, auth=CONFIDENTIAL)
    assert answer.status_code == 200
    assert answer.json() == {"active": False}


def test_public_clients_may_not_introspect(flow: Flow, client: TestClient) -> None:
    """RFC 7662 §2.1: the caller must authenticate; a public client cannot."""
    token = flow.tokens()["access_token"]
    answer = client.post("/introspect", data={"token": token, "client_id": "spa"})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
