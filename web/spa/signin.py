"""The SPA's sign-in orchestration: the client core's build/parse pairs, sent
with fetch, each step told on the timeline (narration.py).

Per-sign-in state (state, code_verifier, nonce, response_mode) lives in
sessionStorage keyed by state and is deleted as soon as the callback uses it;
tokens live in memory unless the page is configured to keep them in
sessionStorage (token_store.py; an explicit opt-in; never localStorage: docs/SECURITY.md C7).
"""

import json

from spalab_auth import browser
from spalab_auth.core import (
    CallbackResult,
    ClientConfig,
    ConfigurationError,
    HttpResponse,
    ProviderMetadata,
    RevocationError,
    StateMismatch,
    Transaction,
    build_api_request,
    build_authorization_url,
    build_code_exchange_request,
    build_refresh_request,
    build_revocation_request,
    find_callback_states,
    implicit_signature_inputs,
    new_transaction,
    parse_api_response,
    parse_callback,
    parse_refresh_response,
    parse_revocation_response,
    parse_token_response,
    validate_implicit_response,
)
from spalab_auth.explain import SignOutReport
from spalab_auth.provider import Provider, verified

from .narration import FLOW_NAMES, Narrator
from .request_log import RequestLogs
from .timeline import add_checks, shown
from .token_store import TokenStore

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

__all__ = ["FLOW_NAMES", "SpaApp"]

TX_PREFIX = "tx:"


class SpaApp:
    def __init__(self, settings: "dict[str, Any]") -> None:
        self.client = ClientConfig.from_dict(settings)
        # Popup sign-in returns to a second registered redirect URI: a tiny page without Python.
        popup_uri = settings.get("popup_redirect_uri")
        self.popup_client = None  # type: ClientConfig | None
        if popup_uri:
            self.popup_client = ClientConfig(self.client.issuer, self.client.client_id, popup_uri, self.client.scope)
        self.api_base = str(settings.get("api_base", ""))
        self.storage = browser.Storage("spalab:")
        self.provider = Provider(self.client.issuer)
        self.narrator = Narrator(self.storage)
        self.request_logs = RequestLogs(settings.get("request_logs") or {}, self.storage)
        self.session = TokenStore(self.storage, settings.get("token_storage") == "sessionStorage")

    # --- starting a sign-in -------------------------------------------------------

    async def start(self, response_type: str, response_mode: str, popup: "Any" = None) -> None:
        """Redirects this page to the provider or, given an open `popup` (browser.open_popup),
        signs in there while this page stays booted, and finishes the sign-in here."""
        client = self.client if popup is None else self.popup_client
        if client is None:  # the page offers the popup only when popup_redirect_uri is configured
            raise ConfigurationError("no popup_redirect_uri", reason="no_popup_redirect_uri")
        self.narrator.timeline.clear()
        metadata = await self.provider.discover()
        self.narrator.discovery(self.client.issuer)
        tx = new_transaction(client, response_type, response_mode, browser.random_bytes, browser.now())
        self.storage.set(TX_PREFIX + tx.state, tx.to_json())
        url = build_authorization_url(metadata, client, tx)
        await self.request_logs.mark()
        self.narrator.authorization_request(tx, url, popup is not None)
        if popup is None:
            browser.navigate(url)
            return
        browser.popup_navigate(popup, url)
        await self.provider.keys()  # fetched while the visitor is at the provider, off the path after the callback
        await self.finish_callback(await browser.popup_callback(popup), "popup")

    def client_for(self, tx: Transaction) -> ClientConfig:
        """The registration the transaction was started with (redirect or popup)."""
        if self.popup_client is not None and tx.redirect_uri == self.popup_client.redirect_uri:
            return self.popup_client
        return self.client

    # --- the callback ---------------------------------------------------------------

    async def finish_callback(self, url: str, via: str = "redirect") -> None:
        """`via`: "redirect" (boot.js captured and cleaned the URL before Python started) or
        "popup" (popup-callback.html cleaned its own URL and handed it over)."""
        self.narrator.redirect_back(url, via)
        tx = self._take_transaction(url)
        self.show_server_views(("/", "/popup-callback.html", "/authorize", "/login", "/consent"))
        metadata = await self.provider.discover()
        try:
            result = parse_callback(url, tx, metadata, browser.now())
        finally:
            self.narrator.save()
        self.narrator.response_checks(result.checks)
        if tx.response_type == "code":
            await self._exchange(tx, result.code or "", self.client_for(tx))
        else:
            await self._accept_implicit(tx, result)
        self.narrator.save()

    def _take_transaction(self, url: str) -> Transaction:
        """docs/SECURITY.md C1/C3: the transaction is found by state and used at most once."""
        for state in find_callback_states(url):
            stored = self.storage.get(TX_PREFIX + state)
            if stored is not None:
                self.storage.remove(TX_PREFIX + state)
                return Transaction.from_json(stored)
        with self.narrator.failure_recorded(self.narrator.unknown_state()):
            raise StateMismatch(
                "no transaction for this state", reason="unknown_state", parameter="state", checks=[("state", "failed")]
            )

    async def _exchange(self, tx: Transaction, code: str, client: ClientConfig) -> None:
        metadata = await self.provider.discover()
        request = build_code_exchange_request(metadata, client, tx, code)
        step = self.narrator.token_request(request)
        response = await browser.send(request)
        verifier = await self.provider.verifier_for(_id_tokens(response))
        with self.narrator.failure_recorded(step, [("token response", "failed")]):
            tokens = parse_token_response(
                response, metadata, client, browser.now(), tx, await self.provider.keys(), verifier
            )
        self.narrator.tokens_received(step, tokens)
        self.show_server_views(("/token",))
        self.session.signed_in(tokens, tx.response_type)

    async def _accept_implicit(self, tx: Transaction, result: CallbackResult) -> None:
        metadata, jwks = await self.provider.discover(), await self.provider.keys()
        verifier = await verified(implicit_signature_inputs(result, jwks))
        step = self.narrator.implicit_checks()
        with self.narrator.failure_recorded(step):
            tokens = validate_implicit_response(
                result, metadata, self.client_for(tx), tx, browser.now(), jwks, verifier
            )
        add_checks(step, tokens.checks[len(result.checks) :])
        self.session.signed_in(tokens, tx.response_type)
        if tokens.id_token_claims is None:
            await self._load_profile()

    # --- what the servers saw -------------------------------------------------------

    def show_server_views(self, paths: "tuple[str, ...]") -> None:
        """Adds a "What the servers saw" step here, in its place on the timeline; its entries
        are read later by load_server_views, off the sign-in's critical path."""
        if self.request_logs.urls:
            self.request_logs.expect(self.narrator.servers_saw(), paths)

    async def load_server_views(self) -> bool:
        """Fills the pending "What the servers saw" steps; returns whether there were any."""
        if not await self.request_logs.load():
            return False
        self.narrator.save()
        return True

    # --- using the session ------------------------------------------------------------

    async def _load_profile(self) -> None:
        """Without an id_token the app learns who signed in from userinfo (OIDC Core §5.3)."""
        endpoint = (await self.provider.discover()).userinfo_endpoint
        if not endpoint:
            return
        request = build_api_request(endpoint, self.session.current().access_token)
        profile = parse_api_response(await browser.send(request))
        self.narrator.userinfo(endpoint, profile)
        self.session.profile = profile if isinstance(profile, dict) else {}

    async def _api_url(self, path: str) -> str:
        # Against another provider the one protected resource we know is its userinfo endpoint.
        if self.api_base:
            return self.api_base + path
        endpoint = (await self.provider.discover()).userinfo_endpoint
        if not endpoint:
            raise ConfigurationError("no api_base and no userinfo endpoint", reason="no_api")
        return endpoint

    async def call_api(self, path: str = "/contacts") -> object:
        access_token = self.session.current().access_token
        request = build_api_request(await self._api_url(path), access_token)
        response = await browser.send(request)
        step = self.narrator.api_call(request, response, access_token)
        with self.narrator.failure_recorded(step):
            data = parse_api_response(response)
        step["status"] = "ok"
        self.narrator.save()
        return data

    async def refresh(self) -> None:
        old, metadata = self.session.current(), await self.provider.discover()
        request = build_refresh_request(metadata, self.client, old.refresh_token or "")
        response = await browser.send(request)
        verifier = await self.provider.verifier_for(_id_tokens(response))
        tokens = parse_refresh_response(
            response, metadata, self.client, old, browser.now(), await self.provider.keys(), verifier
        )
        self.session.signed_in(tokens, self.session.response_type)
        self.narrator.refreshed(request, old, tokens)

    async def sign_out(self) -> SignOutReport:
        """Drops the tokens here first (whatever fails later, the visitor is signed out), revokes
        them (RFC 7009) where the provider offers it, then shows whether the API still accepts the
        old access token, where there is an API to ask."""
        tokens = self.session.current()
        self.session.signed_out()
        metadata = await self.provider.with_revocation()
        report = SignOutReport(metadata.revocation_endpoint, tokens.expires_in(browser.now()))
        step = self.narrator.sign_out(self.provider.second_lookup)
        for token, hint in ((tokens.refresh_token, "refresh_token"), (tokens.access_token, "access_token")):
            if token and metadata.revocation_endpoint:
                outcome = await self._revoke(metadata, token, hint)
                (report.failed if outcome else report.revoked).append(hint)
                step["kv"].append(
                    ["not revoked " + hint if outcome else "revoked " + hint, outcome or shown(hint, token)]
                )
        try:
            after = await browser.send(build_api_request(await self._api_url("/me"), tokens.access_token))
        except (ConfigurationError, browser.NetworkError):
            step["kv"].append(["API with the old access token", "not checked (no API this page can reach)"])
        else:
            report.api_status = after.status
            step["kv"].append(["API with the old access token", "HTTP " + str(after.status)])
        self.narrator.signed_out(step, report)
        return report

    async def _revoke(self, metadata: ProviderMetadata, token: str, hint: str) -> str:
        """Why the provider did not confirm the revocation (RFC 7009 §2.2); empty when it did."""
        request = build_revocation_request(metadata, self.client, token, hint)
        try:
            parse_revocation_response(await browser.send(request))
        except RevocationError as error:
            return "HTTP " + str(error.status) + (" " + error.error if error.error else "")
        except browser.NetworkError:
            return "unreachable"
        return ""


def _id_tokens(response: HttpResponse) -> "list[str]":
    try:
        data = json.loads(response.body)
    except ValueError:
        return []
    token = data.get("id_token") if isinstance(data, dict) and response.status == 200 else None
    return [token] if isinstance(token, str) else []
