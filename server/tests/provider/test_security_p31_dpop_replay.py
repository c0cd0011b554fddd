"""docs/SECURITY.md P31: a DPoP proof is accepted once (its jti, per key, within the iat window), also when
the same proof arrives twice at once on two instances; what is remembered is purged like the rest."""

import time
from pathlib import Path

import httpx
from dpop_support import TOKEN_URL, Holder, dpop_call, dpop_tokens, exchange
from provider_support import ISSUER, Clock, Flow, race, table_rows
from starlette.testclient import TestClient

from spalab.provider.core import dpop
from spalab.provider.purge import INTERVAL

RACERS = 32


def _proofs_remembered(client: TestClient) -> int:
    return table_rows(client.app)["dpop_proofs"]


def test_a_proof_replayed_at_the_token_endpoint_is_refused(client: TestClient, clock: Clock) -> None:
    """RFC 9449 §4.3 (jti), §11.1: one proof for two code exchanges (each fine on its own): the second is refused."""
    holder = Holder()
    proof = holder.proof("POST", TOKEN_URL, clock.now)
    first, second = Flow(client), Flow(client)
    assert exchange(first, proof).status_code == 200
    replay = exchange(second, proof)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_dpop_proof")
    # A fresh proof of the same key is fine: the code was not spent by the refused attempt.
    assert exchange(second, holder.proof("POST", TOKEN_URL, clock.now)).status_code == 200


def test_a_proof_replayed_at_the_api_is_refused(flow: Flow, client: TestClient, clock: Clock) -> None:
    """RFC 9449 §11.1: a captured request (token and proof) cannot be sent again."""
    holder = Holder()
    token = dpop_tokens(flow, holder, clock.now)["access_token"]
    proof = holder.proof("GET", ISSUER + "/api/me", clock.now, access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert client.get("/api/me", headers=headers).status_code == 200
    replay = client.get("/api/me", headers=headers)
    assert (replay.status_code, replay.json()["error"]) == (401, "invalid_dpop_proof")
    assert replay.headers["www-authenticate"].startswith("DPoP ")
    assert dpop_call(client, holder, token, clock.now).status_code == 200


def test_a_replay_within_the_window_is_refused_even_a_minute_later(
    flow: Flow, client: TestClient, clock: Clock
) -> None:
    """RFC 9449 §11.1: the jti is remembered for as long as the proof's iat is acceptable, purges included."""
    holder = Holder()
    token = dpop_tokens(flow, holder, clock.now)["access_token"]
    proof = holder.proof("GET", ISSUER + "/api/me", clock.now + dpop.IAT_WINDOW, access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert client.get("/api/me", headers=headers).status_code == 200
    clock.advance(INTERVAL + dpop.IAT_WINDOW)  # a purge is due; the proof's iat is still inside the window
    assert client.get("/jwks").status_code == 200  # runs the due purge
    assert client.get("/api/me", headers=headers).json()["error"] == "invalid_dpop_proof"


def test_the_same_jti_from_another_key_is_another_proof(client: TestClient, clock: Clock) -> None:
    """RFC 9449 §11.1: replay is judged per key, so no client can spend another's jti in advance."""
    first, second = Flow(client), Flow(client)
    assert exchange(first, Holder().proof("POST", TOKEN_URL, clock.now, jti="same")).status_code == 200
    assert exchange(second, Holder().proof("POST", TOKEN_URL, clock.now, jti="same")).status_code == 200


def test_remembered_proofs_are_purged_once_their_window_has_passed(
    flow: Flow, client: TestClient, clock: Clock, data_dir: Path
) -> None:
    """docs/SECURITY.md P28, P31: the table holds only proofs whose iat could still be accepted."""
    holder = Holder()
    tokens = dpop_tokens(flow, holder, clock.now)
    for _ in range(3):
        assert dpop_call(client, holder, tokens["access_token"], clock.now).status_code == 200
    assert _proofs_remembered(client) == 4
    clock.advance(dpop.IAT_WINDOW + INTERVAL + 1)
    assert client.get("/jwks").status_code == 200  # runs the due purge
    assert _proofs_remembered(client) == 0


def test_concurrent_requests_with_one_proof_exactly_one_succeeds(live_providers: list[str]) -> None:
    """RFC 9449 §11.1, docs/SECURITY.md P31: 32 copies of one request (POST /userinfo, token and proof), released
    together over two instances on one database: exactly one is answered, the others are replays."""
    clock = Clock(int(time.time()))  # the live instances run on the system clock
    holder = Holder()
    with httpx.Client(base_url=live_providers[0], follow_redirects=False) as browser:
        token = dpop_tokens(Flow(browser), holder, clock.now)["access_token"]  # type: ignore[arg-type]
        proof = holder.proof("POST", ISSUER + "/userinfo", clock.now, access_token=token)
        headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
        answers = race(live_providers, "/userinfo", {}, RACERS, headers)
    assert sorted(a.status_code for a in answers) == [200] + [401] * (RACERS - 1)
    assert {a.json()["error"] for a in answers if a.status_code == 401} == {"invalid_dpop_proof"}
