"""Auth with dpop=True (RFC 9449) on CPython, against fake_browser: every proof the shell sends is
checked by the provider's own validation (joserfc), with a real P-256 key standing in for WebCrypto's.
What a browser test cannot time or provoke: server nonces, refused proofs, bearer answers, records."""

import asyncio
import json
import time
from typing import Any

import pytest
from fake_browser import browser_page, token_answer
from joserfc.jwk import ECKey

from spalab.provider.core import dpop as provider_dpop

API = "https://api.example.com/me"


def answer(status: int, body: object = "", **headers: str) -> Any:
    from spalab_auth.core import HttpResponse

    all_headers = {name.replace("_", "-"): value for name, value in headers.items()}
    all_headers.setdefault("content-type", "application/json")
    return HttpResponse(status, all_headers, body if isinstance(body, str) else json.dumps(body))


def answers(*sequence: Any) -> Any:
    """A server that gives these answers in turn."""
    queue = list(sequence)
    return lambda request: queue.pop(0)


def checked_proof(request: Any, nonces: tuple[str, ...] = (), access_token: str | None = None) -> Any:
    """The request's DPoP proof, as the spalab provider checks it (raises when it would refuse it)."""
    expected = provider_dpop.Expected(request.method, request.url.split("?")[0], int(time.time()), nonces, access_token)
    return provider_dpop.validate_proof([request.headers["DPoP"]], expected)


def test_a_refresh_carries_a_proof_and_a_demanded_nonce_is_sent_once_more() -> None:
    """RFC 9449 §5, §8: 400 use_dpop_nonce with DPoP-Nonce → the same request again, once, with it."""
    with browser_page() as page:
        tab = page.auth(storage="memory", dpop=True)
        nonce = {"error": "use_dpop_nonce", "error_description": "nonce"}
        page.answer = answers(answer(400, nonce, DPoP_Nonce="n-1"), token_answer(1, "DPoP"))

        async def run() -> Any:
            tab._signed_in(page.tokens(0, token_type="DPoP"), "code")
            return await tab._refresh(tab.tokens)

        fresh = asyncio.run(run())
        first, second = page.requests
        assert "nonce" not in json.loads(_claims(first)) and json.loads(_claims(second))["nonce"] == "n-1"
        assert checked_proof(first).jkt == checked_proof(second, ("n-1",)).jkt  # one key, proofs the provider takes
        assert fresh.token_type == "DPoP" and tab.tokens is fresh


def test_a_nonce_demanded_twice_keeps_the_session_and_tries_later() -> None:
    """A refused proof is not a refused grant: the refresh token is unspent, so nobody is signed out."""
    with browser_page() as page:
        tab, other = page.auth(dpop=True), page.auth(refresher=False, dpop=True)
        nonce = {"error": "use_dpop_nonce"}
        page.answer = answers(answer(400, nonce, DPoP_Nonce="n-1"), answer(400, nonce, DPoP_Nonce="n-2"))
        core = page.module.core

        async def run() -> str:
            tab._signed_in(page.tokens(0, token_type="DPoP"), "code")
            other._signed_in(page.tokens(0, token_type="DPoP"), "code")
            try:
                await tab._refresh(tab.tokens)
            except core.OAuthClientError as error:
                return type(error).__name__
            finally:
                page.deliver()
            return "no error"

        assert asyncio.run(run()) == "TokenEndpointError"
        assert len(page.requests) == 2  # exactly one retry
        assert tab.signed_in and other.signed_in


def test_a_bearer_answer_to_a_refresh_with_a_proof_ends_the_session() -> None:
    """docs/SECURITY.md C11: tokens the provider did not bind are refused; the old refresh token is spent.
    The refused answer's tokens are live at the provider for anyone who copied them: they are revoked."""
    from spalab_auth.core.encoding import parse_query

    with browser_page() as page:
        tab = page.auth(storage="memory", dpop=True)
        page.answer = answers(token_answer(1, "Bearer"), answer(200), answer(200))

        async def run() -> str:
            tab._signed_in(page.tokens(0, token_type="DPoP"), "code")
            try:
                await tab._refresh(tab.tokens)
            except page.module.core.OAuthClientError as error:
                return str(error.reason)
            return "accepted"

        assert asyncio.run(run()) == "refresh_refused"
        assert not tab.signed_in
        revoked = [dict(parse_query(r.body)) for r in page.requests if r.url.endswith("/revoke")]
        assert [(form["token"], form["token_type_hint"]) for form in revoked] == [
            ("rt1", "refresh_token"),
            ("at1", "access_token"),
        ]


def test_a_bearer_answer_to_a_code_exchange_with_a_proof_is_refused_and_revoked() -> None:
    """docs/SECURITY.md C11: a sign-in whose tokens came back unbound fails, and they are revoked."""
    from spalab_auth.core.encoding import parse_query

    with browser_page() as page:
        tab = page.auth(storage="memory", dpop=True)
        page.answer = answers(token_answer(1, "Bearer"), answer(200), answer(200))
        core, browser = page.module.core, page.module.browser

        async def run() -> str:
            tx = core.new_transaction(tab.client, "code", "query", browser.random_bytes, browser.now())
            try:
                await tab._exchange(tx, "the-code", tab.client, await tab.provider.discover())
            except core.OAuthClientError as error:
                return str(error.reason)
            return "accepted"

        assert asyncio.run(run()) == "token_not_bound"
        assert not tab.signed_in
        revoked = [dict(parse_query(r.body))["token"] for r in page.requests if r.url.endswith("/revoke")]
        assert revoked == ["rt1", "at1"]


def test_an_api_call_sends_the_token_as_dpop_with_a_proof_that_hashes_it() -> None:
    """RFC 9449 §7.1, §9: Authorization: DPoP, ath; a resource's nonce demand → once more with it."""
    with browser_page() as page:
        tab = page.auth(storage="memory", dpop=True)
        challenge = 'DPoP error="use_dpop_nonce", error_description="nonce please"'
        page.answer = answers(answer(401, "", WWW_Authenticate=challenge, DPoP_Nonce="r-1"), answer(200, {"ok": 1}))

        async def run() -> Any:
            tab._signed_in(page.tokens(0, token_type="DPoP"), "code")
            return await tab.get_json(API + "?q=1")

        assert asyncio.run(run()) == {"ok": 1}
        first, second = page.requests
        assert first.headers["Authorization"] == "DPoP at0" and second.headers["Authorization"] == "DPoP at0"
        assert checked_proof(first, access_token="at0")
        assert checked_proof(second, ("r-1",), access_token="at0")
        assert json.loads(_claims(second))["htu"] == API  # without the query (RFC 9449 §4.2)


def test_the_nonces_of_the_token_endpoint_and_of_a_resource_are_kept_apart() -> None:
    """RFC 9449 §8, §9: each server's nonce goes to that server only."""
    with browser_page() as page:
        tab = page.auth(storage="memory", dpop=True)
        page.answer = answers(_with_nonce(token_answer(1, "DPoP"), "as-1"), answer(200, {}))

        async def run() -> None:
            tab._signed_in(page.tokens(0, token_type="DPoP"), "code")
            await tab._refresh(tab.tokens)
            await tab.get_json(API)

        asyncio.run(run())
        assert "nonce" not in json.loads(_claims(page.requests[1]))


def test_sign_out_deletes_the_key_before_revoking() -> None:
    """docs/SECURITY.md C11: the next session gets a new key; the deletion does not wait on the provider."""
    with browser_page() as page:
        tab = page.auth(storage="memory", dpop=True)
        seen: list[bool] = []

        def revoke(request: Any) -> Any:
            seen.append(tab._key.discarded)
            return answer(200, "")

        page.answer = revoke

        async def run() -> None:
            tab._signed_in(page.tokens(0, token_type="DPoP"), "code")
            await tab.sign_out(end_session=False)

        asyncio.run(run())
        assert seen and all(seen)


def test_with_dpop_on_a_bearer_record_is_neither_restored_nor_adopted() -> None:
    """docs/SECURITY.md C11: tokens written before DPoP was on would go out as Bearer."""
    with browser_page() as page:
        from spalab_auth.auth import _record

        bearer = _record(page.tokens(0), "code", {"sub": "alice"})
        page.storage.setItem("spalab_auth:spalab-spa:tokens", json.dumps(bearer))
        tab = page.auth(storage="session", dpop=True)
        tab._restore_from_storage()
        assert not tab.signed_in and "spalab_auth:spalab-spa:tokens" not in page.storage.items
        tab._adopt({"type": "tokens", "record": bearer, "signin": True})
        assert not tab.signed_in
        bound = _record(page.tokens(1, token_type="DPoP"), "code", {"sub": "alice"})

        async def adopt() -> None:
            tab._adopt({"type": "tokens", "record": bound, "signin": True})

        asyncio.run(adopt())
        assert tab.signed_in and tab.tokens.token_type == "DPoP"


def test_the_id_tokens_claims_are_completed_from_userinfo_with_the_same_sub_only() -> None:
    """OIDC Core §5.4, §5.3.4: profile claims the id_token leaves out come from userinfo; another sub's are ignored."""
    with browser_page() as page:
        tab = page.auth(storage="memory")
        core = page.module.core
        now = time.time()
        tokens = core.TokenSet("at0", "Bearer", now, now + 60, ["openid", "profile"], None, "x.y.z", {"sub": "alice"})
        page.answer = answers(
            answer(200, {"sub": "alice", "name": "Alice Liddell", "email": "a@example"}),
            answer(200, {"sub": "mallory", "name": "Mallory"}),
        )

        async def run() -> tuple[Any, Any]:
            return await tab._who(tokens), await tab._who(tokens)

        completed, refused = asyncio.run(run())
        assert completed == {"sub": "alice", "name": "Alice Liddell", "email": "a@example"}
        assert refused == {"sub": "alice"}


def _with_nonce(response: Any, nonce: str) -> Any:
    response.headers["DPoP-Nonce"] = nonce
    return response


def _claims(request: Any) -> str:
    from spalab_auth.core import b64url_decode

    return b64url_decode(request.headers["DPoP"].split(".")[1]).decode()


def test_without_indexeddb_the_tokens_stay_with_the_page_that_holds_the_key() -> None:
    """A key that dies with the page (no IndexedDB): its tokens are not stored for a reload nor handed
    to other tabs, where no proof could be made for them."""
    with browser_page() as page:
        tab, other = page.auth(storage="session", dpop=True), page.auth(refresher=False, dpop=True)
        tab._key.persistent = False
        shared = page.auth(storage="shared", dpop=True)
        shared._key.persistent = False

        async def run() -> None:
            tab._signed_in(page.tokens(0, token_type="DPoP"), "code")
            shared._signed_in(page.tokens(1, token_type="DPoP"), "code")
            shared._share(signin=True)
            page.deliver()

        asyncio.run(run())
        assert "spalab_auth:spalab-spa:tokens" not in page.storage.items
        assert not other.signed_in


def test_a_refreshed_id_token_replaces_the_old_ones_claims_and_keeps_userinfos() -> None:
    """OIDC Core §12.2: claims of the new id_token replace the old id_token's (none stale stays);
    what userinfo added (no id_token carries it) stays."""
    with browser_page() as page:
        tab = page.auth(storage="memory")
        core = page.module.core
        now = time.time()
        first = core.TokenSet("at0", "Bearer", now, now + 60, ["openid"], "rt0", "a.b.c", {"sub": "alice", "acr": "1"})
        second = core.TokenSet(
            "at1", "Bearer", now, now + 60, ["openid"], "rt1", "d.e.f", {"sub": "alice", "amr": ["pwd"]}
        )

        async def run() -> None:
            tab._signed_in(first, "code", {"sub": "alice", "acr": "1", "name": "Alice Liddell"})
            tab._signed_in(second, "code")

        asyncio.run(run())
        assert tab.user.claims == {"sub": "alice", "amr": ["pwd"], "name": "Alice Liddell"}


def test_a_sign_in_binds_its_code_to_the_key_that_will_redeem_it() -> None:
    """docs/SECURITY.md C18, RFC 9449 §10: the authorization request names the key's thumbprint (dpop_jkt),
    the one the provider computes from the proofs at the token endpoint. Without IndexedDB a redirect comes
    back to a new key, so it names none; a popup keeps the page, and its key, so it does."""
    from spalab_auth.core.encoding import parse_query
    from spalab_auth.core.urls import split_url

    with browser_page() as page:
        tab = page.auth(dpop=True)
        with pytest.raises(AssertionError, match="the page left for ") as left:
            asyncio.run(tab.sign_in())
        url = str(left.value).split("the page left for ", 1)[1]
        sent = dict(parse_query(split_url(url)[1]))
        holder = ECKey.import_key(tab._key.jwk).thumbprint()  # RFC 7638 as the provider computes it
        assert sent["dpop_jkt"] == holder

        tab._key.persistent = False
        with pytest.raises(AssertionError, match="the page left for ") as left:
            asyncio.run(tab.sign_in())
        assert "dpop_jkt" not in str(left.value)
        assert asyncio.run(tab._code_binding(popup=True)) == holder
        assert asyncio.run(page.auth()._code_binding(popup=False)) is None  # DPoP off: no binding


def test_a_key_indexeddb_would_not_keep_is_not_named_for_a_redirect() -> None:
    """browser.DPoPKey: IndexedDB that answers but keeps nothing (full, say) leaves a key that dies with the
    page. It must say so (persistent False): a redirect naming its thumbprint (dpop_jkt) would come back to
    another key, and the provider would refuse every sign-in's code."""
    import sys
    import types

    with browser_page() as page:
        js: Any = sys.modules["js"]

        async def generate(*args: Any) -> Any:
            return types.SimpleNamespace(publicKey="public", privateKey="private")

        async def export(kind: str, key: Any) -> Any:
            return {"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}

        js.crypto = types.SimpleNamespace(subtle=types.SimpleNamespace(generateKey=generate, exportKey=export))
        js.JSON = types.SimpleNamespace(stringify=json.dumps)

        def key_where(keeps: bool) -> Any:
            key = page.real_dpop_key("spalab_auth:test")

            async def stored() -> Any:  # IndexedDB answers, and holds no key for this app yet
                key.persistent = True
                return None

            async def store(pair: Any) -> bool:  # ...and keeps the new one, or will not (full)
                return keeps

            key._stored, key._store = stored, store
            asyncio.run(key.current())
            return key

        assert key_where(keeps=False).persistent is False
        assert key_where(keeps=True).persistent is True
