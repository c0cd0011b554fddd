"""Auth: sign-in for a PyScript page in one object, over the sans-I/O core.

    auth = Auth("https://idp.example.com", "my-spa", "https://app.example.com/")
    user = await auth.start()           # finishes a sign-in, cleans the URL, restores a session
    await auth.sign_in()                # code + PKCE, by redirect (or popup=True)
    data = await auth.get_json(api)     # bearer token added, refreshed when due, one retry on 401
    await auth.sign_out()               # revokes, then ends the provider session

Every check of the core runs on this path (state, iss, PKCE, the id_token's signature,
nonce, at_hash, audience, expiry) and every failure raises an OAuthClientError with a
stable ``code`` and ``reason``; ``explain(error)`` turns it into a sentence.

Where things live (docs/SECURITY.md C7): tokens in memory by default; "session" keeps them
in this tab's sessionStorage; "shared" lets this app's open tabs hand them to each other
over a BroadcastChannel; "worker" keeps them in a dedicated Web Worker (worker.js) that makes
the token requests and the API calls, so the page never holds them (C12). Never localStorage.
Transactions (state, nonce, PKCE verifier) sit in sessionStorage, keyed by state, until their
callback uses them once.
"""

import asyncio
import json

from . import browser
from .core import (
    AuthorizationDenied,
    CallbackResult,
    ClientConfig,
    ConfigurationError,
    HttpRequest,
    HttpResponse,
    InvalidJwt,
    InvalidTokenResponse,
    OAuthClientError,
    ProviderMetadata,
    RevocationError,
    StateMismatch,
    TokenEndpointError,
    TokenSet,
    Transaction,
    build_api_request,
    build_authorization_url,
    build_code_exchange_request,
    build_end_session_url,
    build_refresh_request,
    build_revocation_request,
    check_dpop_support,
    check_logout_return,
    find_callback_states,
    implicit_signature_inputs,
    jwk_thumbprint,
    logout_return_state,
    new_logout_state,
    new_proof,
    new_transaction,
    parse_api_response,
    parse_callback,
    parse_refresh_response,
    parse_revocation_response,
    parse_token_response,
    response_nonce,
    retry_nonce,
    validate_implicit_response,
)
from .core.api import api_error
from .core.dpop import RESOURCE, TOKEN_ENDPOINT
from .core.token import token_endpoint
from .core.transaction import _is_number
from .core.urls import is_secure_url, split_url
from .explain import SignOutReport
from .provider import Provider, verified

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any, Callable
except ImportError:
    pass

STORAGES = ("memory", "session", "shared", "worker")
STANDARD_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT")
RESPONSE_MODES = ("query", "fragment")
IMPLICIT = ("token", "id_token token", "id_token")
# OIDC Core §3.1.2.6: the answers to prompt=none that mean "not without the visitor".
SILENT_REFUSALS = ("login_required", "consent_required", "interaction_required", "account_selection_required")
PREFIX = browser.TRANSACTIONS  # one prefix for all the package keeps in sessionStorage
# How long a new tab of a "shared" app waits for another tab's tokens at start.
ASK_TABS_SECONDS = 0.4
# A refresh that found the provider unreachable is tried again this much later.
RETRY_SECONDS = 30
# How long a sign-out at the provider may take to come back with its state.
LOGOUT_WAIT_SECONDS = 3600
# How long a tab that is not the refresher waits for the refresher's new tokens.
WAIT_FOR_REFRESHER_SECONDS = 10.0
# Token endpoint errors about a DPoP proof rather than the grant (RFC 9449 §8, §12): the refresh token
# was not used, so the session stays and the refresh is tried again later.
DPOP_RETRY_LATER = ("use_dpop_nonce", "invalid_dpop_proof")
# The refresh timer's longest sleep: JS setTimeout fires at once past 2**31 ms (24.8 days) and
# MicroPython's asyncio raises OverflowError past 2**29 ms (6.2 days); a longer wait loops.
TIMER_STEP_SECONDS = 3600


class NotSignedIn(OAuthClientError):
    """An action that needs tokens was asked for while signed out."""

    code = "not_signed_in"


class SessionEnded(OAuthClientError):
    """The session ended while the app was using it: refresh refused, or another tab signed out."""

    code = "session_ended"


class User:
    """Who is signed in: the verified id_token's claims, or userinfo's without an id_token."""

    __slots__ = ("claims",)

    def __init__(self, claims: "dict[str, Any]") -> None:
        self.claims = dict(claims)

    @property
    def sub(self) -> "str | None":
        value = self.claims.get("sub")
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str:
        """A display name: name, preferred_username, email or sub, whichever comes first."""
        for key in ("name", "preferred_username", "email", "sub"):
            value = self.claims.get(key)
            if isinstance(value, str) and value:
                return value
        return ""

    @property
    def email(self) -> "str | None":
        value = self.claims.get("email")
        return value if isinstance(value, str) else None

    def get(self, claim: str, default: object = None) -> object:
        return self.claims.get(claim, default)

    def __repr__(self) -> str:
        return "User(sub=%r)" % (self.sub,)


class Event:
    """What happened, for listeners registered with Auth.on(). ``type`` is one of:

    signed_in, refreshed, signed_out (data["reason"]: "user", "other_tab", "refresh_failed",
    "restore_failed", "provider"), error (data["error"]), and the steps of a flow, for pages
    that show them: discovery, authorization_request (a listener may return an awaitable:
    the page leaves once it is done), callback, callback_checks, token_request, tokens,
    userinfo, refresh_request, api_request, revocation, end_session; with DPoP, dpop_proof
    (data: header, claims, proof, jkt) for each proof signed and dpop_nonce when a server
    demands a nonce.

    ``data`` carries the real values (the callback URL, the code, the tokens, the
    transaction with its verifier): a listener that shows them must shorten them, and
    none should log or store them (spalab's demo shows the first characters only)."""

    __slots__ = ("type", "data")

    def __init__(self, type: str, data: "dict[str, Any]") -> None:
        self.type = type
        self.data = data

    def __repr__(self) -> str:
        return "Event(%r)" % (self.type,)


class Auth:
    """One app's sign-in with one provider. Create it once, at start-up, then ``await start()``."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        redirect_uri: str,
        scope: str = "openid",
        *,
        popup_redirect_uri: "str | None" = None,
        post_logout_redirect_uri: "str | None" = None,
        storage: str = "memory",
        refresh_margin: float = 60,
        restore: bool = True,
        response_mode: str = "query",
        allow_implicit: bool = False,
        dpop: bool = False,
        worker_url: "str | None" = None,
        api_origins: "list[str] | None" = None,
    ) -> None:
        """``issuer``: the provider's issuer URL (discovery must report exactly this value).
        ``client_id``, ``redirect_uri`` (registered, matched exactly) and ``scope`` as registered
        at the provider, a public client with PKCE. ``popup_redirect_uri``: a second registered
        redirect URI for popup sign-in (a page like popup-callback.html). ``post_logout_redirect_uri``:
        where the provider sends the browser after ending its session (registered there).
        ``storage``: "memory" (default), "session" or "shared" (see the README's lifecycle).
        ``refresh_margin``: seconds before expiry to refresh (at most half the token's lifetime).
        ``restore``: after a reload with "memory", sign in again without a page (prompt=none) when
        the provider session is alive. ``response_mode``: "query" or "fragment" for the code.
        ``allow_implicit``: the legacy implicit flow may be asked for (off: RFC 9700 §2.1.2).
        ``dpop``: sender-constrained tokens (RFC 9449): every token request and API call carries a
        proof signed with a non-extractable key this browser keeps, and the provider must bind the
        tokens to it (a copied token or refresh token is useless without the key).
        ``worker_url``: with storage="worker", the URL of the package's worker.js served from this
        page's origin (the CSP's worker-src 'self'). ``api_origins``: with "worker", the origins the
        worker may send the access token to (default: the issuer's); no other URL gets it."""
        self.client = ClientConfig(issuer, client_id, redirect_uri, scope)
        self.popup_client = None  # type: ClientConfig | None
        if popup_redirect_uri:
            self.popup_client = ClientConfig(issuer, client_id, popup_redirect_uri, scope)
        if post_logout_redirect_uri is not None and not is_secure_url(post_logout_redirect_uri):
            raise ConfigurationError(
                "post_logout_redirect_uri must be absolute https",
                reason="invalid_post_logout_redirect_uri",
                parameter="post_logout_redirect_uri",
            )
        if storage not in STORAGES:
            raise ConfigurationError("storage must be memory, session, shared or worker", reason="invalid_storage")
        self._worker_settings = _worker_settings(storage, worker_url, api_origins, issuer, dpop)
        self._worker = None  # type: browser.TokenWorker | None
        if response_mode not in RESPONSE_MODES:
            raise ConfigurationError("response_mode must be query or fragment", reason="unsupported_response_mode")
        if not _is_number(refresh_margin) or refresh_margin < 0:
            raise ConfigurationError("refresh_margin must be a number of seconds", reason="invalid_refresh_margin")
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.storage = storage
        self.refresh_margin = refresh_margin
        self.restore = restore
        self.response_mode = response_mode
        self.allow_implicit = allow_implicit
        self.provider = Provider(issuer)
        self.response_type = ""
        self._tokens = None  # type: TokenSet | None
        self._claims = {}  # type: dict[str, Any]
        self._listeners = []  # type: list[Callable[[Event], Any]]
        self._store = browser.Storage(PREFIX + client_id + ":")
        self._generation = 0  # bumped at every sign-in and sign-out: an old refresh timer stops
        self._refreshing = None  # type: Any
        self._news = None  # type: Any
        self._told = None  # type: Any
        self._orphans = []  # type: list[TokenSet]
        self._asked = None  # type: Any  # the pending request to the refreshing tab, shared by its waiters
        name = self._name = PREFIX + issuer + "|" + client_id
        # docs/SECURITY.md C11: the DPoP key, one per app and provider, shared by the app's tabs.
        self._key = browser.DPoPKey(name) if dpop else None
        self._nonces = {}  # type: dict[str, str]  # RFC 9449 §8, §9: the last nonce of each server
        # docs/SECURITY.md C10: which tab refreshes a shared session: the one holding this Web Lock.
        self.refresher = storage != "shared" or not browser.has_web_locks()
        if not self.refresher:
            browser.hold_lock(name + ":refresher", self._became_refresher)
        self._channel = browser.Channel(name, self._on_tab_message)

    @classmethod
    def from_config(cls, settings: "dict[str, Any]") -> "Auth":
        """From a dict, e.g. a section of the PyScript config: the keyword names of __init__."""
        known = (
            "scope",
            "popup_redirect_uri",
            "post_logout_redirect_uri",
            "storage",
            "refresh_margin",
            "restore",
            "response_mode",
            "allow_implicit",
            "dpop",
            "worker_url",
            "api_origins",
        )
        options = {key: settings[key] for key in known if key in settings}
        if settings.get("storage") == "worker" and "api_origins" not in settings:
            # The worker's allow-list: the issuer's origin and the app's "api" origin, if it names one.
            api = settings.get("api")
            options["api_origins"] = [_origin(str(settings.get("issuer", "")))] + ([_origin(api)] if api else [])
        return cls(
            str(settings.get("issuer", "")),
            str(settings.get("client_id", "")),
            str(settings.get("redirect_uri", "")),
            **options,
        )

    # --- what the page reads ------------------------------------------------------------

    @property
    def dpop(self) -> bool:
        """Whether tokens are bound to this browser's key (RFC 9449). Settable while signed out,
        e.g. from a switch on the sign-in page; the next sign-in then uses (or stops using) DPoP."""
        return self._key is not None

    @dpop.setter
    def dpop(self, enabled: bool) -> None:
        if bool(enabled) == self.dpop:
            return
        if self._tokens is not None:
            raise ConfigurationError("DPoP is switched while signed out", reason="signed_in")
        if enabled and self.storage == "worker":
            raise ConfigurationError(_DPOP_WITH_WORKER, reason="dpop_with_worker")
        self._key = browser.DPoPKey(self._name) if enabled else None

    @property
    def signed_in(self) -> bool:
        """Whether this page holds tokens now."""
        return self._tokens is not None

    @property
    def user(self) -> "User | None":
        """Who is signed in, or None."""
        if self._tokens is None:
            return None
        return User(self._claims)

    @property
    def tokens(self) -> "TokenSet | None":
        """The current tokens (for display or your own requests), or None."""
        return self._tokens

    def on(self, listener: "Callable[[Event], Any]") -> "Callable[[], None]":
        """Calls ``listener(event)`` on every Event; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # --- start-up -------------------------------------------------------------------------

    async def start(self) -> "User | None":
        """Run once at start-up: finishes a sign-in callback (redirect), checks a return from
        the provider's sign-out, or restores the session; returns the signed-in User or None.
        The address bar is already clean: the package took the response out when imported.
        A failed callback raises its OAuthClientError (and the page stays signed out)."""
        url = browser.take_callback_url()
        if url is None and self._logout_returned():
            return None
        if self.storage == "session":
            self._restore_from_storage()  # first: a failed callback below leaves this session alone
        if url is not None:
            await self._finish_callback(url, "redirect")
            return self.user
        if self.storage == "shared":
            await self._ask_other_tabs()
        if self._tokens is None and self.restore and self._store.get("active") and self.storage != "session":
            # A reload with tokens in memory only: the provider session may still be alive.
            await self._sign_in_silently()
        return self.user

    # --- signing in -------------------------------------------------------------------------

    async def sign_in(
        self,
        popup: bool = False,
        response_mode: "str | None" = None,
        prompt: "str | None" = None,
        implicit: "str | None" = None,
        max_age: "int | None" = None,
    ) -> "User | None":
        """Sign in with authorization code + PKCE. By redirect (the default) this page leaves for
        the provider and the call never returns; start() finishes the sign-in when the browser
        comes back. With ``popup=True`` (call it straight from a click handler, before any other
        await) this page stays and the call returns the User. ``prompt``: "login" to ask for the
        password even with a live provider session (checked: the id_token's auth_time must be this
        sign-in's, else InvalidIdToken), "consent", "select_account" or "none". ``max_age``: seconds; a
        provider sign-in older than that is not accepted (OIDC Core §3.1.2.1, checked the same way).
        ``implicit``: "token", "id_token token" or "id_token", the legacy flow, only with
        allow_implicit=True; tokens then travel in the URL fragment."""
        window = browser.open_popup() if popup else None
        try:
            client = self.client
            if window is not None:
                if self.popup_client is None:
                    raise ConfigurationError("no popup_redirect_uri", reason="no_popup_redirect_uri")
                client = self.popup_client
            response_type, mode = "code", response_mode or self.response_mode
            if implicit is not None:
                if not self.allow_implicit:
                    raise ConfigurationError("the implicit flow is switched off", reason="implicit_not_allowed")
                if self.dpop:  # RFC 9449 binds tokens at the token endpoint, which implicit never reaches
                    raise ConfigurationError("DPoP needs the code flow", reason="dpop_needs_code_flow")
                if self.storage == "worker":  # implicit hands the tokens to the page, in its URL
                    raise ConfigurationError("the token worker needs the code flow", reason="worker_needs_code_flow")
                response_type, mode = implicit, "fragment"
            wanted_age = _max_age(prompt, max_age)  # a bad value is refused before anything is made or stored
            metadata = await self.provider.discover()
            if self.dpop:
                check_dpop_support(metadata)
            if self._key is not None and self._tokens is None and not self._key.in_page:
                # docs/SECURITY.md C11: a new session, a new key: not one a script may have left in IndexedDB. A
                # session that is still on keeps its key (its tokens are bound to it), and so does a sign-in this
                # page started and the visitor may still finish (a cut-off popup's code is bound to its key).
                await self._key.renew()
            self._emit("discovery", issuer=self.client.issuer)
            tx = new_transaction(client, response_type, mode, browser.random_bytes, browser.now())
            tx.max_age = wanted_age
            url = build_authorization_url(metadata, client, tx, prompt, await self._code_binding(window is not None))
            self._forget_abandoned_transactions()
            self._store.set("tx:" + tx.state, tx.to_json())
            if prompt == "none":
                self._store.set("silent:" + tx.state, "1")
            # A listener may return an awaitable here: the page leaves only once it is done.
            await self._announce("authorization_request", transaction=tx, url=url, popup=window is not None)
            if window is None:
                browser.navigate(url)
                await _forever()
            browser.popup_navigate(window, url)
            await self.provider.keys()  # fetched while the visitor is at the provider
            await self._finish_callback(await browser.popup_callback(window), "popup")
            return self.user
        except OAuthClientError as error:
            if error is not self._told:  # _finish_callback told it already
                self._emit("error", error=error)
            raise
        finally:
            if window is not None:
                window.close()

    async def _code_binding(self, popup: bool) -> "str | None":
        """docs/SECURITY.md C18, RFC 9449 §10: with DPoP on, the code is bound to this browser's key
        (dpop_jkt), so that a code taken on its way back, with the PKCE verifier, is useless without the
        key. Only where the key outlives the trip to the provider: kept in IndexedDB, or a popup (this page
        stays). Without IndexedDB a redirect comes back to a new key, which the provider would refuse."""
        if self._key is None:
            return None
        _pair, jwk = await self._key.current()
        return jwk_thumbprint(jwk) if self._key.persistent or popup else None

    async def _sign_in_silently(self) -> None:
        # docs/SECURITY.md C14: the flag goes first: if this attempt fails in any way, the next load will not retry.
        self._store.remove("active")
        try:
            await self.sign_in(prompt="none")
        except OAuthClientError:
            self._emit("signed_out", reason="restore_failed")  # no silent sign-in now: the page shows signed out

    async def _finish_callback(self, url: str, via: str) -> None:
        self._emit("callback", url=url, via=via)
        try:
            tx, silent = self._take_transaction(url)
            metadata = await self.provider.discover()
            try:
                result = parse_callback(url, tx, metadata, browser.now())
            except AuthorizationDenied:
                if silent:  # whatever the provider's reason: a failed restore is "signed out", not an error
                    self._emit("signed_out", reason="restore_failed")
                    return
                raise
            self._emit("callback_checks", checks=result.checks, response_type=tx.response_type)
            if tx.response_type == "code":
                tokens = await self._exchange(tx, result.code or "", self._client_for(tx), metadata)
            else:
                tokens = await self._accept_implicit(tx, result, metadata)
            # Who signed in, before the session counts as begun: a failure here leaves no tokens held.
            claims = await self._who(tokens)
        except OAuthClientError as error:
            self._told = error
            self._emit("error", error=error)
            if self._tokens is None:
                await self._worker_forget()  # whatever the worker took from a refused answer goes
            raise
        self._signed_in(tokens, tx.response_type, claims)
        self._emit("signed_in", user=self.user)
        self._share(signin=True)

    def _take_transaction(self, url: str) -> "tuple[Transaction, bool]":
        """docs/SECURITY.md C1/C3: the transaction is found by state and used at most once."""
        for state in find_callback_states(url):
            stored = self._store.get("tx:" + state)
            if stored is not None:
                silent = self._store.get("silent:" + state) is not None
                self._store.remove("tx:" + state)
                self._store.remove("silent:" + state)
                return Transaction.from_json(stored), silent
        raise StateMismatch(
            "no transaction for this state", reason="unknown_state", parameter="state", checks=[("state", "failed")]
        )

    def _forget_abandoned_transactions(self) -> None:
        """docs/SECURITY.md C3: a sign-in the visitor never finished leaves no verifier behind
        for long: transactions past their age limit (or damaged) go when the next one starts."""
        now = browser.now()
        for key in self._store.keys():
            if not key.startswith("tx:"):
                continue
            try:
                expired = Transaction.from_json(self._store.get(key) or "").is_expired(now)
            except OAuthClientError:
                expired = True
            if expired:
                self._store.remove(key)
                self._store.remove("silent:" + key[3:])

    def _client_for(self, tx: Transaction) -> ClientConfig:
        if self.popup_client is not None and tx.redirect_uri == self.popup_client.redirect_uri:
            return self.popup_client
        return self.client

    async def _exchange(self, tx: Transaction, code: str, client: ClientConfig, metadata: ProviderMetadata) -> TokenSet:
        request = build_code_exchange_request(metadata, client, tx, code)
        self.provider.prefetch_keys()  # under way while the token request is: the ID token's check needs them
        at_hash = None
        if self.storage == "worker":  # docs/SECURITY.md C12: the worker sends it and keeps the tokens
            fields = {"code": code, "code_verifier": tx.code_verifier, "redirect_uri": tx.redirect_uri}
            response, at_hash = await self._via_worker("exchange", request, "token_request", fields)
        else:
            response = await self._token_call(request, "token_request")
        verifier = await self.provider.verifier_for(_id_tokens(response))
        try:
            tokens = parse_token_response(
                response, metadata, client, browser.now(), tx, await self.provider.keys(), verifier, self.dpop, at_hash
            )
        except InvalidTokenResponse as error:
            await self._revoke_unbound(error, response)
            raise
        self._emit("tokens", tokens=tokens, response_type=tx.response_type)
        return tokens

    async def _accept_implicit(self, tx: Transaction, result: CallbackResult, metadata: ProviderMetadata) -> TokenSet:
        jwks = await self.provider.keys()
        verifier = await verified(implicit_signature_inputs(result, jwks))
        tokens = validate_implicit_response(result, metadata, self._client_for(tx), tx, browser.now(), jwks, verifier)
        self._emit("tokens", tokens=tokens, response_type=tx.response_type, callback_checks=len(result.checks))
        return tokens

    async def _who(self, tokens: TokenSet) -> "dict[str, Any]":
        """The signed-in user's claims: the id_token's, completed from userinfo when the scope asked for
        profile or email claims the id_token leaves out (OIDC Core §5.4 lets a provider put them in
        userinfo only). Userinfo counts only with the id_token's sub (§5.3.4); the id_token's claims win."""
        claims = tokens.id_token_claims
        if claims is None:
            return await self._load_profile(tokens)
        if not _lacks_profile(claims, tokens.scopes):
            return claims
        try:
            profile = await self._load_profile(tokens)
        except OAuthClientError:
            return claims  # the sign-in stands on its id_token; the profile is a nicety
        if profile.get("sub") != claims.get("sub"):
            return claims  # OIDC Core §5.3.4: another subject's answer must not be used
        merged = dict(profile)
        merged.update(claims)
        return merged

    async def _load_profile(self, tokens: TokenSet) -> "dict[str, Any]":
        """Without an id_token the app learns who signed in from userinfo (OIDC Core §5.3)."""
        endpoint = (await self.provider.discover()).userinfo_endpoint
        if not endpoint:
            return {}
        profile = parse_api_response(await self._call_api(endpoint, tokens, "GET", None, None, False))
        claims = profile if isinstance(profile, dict) else {}
        self._emit("userinfo", endpoint=endpoint, profile=claims)
        return claims

    # --- using the session ----------------------------------------------------------------

    async def fetch(
        self,
        url: str,
        method: str = "GET",
        body: "str | None" = None,
        content_type: "str | None" = None,
    ) -> HttpResponse:
        """Sends a request with the access token (Authorization: Bearer, or DPoP with a fresh proof;
        CORS, no cookies). Refreshes first when the token is within the margin of expiry, and once
        more after a 401 whose WWW-Authenticate says invalid_token; returns the HttpResponse as is."""
        if not is_secure_url(url):  # RFC 6750 §5.3: a bearer token travels over TLS only (loopback aside)
            raise ConfigurationError("the API URL must be https", reason="insecure_url", parameter="url")
        if method.upper() in STANDARD_METHODS:  # Fetch normalizes these; a proof's htm must match (RFC 9449 §4.2)
            method = method.upper()
        tokens = await self._fresh_tokens()
        response = await self._call_api(url, tokens, method, body, content_type)
        if response.status == 401 and _invalid_token(response) and self._tokens is tokens:
            if await self._renew(tokens):
                response = await self._call_api(url, self._current(), method, body, content_type)
        return response

    async def _call_api(
        self,
        url: str,
        tokens: TokenSet,
        method: str,
        body: "str | None",
        content_type: "str | None",
        announce: bool = True,
    ) -> HttpResponse:
        """One request with the token: a DPoP-bound one with a fresh proof (RFC 9449 §7.1), sent
        again once with the nonce the resource demands (RFC 9449 §9)."""
        if self.storage == "worker":  # docs/SECURITY.md C12: the worker adds the token it holds
            request = build_api_request(url, tokens.access_token, method, body, content_type)
            headers = {name: value for name, value in request.headers.items() if name != "Authorization"}
            fields = {"method": method, "url": url, "headers": headers, "body": body}
            response = (await (await self._token_worker()).send("fetch", **fields))[0]
            if announce:
                self._emit("api_request", request=request, response=response, access_token=tokens.access_token)
            return response
        for attempt in (1, 2):
            proof = None
            if tokens.token_type == "DPoP":
                proof = await self._proof(method, url, RESOURCE, tokens.access_token)
            request = build_api_request(url, tokens.access_token, method, body, content_type, tokens.token_type, proof)
            response = await browser.send(request)
            if announce:
                self._emit("api_request", request=request, response=response, access_token=tokens.access_token)
            if proof is None or not self._noted_nonce(response, RESOURCE, url) or attempt == 2:
                return response
        return response  # not reached

    async def _token_call(self, built: HttpRequest, kind: str, **data: "Any") -> HttpResponse:
        """A token endpoint request; with DPoP, its proof, and once more with the nonce the
        provider demands (RFC 9449 §8), each try a request of its own."""
        for attempt in (1, 2):
            request = HttpRequest(built.method, built.url, built.headers, built.body)
            if self._key is not None:
                request.headers["DPoP"] = await self._proof(request.method, request.url, TOKEN_ENDPOINT)
            self._emit(kind, request=request, **data)
            response = await browser.send(request)
            if self._key is None or not self._noted_nonce(response, TOKEN_ENDPOINT, request.url) or attempt == 2:
                return response
        return response  # not reached

    async def _proof(self, method: str, url: str, server: str, access_token: "str | None" = None) -> str:
        """A DPoP proof for one request, signed in WebCrypto with the key that never leaves it."""
        key = self._key
        if key is None:
            raise ConfigurationError("DPoP is off", reason="dpop_off")
        pair, jwk = await key.current()
        target = browser.normalized_url(url)  # RFC 9449 §4.2: htu as the browser sends the request
        nonce = self._nonces.get(_server(server, url))
        proof = new_proof(jwk, method, target, browser.now(), browser.random_bytes, nonce, access_token)
        compact = proof.compact(await key.sign(pair, proof.signing_input))
        self._emit("dpop_proof", header=proof.header, claims=proof.claims, proof=compact, jkt=jwk_thumbprint(jwk))
        return compact

    def _noted_nonce(self, response: HttpResponse, server: str, url: str) -> bool:
        """Keeps the nonce a server sent (RFC 9449 §8.2: it may send a new one with any answer);
        True when the answer says to send the request again with it."""
        nonce = response_nonce(response)
        if nonce is not None:
            self._nonces[_server(server, url)] = nonce
        if retry_nonce(response, server) is None:
            return False
        self._emit("dpop_nonce", server=server, nonce=nonce)
        return True

    async def get_json(self, url: str) -> object:
        """fetch(url) and its JSON body; an error answer raises ApiError (status, error)."""
        return parse_api_response(await self.fetch(url))

    async def refresh(self) -> TokenSet:
        """Refreshes now (refresh token rotation, RFC 9700 §4.14.2). A refused refresh signs out
        (event signed_out, reason "refresh_failed") and raises."""
        tokens = self._current()
        if not self.refresher:
            if not await self._wait_for_refresher(tokens):
                raise SessionEnded("no new tokens from the refreshing tab", reason="refresher_silent")
            return self._current()
        return await self._refresh(tokens)

    async def _refresh(self, tokens: TokenSet) -> TokenSet:
        if self._refreshing is not None:  # one refresh at a time in this tab too
            await self._refreshing.wait()
            return self._current()
        self._refreshing = asyncio.Event()
        try:
            metadata = await self.provider.discover()
            request = build_refresh_request(metadata, self.client, tokens.refresh_token or "")
            try:
                if self.storage == "worker":
                    response = (await self._via_worker("refresh", request, "refresh_request", {}, old=tokens))[0]
                else:
                    response = await self._token_call(request, "refresh_request", old=tokens)
                verifier = await self.provider.verifier_for(_id_tokens(response))
                fresh = parse_refresh_response(
                    response,
                    metadata,
                    self.client,
                    tokens,
                    browser.now(),
                    await self.provider.keys(),
                    verifier,
                    self.dpop,
                )
            except (TokenEndpointError, InvalidTokenResponse) as error:
                await self._revoke_unbound(error, response)  # token_not_bound is raised once the answer is in
                if tokens is not self._tokens:  # refused for tokens dropped meanwhile: not this session's end
                    raise SessionEnded("signed out during the refresh", reason="signed_out") from None
                self._emit("error", error=error)
                if error.error in DPOP_RETRY_LATER:
                    # The proof, not the grant, was refused (a nonce that changed twice, a clock off by
                    # more than the provider's window): the refresh token is unspent; try again later.
                    raise
                self._signed_out("refresh_failed")
                await self._worker_forget()
                self._channel.post({"type": "signed_out"})
                raise SessionEnded(error.detail, reason="refresh_refused", error=error.error) from None
            except InvalidJwt as error:
                if self.storage != "worker":
                    raise
                # docs/SECURITY.md C12: the worker already holds what this refused answer brought: it goes
                self._emit("error", error=error)
                self._signed_out("refresh_failed")
                await self._worker_forget()
                raise SessionEnded(error.detail, reason="refresh_refused") from None
            if tokens is not self._tokens:  # signed out (or in again) meanwhile: drop the answer,
                self._orphans.append(fresh)  # and let sign_out revoke what it holds
                raise SessionEnded("signed out during the refresh", reason="signed_out")
            self._signed_in(fresh, self.response_type)
            self._emit("refreshed", old=tokens, tokens=fresh)
            self._share(tokens.refresh_token)
            return fresh
        finally:
            done, self._refreshing = self._refreshing, None
            done.set()

    async def _fresh_tokens(self) -> TokenSet:
        tokens = self._current()
        if tokens.refresh_token and tokens.is_expired(browser.now(), self._margin(tokens)):
            await self._renew(tokens)
        return self._current()

    async def _renew(self, tokens: TokenSet) -> bool:
        """A new token set if one can be had: from the refresh, or from the refreshing tab."""
        if not tokens.refresh_token:
            return False
        try:
            await self.refresh()
        except SessionEnded:
            raise
        except OAuthClientError:
            return False
        return True

    def _margin(self, tokens: TokenSet) -> float:
        if tokens.expires_at is None:
            return 0
        return min(self.refresh_margin, (tokens.expires_at - tokens.issued_at) / 2)

    async def _refresh_timer(self, generation: int) -> None:
        """Refreshes ahead of expiry for as long as this session lasts (in the refreshing tab)."""
        while generation == self._generation and self.refresher:
            tokens = self._tokens
            if tokens is None or not tokens.refresh_token or tokens.expires_at is None:
                return
            due = tokens.expires_at - self._margin(tokens) - browser.now()
            await asyncio.sleep(min(max(due, 1), TIMER_STEP_SECONDS))
            if generation != self._generation or tokens is not self._tokens or due > TIMER_STEP_SECONDS:
                continue
            try:
                await self._refresh(tokens)
            except (browser.NetworkError, TokenEndpointError, browser.DPoPKeyError):
                await asyncio.sleep(RETRY_SECONDS)  # unreachable, or a proof refused: try again later
            except OAuthClientError:
                return  # signed out, told through the events

    # --- signing out ----------------------------------------------------------------------

    async def sign_out(self, end_session: bool = True) -> SignOutReport:
        """Drops the tokens here first (whatever fails later, this tab is signed out), tells the
        app's other tabs, revokes the tokens (RFC 7009) where the provider offers it, and then,
        with ``end_session`` and a provider that offers it, sends the browser to end the provider
        session (RP-Initiated Logout 1.0): the page leaves and comes back to
        post_logout_redirect_uri, where start() checks the returned state. The report says
        truthfully which tokens the provider confirmed revoked."""
        tokens = self._tokens
        self._signed_out("user")
        self._channel.post({"type": "signed_out"})
        if self._key is not None:  # the next session gets a new key: nothing bound to this one works again
            await self._key.discard()  # first: revocation needs no proof, and a slow one must not delay it
        if self._refreshing is not None:  # a refresh on its way: its answer is revoked too
            await self._refreshing.wait()
        held = ([tokens] if tokens is not None else []) + self._orphans
        if self.storage == "worker":  # the worker holds one token set, the latest: revoked once
            held = held[:1]
        self._orphans = []
        try:
            metadata = await self.provider.with_revocation()  # type: ProviderMetadata | None
        except OAuthClientError:
            metadata = self.provider.metadata  # the provider is unreachable: nothing revoked, said so
        endpoint = metadata.revocation_endpoint if metadata is not None else None
        expires_in = tokens.expires_in(browser.now()) if tokens else None
        report = SignOutReport(endpoint, expires_in, tokens is not None)
        for held_tokens in held:
            if metadata is not None:
                outcomes = await self._revoke_all(metadata, held_tokens.refresh_token, held_tokens.access_token)
                for hint, outcome in outcomes:
                    (report.failed if outcome else report.revoked).append(hint)
        await self._worker_forget()
        if end_session and metadata is not None and metadata.end_session_endpoint:
            state = new_logout_state(browser.random_bytes) if self.post_logout_redirect_uri else None
            id_token = tokens.id_token if tokens is not None else None
            url = build_end_session_url(metadata, self.client, id_token, self.post_logout_redirect_uri, state)
            if state:
                self._store.set("logout", json.dumps({"state": state, "at": browser.now()}))
            self._emit("end_session", url=url, report=report)
            browser.navigate(url)
            await _forever()
        return report

    async def _revoke(self, metadata: ProviderMetadata, token: str, hint: str) -> str:
        """Why the provider did not confirm the revocation (RFC 7009 §2.2); empty when it did."""
        request = build_revocation_request(metadata, self.client, token, hint)
        try:
            if self.storage == "worker":
                parse_revocation_response((await (await self._token_worker()).send("revoke", hint=hint))[0])
            else:
                parse_revocation_response(await browser.send(request))
        except RevocationError as error:
            return "HTTP " + str(error.status) + (" " + error.error if error.error else "")
        except browser.NetworkError:
            return "unreachable"
        except browser.WorkerError as error:
            return "worker: " + error.reason
        return ""

    def _logout_returned(self) -> bool:
        """Back from the provider's sign-out: the state it echoes must be the one we sent."""
        expected = _pending_logout(self._store.get("logout"), browser.now())
        if expected is None:
            self._store.remove("logout")  # none, or abandoned long ago: an app's own ?state= stays its own
            return False
        url = browser.current_url()
        base = split_url(url)[0]
        if self.post_logout_redirect_uri is None or base != split_url(self.post_logout_redirect_uri)[0]:
            return False
        returned = logout_return_state(url)
        if returned is None:
            return False
        self._store.remove("logout")
        browser.replace_url(base)
        try:
            check_logout_return(url, expected)  # docs/SECURITY.md C13
        except StateMismatch as error:
            self._emit("error", error=error)
            raise
        self._emit("signed_out", reason="provider")
        return True

    # --- state ----------------------------------------------------------------------------

    def _current(self) -> TokenSet:
        if self._tokens is None:
            raise NotSignedIn("no tokens")
        return self._tokens

    def _signed_in(self, tokens: TokenSet, response_type: str, claims: "dict[str, Any] | None" = None) -> None:
        """`claims`: who signed in, for a new session; a refresh keeps them unless it brings an id_token,
        whose claims then replace the old id_token's (userinfo's, which no id_token carried, stay)."""
        previous = self._tokens
        self._tokens, self.response_type = tokens, response_type
        if claims is not None:
            self._claims = claims
        elif tokens.id_token_claims:  # a refreshed id_token (same sub: checked)
            old = (previous.id_token_claims if previous is not None else None) or {}
            merged = {key: value for key, value in self._claims.items() if key not in old}
            merged.update(tokens.id_token_claims)
            self._claims = merged
        self._store.set("active", "1")  # a non-secret hint for restore after a reload
        self._store.remove("logout")
        if self.storage == "session" and self._key_lasts():
            self._store.set("tokens", json.dumps(_record(tokens, response_type, self._claims)))
        self._generation += 1
        asyncio.create_task(self._refresh_timer(self._generation))

    def _signed_out(self, reason: str) -> None:
        was_signed_in = self._tokens is not None
        self._tokens, self.response_type, self._claims = None, "", {}
        if self._key is not None:
            self._key.forget()  # another tab may discard it and sign in with a new one
        self._generation += 1
        self._store.remove("tokens")
        self._store.remove("active")
        if was_signed_in:
            self._emit("signed_out", reason=reason)

    def _key_lasts(self) -> bool:
        """Whether tokens may outlive this page (sessionStorage) or go to other tabs: yes without DPoP;
        with DPoP only if the key is in IndexedDB, where a reload and the other tabs find it."""
        return self._key is None or self._key.persistent

    def _usable(self, tokens: TokenSet) -> bool:
        """docs/SECURITY.md C11: with DPoP on, only DPoP-bound tokens are held (a record written
        before DPoP was switched on, or by another version, would be sent as Bearer)."""
        return (tokens.token_type == "DPoP") == self.dpop

    def _restore_from_storage(self) -> None:
        stored = self._store.get("tokens")
        if not stored:
            return
        try:
            tokens, response_type, claims = _from_record(json.loads(stored))
        except (ValueError, KeyError, TypeError):
            self._store.remove("tokens")  # damaged: start signed out rather than fail
            return
        if not self._usable(tokens):
            self._store.remove("tokens")
            return
        self._signed_in(tokens, response_type, claims)
        self._emit("signed_in", user=self.user, restored=True)

    # --- other tabs -----------------------------------------------------------------------

    def _share(self, replaces: "str | None" = None, signin: bool = False) -> None:
        """ "shared": hand the new token set to this app's other tabs; a new sign-in's replaces
        whatever they hold, so the app's tabs always share one session, refreshed by one tab."""
        tokens = self._tokens
        if self.storage == "shared" and tokens is not None and self._key_lasts():
            record = _record(tokens, self.response_type, self._claims)
            self._channel.post({"type": "tokens", "record": record, "replaces": replaces, "signin": signin})

    async def _ask_other_tabs(self) -> None:
        self._news = asyncio.Event()
        self._channel.post({"type": "hello"})
        try:
            await asyncio.wait_for(self._news.wait(), ASK_TABS_SECONDS)
        except asyncio.TimeoutError:
            pass

    async def _wait_for_refresher(self, tokens: TokenSet) -> bool:
        """Asks the refreshing tab once; concurrent callers (two API calls at once) wait for
        the same answer rather than each for an event only the last one would see set."""
        asked = self._asked
        if asked is None:
            asked = self._asked = asyncio.Event()
            self._channel.post({"type": "refresh"})
        try:
            await asyncio.wait_for(asked.wait(), WAIT_FOR_REFRESHER_SECONDS)
        except asyncio.TimeoutError:
            return False
        finally:
            if self._asked is asked:
                self._asked = None
        return self._tokens is not None and self._tokens is not tokens

    def _became_refresher(self) -> None:
        self.refresher = True
        if self._tokens is not None:
            self._generation += 1
            asyncio.create_task(self._refresh_timer(self._generation))

    def _on_tab_message(self, message: "dict[str, Any]") -> None:
        kind = message.get("type")
        if kind == "signed_out":
            tokens = self._tokens
            self._signed_out("other_tab")
            if tokens is not None and self.storage != "shared":  # a session of this tab's own: revoke it
                asyncio.create_task(self._revoke_quietly(tokens))
        elif kind == "hello" or (kind == "refresh" and self.refresher):
            if kind == "refresh" and self._tokens is not None:
                asyncio.create_task(self._refresh_for_other_tab(self._tokens))
            else:
                self._share()
        elif kind == "tokens" and self.storage == "shared":
            self._adopt(message)

    async def _revoke_quietly(self, tokens: TokenSet) -> None:
        try:
            metadata = await self.provider.with_revocation()
        except OAuthClientError:
            return
        await self._revoke_all(metadata, tokens.refresh_token, tokens.access_token)
        await self._worker_forget()

    async def _revoke_unbound(self, error: OAuthClientError, response: HttpResponse) -> None:
        """docs/SECURITY.md C11: a Bearer answer where DPoP was asked is refused (`error` says token_not_bound),
        but the provider issued its tokens all the same, and anyone who copied the answer (a proxy, a log)
        could use them: they are revoked where the provider offers it, not left to live out their lifetime."""
        if error.reason != "token_not_bound":
            return
        try:
            data = json.loads(response.body)
            metadata = await self.provider.with_revocation()
        except (ValueError, TypeError, OAuthClientError):
            return
        if isinstance(data, dict):
            await self._revoke_all(metadata, data.get("refresh_token"), data.get("access_token"))

    async def _revoke_all(
        self, metadata: ProviderMetadata, refresh_token: object, access_token: object
    ) -> "list[tuple[str, str]]":
        """Revokes the refresh token, then the access token, where the provider offers it:
        (hint, why not) per token sent, "" when the provider confirmed it (RFC 7009 §2.2)."""
        outcomes = []
        for token, hint in ((refresh_token, "refresh_token"), (access_token, "access_token")):
            if isinstance(token, str) and token and metadata.revocation_endpoint:
                outcome = await self._revoke(metadata, token, hint)
                self._emit("revocation", hint=hint, token=token, outcome=outcome)
                outcomes.append((hint, outcome))
        return outcomes

    async def _refresh_for_other_tab(self, tokens: TokenSet) -> None:
        try:
            await self._refresh(tokens)
        except OAuthClientError:
            pass  # told through the events

    def _adopt(self, message: "dict[str, Any]") -> None:
        """Another tab's tokens: a sign-in's (or a greeting's answer) when this tab has none, or
        a refresh's when they replace ours. A tab without tokens never takes a replacement: it
        may have signed out this moment, with that refresh still on its way (C10)."""
        current = self._tokens
        signin = message.get("signin") is True
        if not signin and message.get("replaces") != (current.refresh_token if current is not None else None):
            return
        try:
            tokens, response_type, claims = _from_record(message["record"])
        except (KeyError, TypeError):
            return
        if current is not None and current.refresh_token == tokens.refresh_token:
            return  # ours already
        if not self._usable(tokens):
            return
        if signin and self._key is not None:
            self._key.forget()  # the signing tab may have made a new key: read it again
        self._signed_in(tokens, response_type, claims)
        self._emit("refreshed" if current is not None else "signed_in", tokens=tokens, user=self.user, shared=True)
        for news in (self._news, self._asked):
            if news is not None:
                news.set()

    # --- the token worker (storage="worker") --------------------------------------------------

    async def _token_worker(self) -> "browser.TokenWorker":
        """docs/SECURITY.md C12: started at the first use, with the endpoints discovery found and the
        allow-list, in its URL: where it may send tokens is fixed for its life, no message changes it."""
        if self._worker is None:
            worker_url, origins = self._worker_settings or ("", [])
            metadata = await self.provider.with_revocation()
            settings = [
                ("token_endpoint", token_endpoint(metadata)),
                ("revocation_endpoint", metadata.revocation_endpoint or ""),
                ("client_id", self.client.client_id),
            ]
            self._worker = browser.TokenWorker(worker_url, settings + [("origin", origin) for origin in origins])
        return self._worker

    async def _via_worker(
        self, kind: str, request: HttpRequest, event: str, fields: "dict[str, Any]", **data: "Any"
    ) -> "tuple[HttpResponse, str | None]":
        """A token request the worker sends: `request` is what it sends, with its tokens held back."""
        worker = await self._token_worker()
        self._emit(event, request=request, worker=True, **data)
        return await worker.send(kind, **fields)

    async def _worker_forget(self) -> None:
        """The worker drops the tokens it holds (after a sign-out, a refused answer or refresh)."""
        if self._worker is not None:
            try:
                await self._worker.call("forget")
            except OAuthClientError:
                pass  # not running: it holds nothing

    # --- plumbing ---------------------------------------------------------------------------

    async def metadata(self) -> ProviderMetadata:
        """The provider's validated discovery document (fetched once per page load)."""
        return await self.provider.discover()

    async def _announce(self, kind: str, **data: "Any") -> None:
        """_emit, then waits for what the listeners returned that can be awaited."""
        for result in self._emit(kind, **data):
            if hasattr(result, "send") and hasattr(result, "throw"):  # a coroutine (Pyodide and MicroPython)
                try:
                    await result
                except Exception as error:  # noqa: BLE001 - a page's listener must not break a sign-in
                    print("spalab_auth: a listener failed on " + kind + ": " + type(error).__name__)

    def _emit(self, kind: str, **data: "Any") -> "list[Any]":
        event = Event(kind, data)
        results = []
        for listener in list(self._listeners):
            try:
                results.append(listener(event))
            except Exception as error:  # noqa: BLE001 - a page's listener must not break a sign-in
                print("spalab_auth: a listener failed on " + kind + ": " + type(error).__name__)
        return results


_DPOP_WITH_WORKER = "DPoP is not available with the token worker (storage='worker')"


def _worker_settings(
    storage: str, worker_url: "str | None", api_origins: "list[str] | None", issuer: str, dpop: bool
) -> "tuple[str, list[str]] | None":
    """(worker_url, allowed origins) for storage="worker", None for the others; checked here."""
    if storage != "worker":
        return None
    if dpop:  # the worker has no DPoP key: its tokens would be bearer ones, refused by read_token_response
        raise ConfigurationError(_DPOP_WITH_WORKER, reason="dpop_with_worker", parameter="dpop")
    if not isinstance(worker_url, str) or not worker_url:
        raise ConfigurationError("storage='worker' needs worker_url", reason="no_worker_url", parameter="worker_url")
    origins = list(api_origins) if api_origins is not None else [_origin(issuer)]
    for origin in origins:
        # RFC 6750 §5.3: the token travels over TLS only (loopback aside); an origin, not a URL
        if (
            not isinstance(origin, str)
            or not is_secure_url(origin)
            or _origin(origin) != origin.rstrip("/")
            or (
                origin.endswith((":443", ":80"))  # written as URL.origin writes it: without a default port
            )
        ):
            raise ConfigurationError("api_origins lists origins", reason="invalid_api_origin", parameter="api_origins")
    return worker_url, [origin.rstrip("/") for origin in origins]


def _origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL, as written (the worker compares it with URL.origin)."""
    scheme, _, rest = url.partition("://")
    return scheme.lower() + "://" + rest.split("/")[0].split("?")[0].split("#")[0].lower() if rest else ""


def _pending_logout(stored: "str | None", now: float) -> "str | None":
    """The state of a sign-out at the provider still worth waiting for (sent within the hour)."""
    try:
        data = json.loads(stored or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("state"), str) or not _is_number(data.get("at")):
        return None
    return data["state"] if 0 <= now - data["at"] <= LOGOUT_WAIT_SECONDS else None


async def _forever() -> None:
    """The page is navigating away: nothing after this should run."""
    await asyncio.Event().wait()


def _invalid_token(response: HttpResponse) -> bool:
    """RFC 6750 §3.1, RFC 9449 §7.1: the resource server says the token is expired, revoked or malformed."""
    return api_error(response).error == "invalid_token"  # the Bearer or the DPoP challenge's


def _lacks_profile(claims: "dict[str, Any]", scopes: "list[str]") -> bool:
    """The scope granted profile or email claims (OIDC Core §5.4) the id_token does not carry."""
    if "profile" in scopes and not any(key in claims for key in ("name", "preferred_username", "given_name")):
        return True
    return "email" in scopes and "email" not in claims


def _server(server: str, url: str) -> str:
    """Whose nonce (RFC 9449 §8, §9): the token endpoint's, or the resource server's at this origin."""
    return server if server == TOKEN_ENDPOINT else server + ":" + browser.origin_of(url)


def _id_tokens(response: HttpResponse) -> "list[str]":
    try:
        data = json.loads(response.body)
    except ValueError:
        return []
    token = data.get("id_token") if isinstance(data, dict) and response.status == 200 else None
    return [token] if isinstance(token, str) else []


def _record(tokens: TokenSet, response_type: str, claims: "dict[str, Any]") -> "dict[str, Any]":
    return {
        "access_token": tokens.access_token,
        "issued_at": tokens.issued_at,
        "expires_at": tokens.expires_at,
        "scopes": tokens.scopes,
        "refresh_token": tokens.refresh_token,
        "id_token": tokens.id_token,
        "id_token_claims": tokens.id_token_claims,
        "token_type": tokens.token_type,
        "claims": claims,
        "response_type": response_type,
    }


def _from_record(data: "dict[str, Any]") -> "tuple[TokenSet, str, dict[str, Any]]":
    tokens = TokenSet(
        data["access_token"],
        "DPoP" if data.get("token_type") == "DPoP" else "Bearer",
        data["issued_at"],
        data["expires_at"],
        data["scopes"],
        data["refresh_token"],
        data["id_token"],
        data["id_token_claims"],
    )
    claims = data["claims"] if isinstance(data["claims"], dict) else {}
    return tokens, str(data["response_type"]), claims


def _max_age(prompt: "str | None", max_age: "int | None") -> "int | None":
    """OIDC Core §3.1.2.1: prompt=login is max_age 0 (a sign-in for this request), which also makes the
    provider name its sign-in's time (auth_time) in the id_token, where the callback checks it."""
    if max_age is not None and (not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0):
        raise ConfigurationError("max_age is a number of seconds", reason="invalid_max_age", parameter="max_age")
    return 0 if prompt == "login" else max_age
