"""A backend-for-frontend (issue 12; draft-ietf-oauth-browser-based-apps §6.1): a confidential OAuth
client on the SPA host. The page never sees a token: it signs in through /bff/login, and calls the API
through /bff/api/..., which adds the access token here and refreshes it when it is due.

- /bff/login      starts the code flow: PKCE (S256), state, nonce; the client authenticates with its secret.
- /bff/callback   checks state and iss, exchanges the code, validates the id_token (joserfc, the JWKS).
- /bff/session    who is signed in (no tokens).
- /bff/api/<path> GET, proxied to the provider's API with the access token.
- /bff/logout     POST: revokes the tokens, forgets the session.

Sessions live in this process's memory (a demo host: a restart signs everyone out), keyed by a random
256-bit id in an HttpOnly, SameSite=Strict cookie named `__Host-spalab-bff` (Secure). On plain http
the `__Host-` prefix needs a browser that accepts Secure cookies from http://localhost; one that drops
them gets `spalab-bff` instead (not Secure, no prefix), on loopback http only: the callback sees which
of the two transaction cookies came back (docs/SECURITY.md H3).

The routes that answer with data or change anything (session, api, logout) take a request only with
the header `X-Spalab-BFF: 1` (cross-origin, a custom header needs a CORS preflight, which this host
never answers) and with `Sec-Fetch-Site: same-origin` or this host's `Origin` (H4)."""

import asyncio
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..hosts import host_name
from ..provider.core.pkce import s256_challenge

logger = logging.getLogger("spalab.bff")

SESSION_COOKIE = "__Host-spalab-bff"
FALLBACK_SESSION_COOKIE = "spalab-bff"  # browsers that drop Secure cookies on http://localhost
TX_COOKIE = "__Host-spalab-bff-tx"
FALLBACK_TX_COOKIE = "spalab-bff-tx"
CSRF_HEADER = "x-spalab-bff"

PENDING_LIFETIME = 600  # seconds from /bff/login to /bff/callback
SESSION_LIFETIME = 8 * 3600
MAX_ENTRIES = 10_000  # per table: a flood of sign-ins evicts the oldest, memory stays bounded
REFRESH_EARLY = 30  # refresh an access token this many seconds before it expires
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
# The API paths the proxy forwards: plain segments, no dot-segments, no encoded characters.
API_PATH = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")
# Errors the page may be told about after a callback (a fixed list: nothing from the request is reflected).
CALLBACK_ERRORS = frozenset(
    {
        "no_transaction",
        "state_mismatch",
        "issuer_mismatch",
        "access_denied",
        "authorization_error",
        "invalid_request",
        "token_error",
        "id_token_invalid",
        "provider_unavailable",
    }
)
NO_STORE = {"Cache-Control": "no-store"}
REQUIRED_METADATA = ("authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True)
class BFFSettings:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    origin: str  # the SPA host's origin, where the browser sees /bff/
    api_base: str  # the provider's API, e.g. <issuer>/api
    scope: str = "openid profile email contacts.read"

    @property
    def redirect_uri(self) -> str:
        return self.origin + "/bff/callback"

    @property
    def secure_cookies(self) -> bool:
        """Browsers keep Secure cookies set over https, and most over http://localhost too."""
        parts = urlsplit(self.origin)
        return parts.scheme == "https" or host_name(parts.netloc) in LOOPBACK_NAMES

    @property
    def fallback_allowed(self) -> bool:
        """The unprefixed, non-Secure cookie: on plain http only, never over https."""
        return urlsplit(self.origin).scheme == "http"


class BFFError(Exception):
    """A refusal, answered as JSON: `error` (a code), `status_code`, `description`."""

    error = "invalid_request"
    status_code = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class CSRFRefused(BFFError):
    error = "csrf_refused"
    status_code = 403


class NotSignedIn(BFFError):
    error = "not_signed_in"
    status_code = 401


class NotFound(BFFError):
    error = "not_found"
    status_code = 404


class MethodNotAllowed(BFFError):
    error = "method_not_allowed"
    status_code = 405


class ProviderError(BFFError):
    error = "provider_error"
    status_code = 502


class CallbackError(Exception):
    """A sign-in that failed at the callback; `code` is one of CALLBACK_ERRORS."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Pending:
    state: str = field(repr=False)
    verifier: str = field(repr=False)
    nonce: str = field(repr=False)
    created: float


@dataclass
class Session:
    sub: str
    claims: dict[str, Any]
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    scope: str
    created: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


T = TypeVar("T")


class Table(Generic[T]):
    """Entries by random id, each for `lifetime` seconds, at most MAX_ENTRIES (oldest evicted)."""

    def __init__(self, lifetime: float, clock: Callable[[], float], created: Callable[[T], float]) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self.created = created
        self.entries: OrderedDict[str, T] = OrderedDict()

    def add(self, entry: T) -> str:
        self.purge()
        key = secrets.token_urlsafe(32)  # 256 bits
        self.entries[key] = entry
        while len(self.entries) > MAX_ENTRIES:
            self.entries.popitem(last=False)
        return key

    def get(self, key: str | None) -> T | None:
        entry = self.entries.get(key) if key else None
        if entry is None or self.clock() - self.created(entry) > self.lifetime:
            return None
        return entry

    def pop(self, key: str | None) -> T | None:
        entry = self.get(key)
        if key:
            self.entries.pop(key, None)
        return entry

    def purge(self) -> None:
        now = self.clock()
        while self.entries:
            key, entry = next(iter(self.entries.items()))
            if now - self.created(entry) <= self.lifetime:
                return
            del self.entries[key]


class ProviderClient:
    """The provider's endpoints, found by discovery (read once), over one httpx client."""

    def __init__(self, settings: BFFSettings, transport: httpx.AsyncBaseTransport | None) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(transport=transport, timeout=10, follow_redirects=False)
        self.metadata: dict[str, Any] | None = None
        self.keys: KeySet | None = None

    async def discover(self) -> dict[str, Any]:
        if self.metadata is None:
            url = self.settings.issuer + "/.well-known/openid-configuration"
            metadata = (await self._get_json(url)) or {}
            # RFC 8414 §3.3: the document must be the configured issuer's.
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.settings.issuer:
                raise ProviderError("the discovery document names another issuer")
            if not all(isinstance(metadata.get(k), str) for k in REQUIRED_METADATA):
                raise ProviderError("the discovery document lacks an endpoint the BFF needs")
            self.metadata = metadata
        return self.metadata

    async def key_set(self, refresh: bool = False) -> KeySet:
        if self.keys is None or refresh:
            jwks = await self._get_json(str((await self.discover())["jwks_uri"]))
            try:
                self.keys = KeySet.import_key_set(jwks)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise ProviderError("the provider's JWKS cannot be read") from exc
        return self.keys

    async def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """A token request, the client authenticating with its secret (RFC 6749 §2.3.1, client_secret_basic)."""
        return await self._post(str((await self.discover())["token_endpoint"]), form)

    async def revoke(self, token: str, hint: str) -> None:
        endpoint = (await self.discover()).get("revocation_endpoint")
        if isinstance(endpoint, str):
            await self._post(endpoint, {"token": token, "token_type_hint": hint})

    async def api_get(self, path: str, access_token: str) -> httpx.Response:
        url = f"{self.settings.api_base}/{path}"
        try:
            return await self.http.get(url, headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise ProviderError("the API cannot be reached") from exc

    async def _post(self, url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        # RFC 6749 §2.3.1: client_id and secret are form-urlencoded before they go into Basic credentials.
        auth = httpx.BasicAuth(quote(self.settings.client_id, safe=""), quote(self.settings.client_secret, safe=""))
        try:
            response = await self.http.post(url, data=form, auth=auth)
            body = response.json() if response.content else {}
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(f"{url} did not answer with JSON") from exc
        return response.status_code, body if isinstance(body, dict) else {}

    async def _get_json(self, url: str) -> Any:
        try:
            response = await self.http.get(url)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(f"{url} did not answer with JSON") from exc


def check_same_origin(request: Request, origin: str) -> None:
    """The BFF's CSRF defence, for every route that answers with data or changes anything."""
    # docs/SECURITY.md H4: the custom header, and the browser's word that the request is same-origin.
    # A custom header: cross-origin, it makes the browser ask a CORS preflight, which this host never answers.
    if request.headers.getlist(CSRF_HEADER) != ["1"]:
        raise CSRFRefused("the X-Spalab-BFF: 1 header is required")
    sites = request.headers.getlist("sec-fetch-site")
    origins = request.headers.getlist("origin")
    # Fetch Metadata / RFC 6454: the browser says where the request comes from; one of them must be sent.
    if not sites and not origins:
        raise CSRFRefused("neither Sec-Fetch-Site nor Origin was sent")
    if any(site != "same-origin" for site in sites):
        raise CSRFRefused("the request does not come from this origin (Sec-Fetch-Site)")
    if any(sent != origin for sent in origins):
        raise CSRFRefused("the request does not come from this origin (Origin)")


def single(request: Request, name: str) -> str | None:
    """A query parameter sent at most once (RFC 6749 §3.1: parameters must not repeat)."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise CallbackError("invalid_request")
    return values[0] if values else None


class BFF:
    """The BFF's state (sessions, sign-ins in progress) and its route handlers."""

    def __init__(
        self,
        settings: BFFSettings,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.provider = ProviderClient(settings, transport)
        self.pending: Table[Pending] = Table(PENDING_LIFETIME, clock, lambda p: p.created)
        self.sessions: Table[Session] = Table(SESSION_LIFETIME, clock, lambda s: s.created)

    def routes(self) -> list[Route]:
        return [
            Route("/bff/login", self.login, methods=["GET"]),
            Route("/bff/callback", self.callback, methods=["GET"]),
            Route("/bff/session", _json(self.session, "GET")),
            Route("/bff/api/{path:path}", _json(self.api, "GET")),
            Route("/bff/logout", _json(self.logout, "POST")),
        ]

    # --- sign-in --------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        # A new sign-in replaces this browser's session: the old one's tokens do not linger.
        await self._revoke(self._forget(request))
        try:
            endpoint = str((await self.provider.discover())["authorization_endpoint"])
        except (ProviderError, KeyError):
            return _to_page("provider_unavailable")
        pending = Pending(secrets.token_urlsafe(32), secrets.token_urlsafe(48), secrets.token_urlsafe(32), self.clock())
        tx = self.pending.add(pending)
        params = {
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.redirect_uri,
            "response_type": "code",
            "scope": self.settings.scope,
            "state": pending.state,
            "nonce": pending.nonce,
            # RFC 9700 §2.1.1: PKCE for confidential clients too.
            "code_challenge": s256_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        response = RedirectResponse(f"{endpoint}?{urlencode(params)}", status_code=302, headers=NO_STORE)
        # The transaction cookie comes back on the provider's cross-site redirect: SameSite=Lax, not Strict.
        for name, secure in self._cookie_names(TX_COOKIE, FALLBACK_TX_COOKIE):
            response.set_cookie(
                name, tx, max_age=PENDING_LIFETIME, path="/", secure=secure, httponly=True, samesite="lax"
            )
        return response

    async def callback(self, request: Request) -> Response:
        tx, secure = self._cookie(request, TX_COOKIE, FALLBACK_TX_COOKIE)
        try:
            session = await self._finish_sign_in(request, self.pending.pop(tx))
        except CallbackError as error:
            response = _to_page(error.code)
        else:
            response = RedirectResponse("/bff/", status_code=303, headers=NO_STORE)
            # A new id at every sign-in (no session fixation).
            self._set_session_cookie(response, self.sessions.add(session), secure)
        for name, flag in self._cookie_names(TX_COOKIE, FALLBACK_TX_COOKIE):
            response.delete_cookie(name, path="/", secure=flag, httponly=True, samesite="lax")
        return response

    async def _finish_sign_in(self, request: Request, pending: Pending | None) -> Session:
        # docs/SECURITY.md H5: this browser's transaction, its state, the issuer, then the code and the id_token.
        # RFC 6749 §10.12: the response must belong to a sign-in this browser started.
        if pending is None:
            raise CallbackError("no_transaction")
        state, code, iss, error = (single(request, n) for n in ("state", "code", "iss", "error"))
        # RFC 6749 §4.1.2: state echoed exactly; checked before anything else in the response is used.
        if state is None or not secrets.compare_digest(state.encode(), pending.state.encode()):
            raise CallbackError("state_mismatch")
        # RFC 9207 §2.4: the issuer identifies itself in the response (mix-up defence).
        if iss != self.settings.issuer:
            raise CallbackError("issuer_mismatch")
        if error is not None:
            raise CallbackError("access_denied" if error == "access_denied" else "authorization_error")
        if not code:
            raise CallbackError("invalid_request")
        tokens = await self._exchange(code, pending)
        claims = await self._validate_id_token(tokens.get("id_token"), pending.nonce)
        return self._new_session(claims, tokens)

    async def _exchange(self, code: str, pending: Pending) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
            "code_verifier": pending.verifier,
        }
        try:
            status, tokens = await self.provider.token(form)
        except ProviderError as exc:
            raise CallbackError("provider_unavailable") from exc
        # RFC 6749 §5.1: a Bearer access token (RFC 6750).
        if status != 200 or not isinstance(tokens.get("access_token"), str):
            raise CallbackError("token_error")
        if str(tokens.get("token_type", "")).lower() != "bearer":
            raise CallbackError("token_error")
        return tokens

    async def _validate_id_token(self, id_token: object, nonce: str) -> dict[str, Any]:
        """OpenID Connect Core §3.1.3.7: signature (the provider's JWKS), iss, aud, exp, iat, nonce."""
        if not isinstance(id_token, str):
            raise CallbackError("id_token_invalid")
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self.clock()),
            leeway=60,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            for refresh in (False, True):  # a key rotated at the provider: read the JWKS once more
                try:
                    token = jwt.decode(id_token, await self.provider.key_set(refresh), algorithms=["RS256"])
                    break
                except JoseError:
                    if refresh:
                        raise
            registry.validate(token.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise CallbackError("id_token_invalid") from exc
        except ProviderError as exc:
            raise CallbackError("provider_unavailable") from exc
        return dict(token.claims)

    def _new_session(self, claims: dict[str, Any], tokens: dict[str, Any]) -> Session:
        expires_in = tokens.get("expires_in")
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 300
        refresh = tokens.get("refresh_token")
        now = self.clock()
        shown = {k: claims[k] for k in ("name", "email") if isinstance(claims.get(k), str)}
        return Session(
            str(claims["sub"]),
            shown,
            str(tokens["access_token"]),
            refresh if isinstance(refresh, str) else None,
            now + lifetime,
            str(tokens.get("scope", self.settings.scope)),
            now,
        )

    # --- the page's calls -------------------------------------------------------------------------

    async def session(self, request: Request) -> Response:
        check_same_origin(request, self.settings.origin)
        session = self._session(request)
        if session is None:
            return JSONResponse({"signed_in": False}, headers=NO_STORE)
        body = {"signed_in": True, "sub": session.sub, **session.claims, "scope": session.scope}
        return JSONResponse({**body, "expires_at": int(session.expires_at)}, headers=NO_STORE)

    async def api(self, request: Request) -> Response:
        check_same_origin(request, self.settings.origin)
        path = request.path_params["path"]
        # docs/SECURITY.md H5: plain paths under the API base only, never another endpoint of the provider.
        if not API_PATH.fullmatch(path):
            raise NotFound("the API has no such path")
        session = self._session(request)
        if session is None:
            raise NotSignedIn("sign in first")
        async with session.lock:  # one refresh at a time: a rotated refresh token is presented once
            if self.clock() >= session.expires_at - REFRESH_EARLY:
                await self._refresh(request, session)
            answer = await self.provider.api_get(path, session.access_token)
            if answer.status_code == 401 and session.refresh_token:
                await self._refresh(request, session)
                answer = await self.provider.api_get(path, session.access_token)
        if answer.status_code == 401:
            self._forget(request)
            raise NotSignedIn("the provider no longer accepts this session's tokens")
        if not answer.headers.get("content-type", "").startswith("application/json"):
            raise ProviderError("the API did not answer with JSON")
        return Response(answer.content, answer.status_code, headers=NO_STORE, media_type="application/json")

    async def _refresh(self, request: Request, session: Session) -> None:
        """RFC 6749 §6, server-side; a refused refresh token ends the session."""
        if session.refresh_token is None:
            self._forget(request)
            raise NotSignedIn("the access token expired and there is no refresh token")
        status, tokens = await self.provider.token(
            {"grant_type": "refresh_token", "refresh_token": session.refresh_token}
        )
        if status != 200 or not isinstance(tokens.get("access_token"), str):
            self._forget(request)
            raise NotSignedIn("the provider refused the refresh token")
        expires_in = tokens.get("expires_in")
        session.access_token = tokens["access_token"]
        session.expires_at = self.clock() + (expires_in if isinstance(expires_in, int) and expires_in > 0 else 300)
        if isinstance(tokens.get("refresh_token"), str):  # RFC 9700 §4.14.2: rotated
            session.refresh_token = tokens["refresh_token"]

    async def logout(self, request: Request) -> Response:
        check_same_origin(request, self.settings.origin)
        await self._revoke(self._forget(request))
        response = JSONResponse({"signed_in": False}, headers=NO_STORE)
        for name, secure in self._cookie_names(SESSION_COOKIE, FALLBACK_SESSION_COOKIE):
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")
        return response

    async def _revoke(self, session: Session | None) -> None:
        """RFC 7009: the refresh token first (revoking it ends the family), then the access token."""
        # docs/SECURITY.md H6: tokens a session leaves behind are revoked, not only forgotten.
        if session is None:
            return
        try:
            if session.refresh_token:
                await self.provider.revoke(session.refresh_token, "refresh_token")
            await self.provider.revoke(session.access_token, "access_token")
        except ProviderError:
            logger.warning("bff: revocation failed; the session is forgotten here anyway")

    # --- cookies ------------------------------------------------------------------------------------

    def _cookie_names(self, prefixed: str, fallback: str) -> list[tuple[str, bool]]:
        names = [(prefixed, True)] if self.settings.secure_cookies else []
        return names + ([(fallback, False)] if self.settings.fallback_allowed else [])

    def _cookie(self, request: Request, prefixed: str, fallback: str) -> tuple[str | None, bool]:
        """The cookie's value and whether it came as the Secure `__Host-` one."""
        for name, secure in self._cookie_names(prefixed, fallback):
            value = request.cookies.get(name)
            if value:
                return value, secure
        return None, self.settings.secure_cookies

    def _set_session_cookie(self, response: Response, session_id: str, secure: bool) -> None:
        # docs/SECURITY.md H3: HttpOnly, SameSite=Strict, Path=/, host-only; Secure and __Host- where kept.
        name = SESSION_COOKIE if secure else FALLBACK_SESSION_COOKIE
        # No Max-Age: a browser-session cookie; the server forgets the session after SESSION_LIFETIME.
        response.set_cookie(name, session_id, path="/", secure=secure, httponly=True, samesite="strict")

    def _session(self, request: Request) -> Session | None:
        return self.sessions.get(self._cookie(request, SESSION_COOKIE, FALLBACK_SESSION_COOKIE)[0])

    def _forget(self, request: Request) -> Session | None:
        return self.sessions.pop(self._cookie(request, SESSION_COOKIE, FALLBACK_SESSION_COOKIE)[0])


class _json:  # noqa: N801 - used like a decorator
    """An ASGI endpoint (so that every method reaches it, and a wrong one, a CORS preflight too, gets a JSON
    405) taking `method` only (GET: HEAD too); a BFFError is answered as JSON; nothing else is caught."""

    def __init__(self, handler: Callable[[Request], Awaitable[Response]], method: str) -> None:
        self.handler = handler
        self.method = method
        self.allowed = ("GET", "HEAD") if method == "GET" else (method,)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(Request(scope, receive))
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        try:
            if request.method not in self.allowed:
                raise MethodNotAllowed(f"use {self.method}")
            return await self.handler(request)
        except BFFError as error:
            body = {"error": error.error, "error_description": error.description}
            # RFC 9110 §15.5.6: a 405 says which methods would work.
            allow = {"Allow": ", ".join(self.allowed)} if isinstance(error, MethodNotAllowed) else {}
            return JSONResponse(body, status_code=error.status_code, headers={**NO_STORE, **allow})


def _to_page(code: str) -> Response:
    return RedirectResponse(f"/bff/?error={code}", status_code=303, headers=NO_STORE)
