"""The provider as a Starlette app: routes assembled, state wired, errors mapped."""

import hashlib
import logging
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from ..hosts import TrustedHosts, provider_hosts
from ..lastresort import CatchUnexpected
from ..requestlog import RequestLog, RequestLogMiddleware
from . import backchannel, frontchannel
from .config import ProviderConfig
from .context import Clock, Provider, system_clock
from .core.errors import PageError
from .cors import cors_route
from .database import RETRY_AFTER, database_errors, unavailable
from .dpop import DPoPShell
from .issuance import Issuer
from .keys import KEY_RELOAD, KeyRing
from .pages import error_page
from .purge import PurgeMiddleware, Purger
from .store import SQLITE_FILE, Store

logger = logging.getLogger("spalab.provider")


def create_provider_app(
    config: ProviderConfig,
    data_dir: Path,
    clock: Clock = system_clock,
    request_log: bool | None = None,
    database: str | None = None,
) -> Starlette:
    """`database`: a PostgreSQL URL (else the config's); without one, the SQLite file in `data_dir` (store.py)."""
    store = Store(database or config.database or data_dir / SQLITE_FILE)
    keys = KeyRing.load_or_create(store, clock())
    log_enabled = config.request_log if request_log is None else request_log
    log = RequestLog("provider") if log_enabled else None
    provider = Provider(
        config=config,
        store=store,
        issuer=Issuer(config, store, keys),
        clock=clock,
        request_log=log,
        # docs/SECURITY.md P10, P23: the key behind CSRF tokens and device cookies is kept in the store, so a
        # restart or another instance still honours the forms and device cookies it handed out.
        csrf_key=bytes.fromhex(store.provider_secret("csrf_key", secrets.token_hex(32))),
        cookie_suffix=hashlib.sha256(config.issuer.encode()).hexdigest()[:8],
        # docs/SECURITY.md P32: the nonce key is kept in the store too, so every instance issues and accepts
        # the same DPoP nonces.
        dpop=DPoPShell(
            config.issuer,
            store,
            bytes.fromhex(store.provider_secret("dpop_nonce_key", secrets.token_hex(32))),
            config.dpop_nonce,
        ),
    )
    app = Starlette(
        routes=_routes(config, log is not None),
        middleware=[
            Middleware(CatchUnexpected, server="provider", answer=_unexpected),
            # docs/SECURITY.md P28: a due purge starts only once the response is out (inside CatchUnexpected,
            # so a failing purge is logged by its type, never as a trace).
            Middleware(PurgeMiddleware, purger=Purger(store, clock, key_grace=key_grace(config))),
            # docs/SECURITY.md P24: before anything else, so that a rebinding page's request
            # reaches nothing (not even the log).
            Middleware(TrustedHosts, hosts=provider_hosts(config.issuer, config.allowed_hosts), refusal=_wrong_host),
            Middleware(RequestLogMiddleware, server="provider", log=log),
        ],
        exception_handlers={
            PageError: _page_error,
            HTTPException: _http_error,
            **{kind: _database_error for kind in database_errors()},
        },
    )
    # docs/SECURITY.md P24: Starlette's "/path/" ↔ "/path" redirect writes the request's Host into Location.
    app.router.redirect_slashes = False
    app.state.provider = provider
    return app


def key_grace(config: ProviderConfig) -> int:
    """docs/SECURITY.md P37: a replaced key is unpublished once its successor has signed this long: the longest
    lifetime of a JWT it may have signed, plus a reload interval (instances switch keys at the same time, but
    one may read the keys up to KEY_RELOAD late)."""
    return max(config.access_token_lifetime, config.id_token_lifetime) + KEY_RELOAD


def _routes(config: ProviderConfig, with_log: bool) -> list[Route | Mount]:
    origins = sorted(config.cors_origins)
    anyone = ["*"]
    routes: list[Route | Mount] = [
        Route("/", frontchannel.home),
        Route("/authorize", frontchannel.authorize, methods=["GET", "POST"]),
        Route("/login", frontchannel.login_page, methods=["GET"]),
        Route("/login", frontchannel.login, methods=["POST"]),
        Route("/consent", frontchannel.consent, methods=["POST"]),
        Route("/logout", frontchannel.logout, methods=["POST"]),
        Route("/end-session", frontchannel.end_session, methods=["GET", "POST"]),
        cors_route("/.well-known/openid-configuration", backchannel.metadata, ["GET"], anyone),
        cors_route("/.well-known/oauth-authorization-server", backchannel.metadata, ["GET"], anyone),
        cors_route("/jwks", backchannel.jwks, ["GET"], anyone),
        Route("/health/live", backchannel.health_live, methods=["GET"]),
        Route("/health/ready", backchannel.health_ready, methods=["GET"]),
        cors_route("/token", backchannel.token, ["POST"], origins),
        cors_route("/revoke", backchannel.revoke, ["POST"], origins),
        cors_route("/introspect", backchannel.introspect, ["POST"], origins),
        cors_route("/userinfo", backchannel.userinfo, ["GET", "POST"], origins),
        cors_route("/api/me", backchannel.api_me, ["GET"], origins),
        cors_route("/api/contacts", backchannel.api_contacts, ["GET"], origins),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    if with_log:
        routes.append(cors_route("/_spalab/requests", backchannel.request_log, ["GET"], origins))
    return routes


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return error_page(exc.title, exc.detail, exc.status_code)


# Endpoints that answer JSON (docs/SECURITY.md P22): their errors are OAuth errors, never pages.
JSON_PATHS = (
    "/api/",
    "/token",
    "/revoke",
    "/introspect",
    "/userinfo",
    "/jwks",
    "/.well-known/",
    "/_spalab/",
    "/health/",
)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # RFC 9110 §15.5.6: a 405 carries the Allow header Starlette put on the exception.
    if request.url.path.startswith(JSON_PATHS):
        return backchannel.error_json("invalid_request", str(exc.detail), exc.status_code, exc.headers)
    return error_page("Not available", str(exc.detail), exc.status_code, headers=dict(exc.headers or {}))


async def _database_error(request: Request, exc: Exception) -> Response:
    """RFC 6749 §4.1.2.1 temporarily_unavailable, RFC 9110 §15.6.4: the database did not answer in time (its
    lock held past BUSY_TIMEOUT, the pool exhausted, the server gone): 503 with Retry-After, inside the route
    so that a cross-origin caller can read it (CORS). Nothing was decided, so the same request can be sent
    again. Any other database error is a bug: CatchUnexpected answers it (500)."""
    if not unavailable(exc):
        raise exc
    what = type(exc).__name__
    logger.warning("provider: the database did not answer %s %s (%s)", request.method, request.url.path, what)
    headers = {"Retry-After": str(RETRY_AFTER)}
    if request.url.path.startswith(JSON_PATHS):
        description = "the provider's database is busy; try again"
        return backchannel.error_json("temporarily_unavailable", description, 503, headers)
    return error_page("The provider is busy", "Please try again in a moment.", 503, headers=headers)


def _wrong_host(path: str, status_code: int, text: str) -> Response:
    # docs/SECURITY.md P22, P24: a refused Host gets the same kind of answer as any other bad request.
    if path.startswith(JSON_PATHS):
        return backchannel.error_json("invalid_request", text, status_code)
    return error_page("Wrong host name", text, status_code)


def _unexpected(scope: Scope) -> Response:
    # Last line of defence (docs/SECURITY.md P22): CatchUnexpected logged the type; no trace is shown.
    if scope["path"].startswith(JSON_PATHS):
        return backchannel.error_json("server_error", status_code=500)
    return error_page("Something went wrong", "The provider could not handle this request.", 500)
