"""Endpoints called with fetch or by servers: discovery, JWKS, token, revocation,
introspection, userinfo, and the demo API. They answer JSON, never pages."""

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..requestlog import parse_since
from . import params
from .context import Provider, provider_of
from .core import client_auth, grants
from .core.claims import profile_claims
from .core.errors import InvalidClient, InvalidRequest, InvalidToken, OAuthError
from .core.metadata import server_metadata
from .core.records import Client

# RFC 6749 §5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 6750 §2.1: b64token syntax.
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*)$", re.IGNORECASE)

DEMO_CONTACTS = {
    "alice": [
        {"name": "White Rabbit", "email": "rabbit@example.test"},
        {"name": "Mad Hatter", "email": "hatter@example.test"},
        {"name": "Cheshire Cat", "email": "cat@example.test"},
    ],
    "bob": [{"name": "Wendy", "email": "wendy@example.test"}],
}


def error_json(
    error: str, description: str = "", status_code: int = 400, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """RFC 6749 §5.2: the one shape of every JSON error this provider sends; never cached."""
    body = {"error": error, "error_description": description} if description else {"error": error}
    return JSONResponse(body, status_code, headers={**NO_STORE, **(headers or {})})


def oauth_error(exc: OAuthError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return error_json(exc.error, exc.description, exc.status_code, headers)


async def metadata(request: Request) -> Response:
    config = provider_of(request).config
    return JSONResponse(server_metadata(config.issuer, config.clients.values()))


async def jwks(request: Request) -> Response:
    return JSONResponse(provider_of(request).issuer.keys.public_jwks())


async def _client_request(request: Request) -> tuple[Provider, dict[str, str], Client]:
    """Parses a form POST and authenticates the client (RFC 6749 §2.3, §3.2)."""
    provider = provider_of(request)
    # RFC 6749 §3.2: parameters travel in the body; credentials never in the URL.
    if request.scope.get("query_string"):
        raise InvalidRequest("parameters belong in the request body, not the URL")
    authorizations = request.headers.getlist("authorization")
    if len(authorizations) > 1:
        raise InvalidRequest("more than one Authorization header")
    form = params.single(await params.form_params(request))
    client = client_auth.authenticate_client(
        provider.config.clients, form, authorizations[0] if authorizations else None
    )
    client_auth.check_browser_origin(client, request.headers.get("origin"))
    return provider, form, client


def _client_error(request: Request, exc: OAuthError) -> JSONResponse:
    # RFC 6749 §5.2: a failed Basic authentication answers 401 with a Basic challenge.
    if isinstance(exc, InvalidClient) and "authorization" in request.headers:
        return oauth_error(exc, {"WWW-Authenticate": 'Basic realm="spalab"'})
    return oauth_error(exc)


async def token(request: Request) -> Response:
    try:
        provider, form, client = await _client_request(request)
        grant_type = grants.validate_grant_type(form)
        now = provider.clock()
        if grant_type == "authorization_code":
            body = provider.issuer.exchange_code(form, client, now)
        else:
            body = provider.issuer.refresh(form, client, now)
    except OAuthError as exc:
        return _client_error(request, exc)
    return JSONResponse(body, headers=NO_STORE)


async def revoke(request: Request) -> Response:
    try:
        provider, form, client = await _client_request(request)
        # RFC 7009 §2.1: token is required.
        if "token" not in form:
            raise InvalidRequest("token is required")
        provider.issuer.revoke(form["token"], client, provider.clock())
    except OAuthError as exc:
        return _client_error(request, exc)
    # RFC 7009 §2.2: 200 whether or not the token was valid.
    return Response(status_code=200, headers=NO_STORE)


async def introspect(request: Request) -> Response:
    try:
        provider, form, client = await _client_request(request)
        grants.check_introspection_caller(client)
        if "token" not in form:
            raise InvalidRequest("token is required")
        body = provider.issuer.introspect(form["token"], client, provider.clock())
    except OAuthError as exc:
        return _client_error(request, exc)
    return JSONResponse(body, headers=NO_STORE)


# --- bearer-protected resources ------------------------------------------------------


def bearer_token(request: Request) -> str:
    # RFC 6750 §2.3 / docs/SECURITY.md P17: tokens in the URL end up in logs and Referer.
    query = request.scope.get("query_string", b"").decode("latin-1")
    if any(name == "access_token" for name, _ in parse_qsl(query, keep_blank_values=True)):
        raise InvalidRequest("send the access token in the Authorization header, not the URL")
    values = request.headers.getlist("authorization")
    if not values:
        raise InvalidToken("")
    if len(values) > 1:
        raise InvalidRequest("more than one Authorization header")
    match = _BEARER.match(values[0])
    if match is None:
        raise InvalidToken("the Authorization header must be: Bearer <token>")
    return match.group(1)


def _challenge(exc: OAuthError, scope: str | None) -> dict[str, str]:
    """RFC 6750 §3: WWW-Authenticate with the error code (none when no token was sent)."""
    parts = ['Bearer realm="spalab"']
    if exc.description or not isinstance(exc, InvalidToken):
        parts.append(f'error="{exc.error}"')
    if scope:
        parts.append(f'scope="{scope}"')
    return {"WWW-Authenticate": ", ".join(parts)}


Handler = Callable[[Provider, dict[str, Any]], Awaitable[dict[str, Any] | list[Any]]]


async def _protected(request: Request, scope: str | None, handler: Handler) -> Response:
    provider = provider_of(request)
    try:
        claims = provider.issuer.authenticate_bearer(bearer_token(request), provider.clock(), scope)
    except OAuthError as exc:
        return oauth_error(exc, _challenge(exc, scope))
    return JSONResponse(await handler(provider, claims), headers=NO_STORE)


async def _me(provider: Provider, claims: dict[str, Any]) -> dict[str, Any]:
    user = provider.config.users.get(str(claims["sub"]))
    return {
        "sub": claims["sub"],
        "name": user.claims.get("name") if user else None,
        "client_id": claims["client_id"],
        "scope": claims["scope"],
        "expires_at": claims["exp"],
    }


async def _contacts(provider: Provider, claims: dict[str, Any]) -> dict[str, Any]:
    return {"contacts": DEMO_CONTACTS.get(str(claims["sub"]), [])}


async def _userinfo(provider: Provider, claims: dict[str, Any]) -> dict[str, Any]:
    user = provider.config.users.get(str(claims["sub"]))
    scopes = str(claims.get("scope", "")).split()
    # OIDC Core §5.3.2: sub always, other claims as the scopes allow.
    return {"sub": claims["sub"], **profile_claims(scopes, user.claims if user else {})}


async def api_me(request: Request) -> Response:
    return await _protected(request, None, _me)


async def api_contacts(request: Request) -> Response:
    return await _protected(request, "contacts.read", _contacts)


async def userinfo(request: Request) -> Response:
    # OIDC Core §5.3.1: userinfo needs the openid scope.
    return await _protected(request, "openid", _userinfo)


async def request_log(request: Request) -> Response:
    log = provider_of(request).request_log
    try:
        since = parse_since(params.query_params(request).get("since", []))
    except InvalidRequest:
        since = None
    if since is None:
        return error_json("invalid_request", "since must be a number")
    body = {"server": "provider", "entries": log.since(since) if log else [], "last_seq": log.last_seq if log else 0}
    return JSONResponse(body, headers=NO_STORE)
