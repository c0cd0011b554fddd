"""The package's shell (spalab_auth.auth) on CPython, against fake_browser's stand-in for the
browser: the races between tabs, refreshes and sign-out that a browser test cannot time."""

import asyncio
import importlib
import json
from typing import Any

import pytest
from client_support import metadata_document
from fake_browser import browser_page, token_answer


def test_a_tab_that_signs_out_does_not_take_the_refresh_another_tab_finishes_meanwhile() -> None:
    """docs/SECURITY.md C10: sign-out in one tab is final there, even with a shared refresh in flight."""
    with browser_page() as page:
        signing_out, refresher = page.auth(refresher=False), page.auth()
        page.answer = lambda request: token_answer(1)

        async def run() -> None:
            signing_out._signed_in(page.tokens(0), "code")
            refresher._signed_in(page.tokens(0), "code")
            refreshing = asyncio.create_task(refresher._refresh(refresher.tokens))
            await asyncio.sleep(0)  # the refresh request is on its way
            await signing_out.sign_out(end_session=False)
            await refreshing  # rotated, and handed to the other tabs before they heard of the sign-out
            page.deliver()

        asyncio.run(run())
        assert not signing_out.signed_in


def test_a_refused_refresh_of_tokens_dropped_meanwhile_leaves_the_new_session_alone() -> None:
    """A refresh sent before a sign-out (the old refresh token is then revoked) comes back
    invalid_grant after the visitor signed in again: the new session and the other tabs stay."""
    with browser_page() as page:
        tab, other = page.auth(), page.auth(refresher=False)
        core = page.module.core
        page.answer = lambda request: core.HttpResponse(400, {}, '{"error": "invalid_grant"}')

        async def run() -> None:
            tab._signed_in(page.tokens(0), "code")
            other._signed_in(page.tokens(9), "code")
            refreshing = asyncio.create_task(tab._refresh(tab.tokens))
            await asyncio.sleep(0)
            tab._signed_out("user")
            tab._signed_in(page.tokens(1), "code")  # signed in again while the refresh was out
            try:
                await refreshing
            except core.OAuthClientError:
                pass
            page.deliver()

        asyncio.run(run())
        assert tab.tokens is not None and tab.tokens.access_token == "at1"
        assert other.signed_in


def test_concurrent_refreshes_in_a_tab_that_does_not_refresh_share_the_one_answer() -> None:
    """docs/SECURITY.md C10: two API calls at once in a tab that waits for the refreshing tab
    both get the rotated tokens; neither waits out the timeout and fails."""
    with browser_page() as page:
        page.module.auth.WAIT_FOR_REFRESHER_SECONDS = 1.0
        refresher, waiting = page.auth(), page.auth(refresher=False)
        page.answer = lambda request: token_answer(1)

        async def deliver_forever() -> None:
            while True:
                page.deliver()
                await asyncio.sleep(0.001)

        async def run() -> "list[Any]":
            refresher._signed_in(page.tokens(0), "code")
            waiting._signed_in(page.tokens(0), "code")
            postman = asyncio.create_task(deliver_forever())
            results = list(await asyncio.gather(waiting.refresh(), waiting.refresh(), return_exceptions=True))
            postman.cancel()
            return results

        results = asyncio.run(run())
        assert [getattr(result, "access_token", result) for result in results] == ["at1", "at1"]
        assert len(page.requests) == 1


def test_the_refresh_timer_wakes_at_least_hourly_and_refreshes_only_when_due() -> None:
    """A token that lives for weeks: JS setTimeout fires at once past 2**31 ms (24.8 days) and
    MicroPython's asyncio raises OverflowError past 2**29 ms (6.2 days), so the timer must
    never ask for such a sleep; waking early must not refresh."""
    with browser_page() as page:
        tab = page.auth()
        slept = []  # type: list[float]

        class Clock:
            def __getattr__(self, name: str) -> Any:
                return getattr(asyncio, name)

            async def sleep(self, seconds: float) -> None:
                slept.append(seconds)
                if len(slept) == 3:
                    tab._generation += 1  # the session ends: the timer stops

        async def run() -> None:
            tab._tokens = page.tokens(0, lifetime=30 * 86400)
            page.module.auth.asyncio = Clock()
            try:
                await tab._refresh_timer(tab._generation)
            finally:
                page.module.auth.asyncio = asyncio

        asyncio.run(run())
        assert slept and max(slept) <= 3600
        assert page.requests == []


def test_only_a_response_to_this_tabs_own_sign_in_is_taken_from_the_address_bar() -> None:
    """docs/SECURITY.md C15: an app's own ?state=…&code=… (or a crafted link) stays untouched and
    start() does not fail on it; a response whose state names a pending transaction is taken."""
    with browser_page("https://app.example.com/?state=CA&code=42") as page:
        browser = page.module.browser
        browser._captured.clear()
        browser.capture_callback()
        assert page.location.href.endswith("/?state=CA&code=42")
        tab = page.auth(storage="memory")
        assert asyncio.run(tab.start()) is None

        page.storage.setItem("spalab_auth:spalab-spa:tx:mine", "{}")
        page.location.go("/?code=c&state=mine&iss=x")
        browser.capture_callback()
        assert page.location.href == "https://app.example.com/"
        assert browser.take_callback_url() == "https://app.example.com/?code=c&state=mine&iss=x"


def test_a_sign_out_abandoned_long_ago_does_not_claim_the_apps_own_state() -> None:
    """docs/SECURITY.md C13: the pending logout state expires; an app's ?state= later is its own."""
    with browser_page("https://app.example.com/?state=app") as page:
        tab = page.auth(storage="memory")
        old = page.module.browser.now() - 2 * page.module.auth.LOGOUT_WAIT_SECONDS
        page.storage.setItem("spalab_auth:spalab-spa:logout", '{"state": "sent", "at": %f}' % old)
        assert tab._logout_returned() is False
        assert "spalab_auth:spalab-spa:logout" not in page.storage.items
        assert page.location.href.endswith("?state=app")


def test_fetch_never_sends_the_token_over_plain_http() -> None:
    """RFC 6750 §5.3: a bearer token goes to https (or loopback) only."""
    with browser_page() as page:
        tab = page.auth(storage="memory")
        core = page.module.core

        async def run() -> Any:
            tab._signed_in(page.tokens(0), "code")
            try:
                await tab.fetch("http://api.example.com/me")
            except core.ConfigurationError as error:
                return error.reason
            return None

        assert asyncio.run(run()) == "insecure_url"
        assert page.requests == []


def test_a_new_sign_in_in_one_tab_replaces_the_others_session() -> None:
    """docs/SECURITY.md C10: the app's tabs share one session, so the one refreshing tab keeps
    every tab's tokens fresh; a sign-in elsewhere is adopted, not kept beside the old one."""
    with browser_page() as page:
        refresher, signing_in = page.auth(), page.auth(refresher=False)

        async def run() -> None:
            refresher._signed_in(page.tokens(0), "code")
            signing_in._signed_in(page.tokens(5), "code", {"sub": "alice"})
            signing_in._share(signin=True)
            page.deliver()

        asyncio.run(run())
        assert refresher.tokens.refresh_token == "rt5"
        assert refresher.user.sub == "alice"


def test_abandoned_transactions_go_when_the_next_sign_in_starts() -> None:
    """docs/SECURITY.md C3: the verifier of a sign-in never finished does not stay in storage."""
    with browser_page() as page:
        tab = page.auth(storage="memory")
        module, now = page.module, page.module.browser.now()
        client = module.core.ClientConfig(
            module.core.ProviderMetadata(metadata_document()).issuer, "c", "https://app.example.com/"
        )
        fresh = module.core.new_transaction(client, "code", "query", lambda n: bytes(n), now)
        stale = module.core.new_transaction(client, "code", "query", lambda n: bytes([1] * n), now - 3600)
        page.storage.setItem("spalab_auth:spalab-spa:tx:fresh", fresh.to_json())
        page.storage.setItem("spalab_auth:spalab-spa:tx:stale", stale.to_json())
        page.storage.setItem("spalab_auth:spalab-spa:silent:stale", "1")
        page.storage.setItem("spalab_auth:spalab-spa:tx:broken", "{")
        tab._forget_abandoned_transactions()
        assert sorted(page.storage.items) == ["spalab_auth:spalab-spa:tx:fresh"]


def test_keys_asked_for_while_their_fetch_is_under_way_are_fetched_once() -> None:
    """OIDC Core §10.1.1: the ID token's keys come from the provider's jwks_uri. The exchange starts
    that fetch as its token request leaves; whoever asks meanwhile waits for it, and after a failed
    fetch the next caller fetches again (a prefetch that failed loses nothing)."""
    with browser_page() as page:
        provider_module = importlib.reload(page.module.provider)  # the real keys(), not the fake's
        document, jwks = metadata_document(), {"keys": [{"kty": "EC", "kid": "k1"}]}
        failing = [True]

        def answer(request: Any) -> Any:
            if request.url == document["jwks_uri"] and failing[0]:
                failing[0] = False
                raise page.module.browser.NetworkError(request.url)
            body = jwks if request.url == document["jwks_uri"] else document
            return page.module.core.HttpResponse(200, {"content-type": "application/json"}, json.dumps(body))

        page.answer = answer

        async def run() -> list[Any]:
            provider = provider_module.Provider(document["issuer"])
            await provider.discover()
            provider.prefetch_keys()  # its fetch fails: nothing is raised, nothing is kept
            await asyncio.sleep(0.05)
            assert provider.jwks is None
            provider.prefetch_keys()
            return list(await asyncio.gather(provider.keys(), provider.keys()))

        assert asyncio.run(run()) == [jwks, jwks]
        assert [request.url for request in page.requests].count(document["jwks_uri"]) == 2


def test_a_popup_sign_in_on_a_page_without_popup_js_says_what_is_missing() -> None:
    """Popup sign-in's window plumbing is the package's popup.js (it must open the window inside the
    click): a page that did not load it gets an error that says so, before any window opens or any
    sign-in state is written; the page can still sign in with a redirect."""
    with browser_page() as page:
        auth = page.auth(popup_redirect_uri=page.location.href + "popup-callback.html")
        with pytest.raises(page.module.core.ConfigurationError) as caught:
            asyncio.run(auth.sign_in(popup=True))
        assert caught.value.reason == "no_popup_script"
        assert "popup.js" in page.module.explain(caught.value)
        assert page.storage.items == {}
        with pytest.raises(AssertionError, match="the page left for " + metadata_document()["authorization_endpoint"]):
            asyncio.run(auth.sign_in())  # the redirect (fake_browser stops a page that navigates away)


def test_a_sign_in_that_asks_for_the_password_again_says_so_and_keeps_it_to_check() -> None:
    """OIDC Core §3.1.2.1: sign_in(prompt="login") sends max_age=0 beside the prompt (a conformant provider
    must then name its sign-in's time, auth_time, in the id_token) and keeps it in the transaction, which the
    callback checks that time against; sign_in(max_age=N) likewise. A max_age that is not a number of seconds
    is refused before anything is stored."""
    from spalab_auth.core.encoding import parse_query
    from spalab_auth.core.urls import split_url

    with browser_page() as page:
        auth = page.auth(storage="memory")
        for kwargs, expected in (({"prompt": "login"}, "0"), ({"max_age": 300}, "300"), ({}, None)):
            page.storage.items.clear()
            with pytest.raises(AssertionError, match="the page left for ") as left:
                asyncio.run(auth.sign_in(**kwargs))
            sent = dict(parse_query(split_url(str(left.value).split("the page left for ", 1)[1])[1]))
            assert sent.get("max_age") == expected, kwargs
            (stored,) = [json.loads(v) for k, v in page.storage.items.items() if ":tx:" in k]
            assert stored["max_age"] == (int(expected) if expected is not None else None), kwargs
        for bad in (-1, 1.5, True, "300"):
            page.storage.items.clear()
            with pytest.raises(page.module.core.ConfigurationError) as caught:
                asyncio.run(auth.sign_in(max_age=bad))
            assert caught.value.reason == "invalid_max_age"
            assert page.storage.items == {}
