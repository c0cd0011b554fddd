"""Health and readiness endpoints for a load balancer (issue 14): liveness answers while the process
does; readiness says whether the store answers, and says no (503) when it does not."""

from starlette.testclient import TestClient


def test_liveness_and_readiness_answer_json_never_cached(client: TestClient) -> None:
    live, ready = client.get("/health/live"), client.get("/health/ready")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert live.headers["cache-control"] == ready.headers["cache-control"] == "no-store"


def test_a_store_that_does_not_answer_makes_the_instance_unready_not_dead(client: TestClient) -> None:
    client.app.state.provider.store.close()  # type: ignore[attr-defined]
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    assert "Traceback" not in ready.text
    assert client.get("/health/live").status_code == 200  # restart is not the cure: the database is


def test_health_endpoints_keep_the_host_check(client: TestClient) -> None:
    """docs/SECURITY.md P24: a probe names a host the provider serves (allowed_hosts lists extra ones)."""
    refused = client.get("/health/live", headers={"host": "10.0.0.7:8000"})
    assert refused.status_code == 421 and refused.json()["error"] == "invalid_request"


def test_other_methods_get_a_json_405(client: TestClient) -> None:
    answer = client.post("/health/ready")
    assert answer.status_code == 405 and answer.json()["error"] == "invalid_request"
