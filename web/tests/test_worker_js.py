"""The token worker itself (web/client/spalab_auth/worker.js, docs/SECURITY.md C12, C16) under Node,
through web/tests/worker/run.mjs: what it sends for each message, what it answers the page, and what
it refuses. Only fetch is scripted (the network); the browsers run it for real in e2e/test_lab_worker.py."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from client_support import CLIENT_ID

from spalab_auth.core.jwt import compute_at_hash

RUNNER = Path(__file__).resolve().parent / "worker" / "run.mjs"
ISSUER = "https://idp.example.com"
API = "https://api.example.com"
SETTINGS = [
    ("token_endpoint", ISSUER + "/token"),
    ("revocation_endpoint", ISSUER + "/revoke"),
    ("client_id", CLIENT_ID),
    ("origin", ISSUER),
    ("origin", API),
]
TOKENS = {"access_token": "at-secret-1", "token_type": "Bearer", "expires_in": 300, "refresh_token": "rt-secret-1"}
EXCHANGE = {"type": "exchange", "code": "c-1", "code_verifier": "v" * 43, "redirect_uri": "https://app.example.com/"}

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node runs the worker")


def run(messages: list[Any], answers: list[dict[str, Any]], settings: list[tuple[str, str]] = SETTINGS) -> Any:
    """(requests the worker sent, its answers to the page) for these messages, each a dict or raw text."""
    texts = [m if isinstance(m, str) else json.dumps({"id": n, **m}) for n, m in enumerate(messages, 1)]
    scenario = {"url": "worker.js?" + urlencode(settings), "answers": answers, "messages": texts}
    done = subprocess.run(["node", str(RUNNER)], input=json.dumps(scenario), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    return result["sent"], result["posted"]


def ok(body: object) -> dict[str, Any]:
    return {"status": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def test_the_exchange_keeps_the_tokens_and_answers_stand_ins_with_the_at_hash() -> None:
    """RFC 7636 §4.5: code and verifier to the token endpoint; the page gets no token, only its at_hash."""
    sent, posted = run([EXCHANGE], [ok({**TOKENS, "id_token": "x.y.z", "scope": "openid"})])
    [request] = sent
    assert request["url"] == ISSUER + "/token" and request["init"]["redirect"] == "error"
    assert parse_qs(request["init"]["body"]) == {
        "grant_type": ["authorization_code"],
        "code": ["c-1"],
        "redirect_uri": ["https://app.example.com/"],
        "client_id": [CLIENT_ID],
        "code_verifier": ["v" * 43],
    }
    [answer] = posted
    body = json.loads(answer["body"])
    assert (body["access_token"], body["refresh_token"], body["id_token"]) == (
        "held-by-worker",
        "held-by-worker",
        "x.y.z",
    )
    assert answer["at_hash"] == compute_at_hash("at-secret-1", "RS256")
    assert "secret" not in json.dumps(posted)


def test_api_calls_carry_the_token_to_allowed_origins_only() -> None:
    """docs/SECURITY.md C16: the allow-list, no page-set Authorization, no redirect followed."""
    call = {"type": "fetch", "method": "GET", "headers": {"Accept": "application/json"}, "body": None}
    messages = [
        EXCHANGE,
        {**call, "url": API + "/me"},
        {**call, "url": "https://attacker.example/collect"},
        {**call, "url": "https://api.example.com.attacker.example/me"},
        {**call, "url": API + "/me", "headers": {"Authorization": "Bearer mine"}},
        {**call, "url": "http://api.example.com/me"},
    ]
    sent, posted = run(messages, [ok(TOKENS), ok({"sub": "alice"})])
    assert [r["url"] for r in sent] == [ISSUER + "/token", API + "/me"]
    assert sent[1]["init"]["headers"]["Authorization"] == "Bearer at-secret-1"
    assert sent[1]["init"]["redirect"] == "error" and sent[1]["init"]["credentials"] == "omit"
    assert posted[1]["status"] == 200 and json.loads(posted[1]["body"]) == {"sub": "alice"}
    refusals = [a.get("refused") for a in posted[2:]]
    assert refusals == ["origin_not_allowed", "origin_not_allowed", "bad_header", "origin_not_allowed"]


def test_refresh_rotates_and_revocation_sends_each_token_with_its_hint() -> None:
    """RFC 9700 §4.14.2, RFC 7009 §2.1: the stored refresh token, then the rotated one's revocation."""
    rotated = {**TOKENS, "access_token": "at-secret-2", "refresh_token": "rt-secret-2"}
    messages = [EXCHANGE, {"type": "refresh"}, {"type": "revoke", "hint": "refresh_token"}, {"type": "forget"}]
    messages.append({"type": "revoke", "hint": "access_token"})
    sent, posted = run(messages, [ok(TOKENS), ok(rotated), ok({})])
    assert parse_qs(sent[1]["init"]["body"])["refresh_token"] == ["rt-secret-1"]
    assert posted[1]["at_hash"] == compute_at_hash("at-secret-2", "RS256")
    assert sent[2]["url"] == ISSUER + "/revoke"
    assert parse_qs(sent[2]["init"]["body"]) == {
        "token": ["rt-secret-2"],
        "token_type_hint": ["refresh_token"],
        "client_id": [CLIENT_ID],
    }
    assert posted[3] == {"id": 4, "forgotten": True} and posted[4]["refused"] == "not_signed_in"
    assert "secret" not in json.dumps(posted)


def test_messages_of_another_shape_are_dropped_or_refused() -> None:
    """Validated on arrival: no JSON or no id → no answer; an unknown type or missing field → refused."""
    messages = ["not json", json.dumps({"type": "refresh"}), {"type": "tokens"}, {"type": "exchange", "code": 1}]
    sent, posted = run(messages, [])
    assert sent == [] and [a["refused"] for a in posted] == ["bad_message", "bad_message"]


def test_settings_that_are_not_origins_stop_the_worker() -> None:
    """An allow-list entry with a path, or a token endpoint over plain http, refuses every message."""
    for settings in (SETTINGS + [("origin", API + "/me")], [("token_endpoint", "http://idp.example.com/token")]):
        sent, posted = run([EXCHANGE], [ok(TOKENS)], settings)
        assert sent == [] and posted[0]["refused"] == "bad_settings"
