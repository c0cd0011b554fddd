"""The SPA host: serves web/ and the pinned PyScript/Pyodide/MicroPython files
from web/node_modules, with a strict CSP and no Referer (SECURITY.md C8)."""

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .lab_pages import lab_routes
from .requestlog import RequestLog, RequestLogMiddleware

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

# Where each pinned runtime lives inside web/node_modules (see web/package.json).
VENDOR = {
    "pyscript": "@pyscript/core/dist",
    "pyodide": "pyodide",
    "micropython": "@micropython/micropython-webassembly-pyscript",
}

MIME_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
              ".py": "text/x-python", ".zip": "application/zip", ".json": "application/json",
              ".toml": "text/plain", ".whl": "application/zip", ".tar": "application/x-tar"}  # fmt: skip


class RuntimeFiles(StaticFiles):
    """Only the interpreters' runtime files: the packages also ship demo pages
    (e.g. pyodide/console.html) that load from a CDN, and those stay unreachable."""

    SUFFIXES = (".mjs", ".js", ".wasm", ".zip", ".json", ".css", ".map", ".whl")

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if not path.endswith(self.SUFFIXES):
            return "", None
        return super().lookup_path(path)


def content_security_policy(connect_origins: list[str]) -> str:
    provider_origin = " ".join(connect_origins)
    # DESIGN.md: Pyodide and PyScript need 'wasm-unsafe-eval' 'unsafe-eval'; no inline script.
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'",
            "style-src 'self'",
            f"connect-src 'self' {provider_origin}",
            "img-src 'self' data:",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            f"form-action 'self' {provider_origin}",
        ]
    )


class SecurityHeaders:
    """Adds the SPA's CSP and Referrer-Policy, and fixes MIME types for wasm/mjs.

    The `exempt` paths (the lab's pages) get none of this: they observe browser defaults."""

    def __init__(self, app: ASGIApp, csp: str, exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.exempt = exempt
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        suffix = Path(scope["path"]).suffix
        mime = MIME_TYPES.get(suffix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if not (mime and k == b"content-type")]
                if mime:
                    headers.append((b"content-type", mime.encode()))
                message["headers"] = headers + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_spa_app(connect_origins: list[str], settings: dict[str, object], web_dir: Path = WEB_DIR,
                   request_log: bool = True) -> Starlette:  # fmt: skip
    """`settings` reach the SPA inside its PyScript config, under the key "spalab"."""
    log = RequestLog("spa-host") if request_log else None
    pyscript_config = {**json.loads((web_dir / "pyscript.json").read_text()), "spalab": settings}

    async def index(request: Request) -> Response:
        return FileResponse(web_dir / "index.html", headers={"Cache-Control": "no-store"})

    async def config(request: Request) -> Response:
        return JSONResponse(pyscript_config, headers={"Cache-Control": "no-store"})

    async def requests_seen(request: Request) -> Response:
        since = request.query_params.get("since", "0")
        entries = log.since(int(since)) if log and since.isdigit() else []
        return JSONResponse({"server": "spa-host", "entries": entries}, headers={"Cache-Control": "no-store"})

    # The browser lab's pages (e2e/, issue 4): deliberately without the SPA's policies.
    lab = lab_routes(_origin(str(settings.get("issuer", ""))))
    routes: list[Route | Mount] = [
        Route("/", index),
        Route("/pyscript.json", config),
        Route("/_spalab/requests", requests_seen),
        *lab,
    ]
    modules = web_dir / "node_modules"
    for name, sub in VENDOR.items():
        if (modules / sub).is_dir():
            routes.append(Mount(f"/vendor/{name}", RuntimeFiles(directory=modules / sub)))
    routes.append(Mount("/", StaticFiles(directory=web_dir)))
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestLogMiddleware, server="spa-host", log=log),
            Middleware(SecurityHeaders, csp=content_security_policy(connect_origins),
                       exempt=frozenset(route.path for route in lab)),  # fmt: skip
        ],
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
