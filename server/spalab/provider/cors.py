"""Per-route CORS (docs/SECURITY.md P14): the token, revocation, userinfo and API
endpoints answer the registered origins only, discovery and JWKS anyone, and
the authorization endpoint and login pages nobody (RFC 9700 §2.6)."""

from collections.abc import Awaitable, Callable, Collection

from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response

Endpoint = Callable[[Request], Awaitable[Response]]


def cors_route(path: str, endpoint: Endpoint, methods: list[str], origins: Collection[str]) -> Route:
    app = CORSMiddleware(
        request_response(_preflight_only_options(endpoint, methods)),
        allow_origins=list(origins),
        allow_methods=methods,
        # RFC 9449 §4.1: a DPoP client sends its proof in the DPoP header.
        allow_headers=["authorization", "content-type", "dpop"],
        # RFC 6750 §3: the SPA reads the error code from WWW-Authenticate, which CORS hides by default;
        # RFC 9449 §8, §9: and the server's nonce from DPoP-Nonce.
        expose_headers=["WWW-Authenticate", "DPoP-Nonce"],
        # Credentials (cookies) are never needed: tokens travel in headers and bodies.
        allow_credentials=False,
        max_age=600,
    )
    return Route(path, app, methods=[*methods, "OPTIONS"])


def _preflight_only_options(endpoint: Endpoint, methods: list[str]) -> Endpoint:
    """OPTIONS is on the route for CORS preflights, which CORSMiddleware answers itself. Any other
    OPTIONS reaches here: RFC 9110 §9.3.7 makes it a question about the resource, never a call of
    it (a revocation or introspection sent as OPTIONS must not run)."""

    async def guarded(request: Request) -> Response:
        if request.method == "OPTIONS":
            raise HTTPException(405, headers={"Allow": ", ".join([*methods, "OPTIONS"])})
        return await endpoint(request)

    return guarded
