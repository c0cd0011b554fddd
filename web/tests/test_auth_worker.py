"""Auth(storage="worker") on CPython, against fake_browser's stand-in for the token worker: what the
page asks the worker, what it does with the answers, and the settings it refuses (docs/SECURITY.md
C12). The real worker.js runs in the browsers: e2e/test_package.py and e2e/test_lab_worker.py."""

import asyncio
import json
import sys
from typing import Any
from urllib.parse import parse_qs

import pytest
from client_support import ISSUER
from fake_browser import browser_page

WORKER_URL = "/pkg/spalab-auth/worker.js"
API = "https://api.example.com/me"
HELD = "held-by-worker"


def worker_tab(page: Any, **options: Any) -> Any:
    return page.auth(storage="worker", worker_url=WORKER_URL, **options)


def held_tokens(page: Any) -> Any:
    core, now = page.module.core, page.module.browser.now()
    return core.TokenSet(HELD, "Bearer", now, now + 3600, ["openid"], HELD)


def http(status: int, body: object) -> dict[str, Any]:
    """A worker's answer that is an HTTP response."""
    return {"status": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def reason_of(action: Any, error: type) -> str:
    with pytest.raises(error) as caught:
        action()
    return str(getattr(caught.value, "reason", ""))


def test_settings_the_worker_cannot_honour_are_refused_at_once() -> None:
    """docs/SECURITY.md C12: no DPoP key in the worker; a worker URL; api_origins are https origins."""
    with browser_page() as page:
        core = page.module.core
        assert reason_of(lambda: worker_tab(page, dpop=True), core.ConfigurationError) == "dpop_with_worker"
        assert reason_of(lambda: page.auth(storage="worker"), core.ConfigurationError) == "no_worker_url"
        for origins in (
            ["https://api.example.com/me"],
            ["http://api.example.com"],
            ["api.example.com"],
            ["https://api.example.com:443"],
        ):
            refused = reason_of(lambda allowed=origins: worker_tab(page, api_origins=allowed), core.ConfigurationError)
            assert refused == "invalid_api_origin"
        tab = worker_tab(page)

        def switch_dpop_on() -> None:
            tab.dpop = True

        assert reason_of(switch_dpop_on, core.ConfigurationError) == "dpop_with_worker"


def test_the_implicit_flow_is_refused_with_the_worker() -> None:
    """RFC 9700 §2.1.2: implicit puts the tokens in the page's URL, where the worker cannot keep them."""
    with browser_page() as page:
        tab = worker_tab(page, allow_implicit=True)
        with pytest.raises(page.module.core.ConfigurationError) as caught:
            asyncio.run(tab.sign_in(implicit="token"))
        assert caught.value.reason == "worker_needs_code_flow"


def test_where_the_worker_may_send_tokens_is_fixed_in_its_url() -> None:
    """docs/SECURITY.md C12: the token and revocation endpoints and the allow-list go in the worker's
    URL when it starts (no message can change them); by default the issuer's origin and the app's API's."""
    with browser_page() as page:
        settings = {"issuer": ISSUER, "client_id": "spalab-spa", "redirect_uri": "https://app.example.com/"}
        settings.update(storage="worker", worker_url=WORKER_URL, api=API)
        tab = page.module.Auth.from_config(settings)
        asyncio.run(tab._token_worker())
        [worker] = page.workers
        path, query = worker.url.split("?")
        assert path == WORKER_URL
        assert parse_qs(query) == {
            "token_endpoint": [ISSUER + "/token"],
            "revocation_endpoint": [ISSUER + "/revoke"],
            "client_id": ["spalab-spa"],
            "origin": [ISSUER, "https://api.example.com"],
        }


def test_an_api_call_goes_to_the_worker_without_a_token_from_the_page() -> None:
    """RFC 6750 §2.1: the worker adds the Authorization header; the page sends nothing itself."""
    with browser_page() as page:
        tab = worker_tab(page, api_origins=["https://api.example.com"])
        page.worker_reply = lambda message: http(200, {"sub": "alice"})

        async def run() -> Any:
            tab._signed_in(held_tokens(page), "code")
            return await tab.get_json(API)

        assert asyncio.run(run()) == {"sub": "alice"}
        [message] = page.worker_messages
        assert (message["type"], message["method"], message["url"], message["body"]) == ("fetch", "GET", API, None)
        assert "Authorization" not in message["headers"] and page.requests == []


def test_a_refusal_of_the_worker_is_an_oauth_client_error_with_a_stable_code() -> None:
    """A page script's URL (not on the allow-list) or a worker that never started: worker_error, explained."""
    with browser_page() as page:
        tab = worker_tab(page)
        page.worker_reply = lambda message: {"refused": "origin_not_allowed"}

        async def run() -> Any:
            tab._signed_in(held_tokens(page), "code")
            with pytest.raises(page.module.core.OAuthClientError) as caught:
                await tab.fetch("https://elsewhere.example/collect")
            return caught.value

        error = asyncio.run(run())
        assert (error.code, error.reason) == ("worker_error", "origin_not_allowed")
        assert page.module.explain(error) == sys.modules["spalab_auth.explain"]._WORKER["origin_not_allowed"]


def test_a_refresh_goes_through_the_worker_and_a_refused_one_makes_it_forget() -> None:
    """RFC 9700 §4.14.2: the worker sends the refresh token it holds; the page gets a stand-in. A refused
    refresh (invalid_grant) signs out, and the worker drops the tokens it holds."""
    with browser_page() as page:
        tab = worker_tab(page)
        rotated = {"access_token": HELD, "token_type": "Bearer", "expires_in": 600, "refresh_token": HELD}
        answers = [http(200, rotated), http(400, {"error": "invalid_grant"}), {"forgotten": True}]
        page.worker_reply = lambda message: answers.pop(0)

        async def run() -> Any:
            tab._signed_in(held_tokens(page), "code")
            fresh = await tab._refresh(tab.tokens)
            with pytest.raises(page.module.SessionEnded):
                await tab._refresh(tab.tokens)
            return fresh

        fresh = asyncio.run(run())
        assert fresh.access_token == HELD and fresh.refresh_token == HELD and fresh.expires_in(fresh.issued_at) == 600
        assert [m["type"] for m in page.worker_messages] == ["refresh", "refresh", "forget"]
        assert not tab.signed_in and page.requests == []


def test_a_refreshed_id_token_the_page_refuses_makes_the_worker_forget_what_it_brought() -> None:
    """OIDC Core §12.2, docs/SECURITY.md C12: the worker keeps a refresh's tokens before the page has
    checked the answer; when the page refuses it (here an id_token that is not a JWT), the worker
    drops them and the session ends, rather than calling the API with tokens the page refused."""
    with browser_page() as page:
        tab = worker_tab(page)
        body = {"access_token": HELD, "token_type": "Bearer", "expires_in": 600, "id_token": "not-a-jwt"}
        answers = [http(200, body), {"forgotten": True}]
        page.worker_reply = lambda message: answers.pop(0)

        async def run() -> None:
            tab._signed_in(held_tokens(page), "code")
            with pytest.raises(page.module.SessionEnded):
                await tab._refresh(tab.tokens)

        asyncio.run(run())
        assert [m["type"] for m in page.worker_messages] == ["refresh", "forget"] and not tab.signed_in


def test_sign_out_has_the_worker_revoke_both_tokens_then_forget_them() -> None:
    """RFC 7009 §2.1: refresh token first, then the access token, each confirmed; then the worker drops them."""
    with browser_page() as page:
        tab = worker_tab(page)
        page.worker_reply = lambda message: http(200, {}) if message["type"] == "revoke" else {"forgotten": True}

        async def run() -> Any:
            tab._signed_in(held_tokens(page), "code")
            return await tab.sign_out(end_session=False)

        report = asyncio.run(run())
        sent = [(m["type"], m.get("hint")) for m in page.worker_messages]
        assert sent == [("revoke", "refresh_token"), ("revoke", "access_token"), ("forget", None)]
        assert sorted(report.revoked) == ["access_token", "refresh_token"] and not report.failed


def test_a_worker_that_does_not_answer_is_unavailable_not_a_hang() -> None:
    """The worker script failed to load (a wrong worker_url, the CSP): calls fail with reason unavailable."""
    with browser_page() as page:
        tab = worker_tab(page)

        async def run() -> Any:
            tab._signed_in(held_tokens(page), "code")
            worker = await tab._token_worker()
            worker._on_error(None)
            with pytest.raises(page.module.core.OAuthClientError) as caught:
                await tab.fetch(API.replace("api.example.com", "127.0.0.1:9000"))
            return caught.value

        assert asyncio.run(run()).reason == "unavailable"
