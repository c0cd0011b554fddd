"""Endpoints called with fetch or by servers: discovery, JWKS, token, revocation,
introspection, userinfo, and the demo API. They answer JSON, never pages."""

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..requestlog import parse_since
from . import params
from .context import Provider, provider_of
from .core import client_auth, dpop, grants
from .core.claims import profile_claims
from .core.errors import InvalidClient, InvalidDPoPProof, InvalidRequest, InvalidToken, OAuthError, UseDPoPNonce
from .core.metadata import server_metadata
from .core.records import Client
from .dpop import RESOURCE, TOKEN_ENDPOINT, uses_dpop
from .issuance import TokenResponse

# RFC 6749 §5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 6750 §2.1, RFC 9449 §7.1: the scheme, then a b64token / token68.
_CREDENTIAL = re.compile(r"(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)

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


async def health_live(request: Request) -> Response:
    """For a load balancer or an orchestrator: the process answers HTTP (liveness)."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


async def health_ready(request: Request) -> Response:
    """Readiness: the store answers and holds a signing key. Off the event loop, like every slow call."""
    ready = await run_in_threadpool(provider_of(request).store.ready)
    body = {"status": "ready"} if ready else {"status": "unavailable", "reason": "the database does not answer"}
    return JSONResponse(body, 200 if ready else 503, headers=NO_STORE)


async def jwks(request: Request) -> Response:
    provider = provider_of(request)
    # Off the event loop: now and then it reads the published keys again (keys.KeyRing.reload).
    return JSONResponse(await provider.store.call_read(provider.issuer.keys.public_jwks, provider.clock()))


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


def _client_error(request: Request, exc: OAuthError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    # RFC 6749 §5.2: a failed Basic authentication answers 401 with a Basic challenge.
    if isinstance(exc, InvalidClient) and "authorization" in request.headers:
        return oauth_error(exc, {"WWW-Authenticate": 'Basic realm="spalab"', **(headers or {})})
    return oauth_error(exc, headers)


async def token(request: Request) -> Response:
    provider = provider_of(request)
    now = provider.clock()
    try:
        provider, form, client = await _client_request(request)
        # Off the event loop: the grant decided and its tokens recorded as one unit near the database,
        # then signed on another thread (issuance.TokenResponse).
        body = await provider.store.call(
            _token_grant,
            provider,
            request,
            form,
            client,
            now,
            after=lambda unsigned: unsigned.signed(provider.issuer.keys),
        )
    except OAuthError as exc:
        return _client_error(request, exc, provider.dpop.response_headers(request, TOKEN_ENDPOINT, now))
    return JSONResponse(body, headers={**NO_STORE, **provider.dpop.response_headers(request, TOKEN_ENDPOINT, now)})


def _token_grant(provider: Provider, request: Request, form: dict[str, str], client: Client, now: int) -> TokenResponse:
    grant_type = grants.validate_grant_type(form)
    # RFC 9449 §5: the proof is checked in full, and the client's policy applied, before the grant is
    # looked at; only then is its jti spent (docs/SECURITY.md P30, P31, P34).
    proof = provider.dpop.check(request, now, TOKEN_ENDPOINT)
    dpop.require_proof(client, proof)
    provider.dpop.spend(proof, now)
    if grant_type == "authorization_code":
        return provider.issuer.exchange_code(form, client, now, proof)
    return provider.issuer.refresh(form, client, now, proof)


async def revoke(request: Request) -> Response:
    try:
        provider, form, client = await _client_request(request)
        # RFC 7009 §2.1: token is required.
        if "token" not in form:
            raise InvalidRequest("token is required")
        await provider.store.call(provider.issuer.revoke, form["token"], client, provider.clock())
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
        body = await provider.store.call_read(provider.issuer.introspect, form["token"], client, provider.clock())
    except OAuthError as exc:
        return _client_error(request, exc)
    return JSONResponse(body, headers=NO_STORE)


# --- protected resources: Bearer and DPoP --------------------------------------------


def presented_token(request: Request) -> tuple[str, str]:
    """The access token and its scheme (dpop.BEARER or dpop.DPOP), from the one Authorization header."""
    # RFC 6750 §2.3 / docs/SECURITY.md P17: tokens in the URL end up in logs and Referer.
    query = request.scope.get("query_string", b"").decode("latin-1")
    if any(name == "access_token" for name, _ in parse_qsl(query, keep_blank_values=True)):
        raise InvalidRequest("send the access token in the Authorization header, not the URL")
    values = request.headers.getlist("authorization")
    if not values:
        raise InvalidToken("")
    if len(values) > 1:
        raise InvalidRequest("more than one Authorization header")
    match = _CREDENTIAL.fullmatch(values[0])
    if match is None:
        raise InvalidToken("the Authorization header must be: Bearer <token>, or DPoP <token>")
    return match.group(1).lower(), match.group(2)


def _challenge(exc: OAuthError, scope: str | None, dpop_used: bool) -> dict[str, str]:
    """RFC 6750 §3, RFC 9449 §7.1: WWW-Authenticate with the error code (none when no token was sent): in the
    DPoP scheme when the request used DPoP or the token is DPoP-bound, else Bearer; both when nothing was sent."""
    algs = f'algs="{" ".join(dpop.ALGORITHMS)}"'
    if isinstance(exc, InvalidToken) and not exc.description:
        return {"WWW-Authenticate": f'Bearer realm="spalab", DPoP realm="spalab", {algs}'}
    parts = ['DPoP realm="spalab"' if dpop_used else 'Bearer realm="spalab"', f'error="{exc.error}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if dpop_used:
        parts.append(algs)
    return {"WWW-Authenticate": ", ".join(parts)}


def _resource_error(exc: OAuthError, scope: str | None, dpop_used: bool, headers: dict[str, str]) -> JSONResponse:
    # RFC 9449 §7.1, §9: a protected resource answers a bad or nonce-less proof with 401 and a DPoP challenge.
    status = 401 if isinstance(exc, (InvalidDPoPProof, UseDPoPNonce)) else exc.status_code
    return error_json(exc.error, exc.description, status, {**_challenge(exc, scope, dpop_used), **headers})


Handler = Callable[[Provider, dict[str, Any]], Awaitable[dict[str, Any] | list[Any]]]


async def _protected(request: Request, scope: str | None, handler: Handler) -> Response:
    provider = provider_of(request)
    now = provider.clock()
    dpop_used = uses_dpop(request)
    try:
        scheme, token = presented_token(request)
        # A Bearer token is only read; a DPoP proof is spent (a write).
        check = provider.store.call if scheme == dpop.DPOP else provider.store.call_read
        claims = await check(_check_resource_request, provider, request, scheme, token, scope, now)
    except _Refused as refused:
        headers = provider.dpop.response_headers(request, RESOURCE, now)
        return _resource_error(refused.error, scope, refused.dpop_used, headers)
    except OAuthError as exc:
        return _resource_error(exc, scope, dpop_used, provider.dpop.response_headers(request, RESOURCE, now))
    headers = {**NO_STORE, **provider.dpop.response_headers(request, RESOURCE, now)}
    return JSONResponse(await handler(provider, claims), headers=headers)


class _Refused(Exception):
    def __init__(self, error: OAuthError, dpop_used: bool) -> None:
        self.error, self.dpop_used = error, dpop_used


def _check_resource_request(
    provider: Provider, request: Request, scheme: str, token: str, scope: str | None, now: int
) -> dict[str, Any]:
    """The token and its proof, checked off the event loop (signature, revocation, the proof's jti spent)."""
    dpop_used = uses_dpop(request)
    try:
        claims = provider.issuer.verify_access_token(token, now)
        bound_jkt = dpop.token_binding(claims)
        dpop_used = scheme == dpop.DPOP or bound_jkt is not None
        # RFC 9449 §7.1: under the DPoP scheme the proof is checked in full, ath included; a DPoP header
        # beside a Bearer credential is not looked at (check_presentation refuses a bound token there).
        proof = provider.dpop.check(request, now, RESOURCE, token) if scheme == dpop.DPOP else None
        dpop.check_presentation(scheme, bound_jkt, proof)
        provider.dpop.spend(proof, now)
        provider.issuer.check_scope(claims, scope)
    except OAuthError as exc:
        raise _Refused(exc, dpop_used) from None
    return claims


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
