"""Per-route CORS (SECURITY.md P14): the token, revocation, userinfo and API
endpoints answer the registered origins only, discovery and JWKS anyone, and
the authorization endpoint and login pages nobody (RFC 9700 §2.6)."""

from collections.abc import Awaitable, Callable, Collection

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response

Endpoint = Callable[[Request], Awaitable[Response]]


def cors_route(path: str, endpoint: Endpoint, methods: list[str], origins: Collection[str]) -> Route:
    app = CORSMiddleware(
        request_response(endpoint),
        allow_origins=list(origins),
        allow_methods=methods,
        allow_headers=["authorization", "content-type"],
        # RFC 6750 §3: the SPA reads the error code from WWW-Authenticate, which CORS hides by default.
        expose_headers=["WWW-Authenticate"],
        # Credentials (cookies) are never needed: tokens travel in headers and bodies.
        allow_credentials=False,
        max_age=600,
    )
    return Route(path, app, methods=[*methods, "OPTIONS"])
