"""The `spalab` command: `serve` runs the demo (provider + SPA host on two
origins), `provider` runs the provider alone as a local test identity provider."""

import argparse
import asyncio
import contextlib
import errno
import importlib.util
import json
import logging
import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.types import ASGIApp

from .host.app import checkout_web_dir, create_spa_app
from .host.bff import BFF, BFFSettings
from .host.vendor import VENDOR, find_vendored
from .hosts import origin_of
from .provider.app import create_provider_app
from .provider.config import ConfigError, ProviderConfig, load_config_file, load_demo_config
from .provider.database import DatabaseError, is_postgres_url
from .provider.keys import PUBLISH_AHEAD, SIGNING_ALGS, new_signing_key
from .provider.store import SQLITE_FILE, Store
from .requestlog import ACCESS_LOGGER

DEFAULT_DATA_DIR = Path(".spalab")
# The BFF's client secret at another provider: from the environment, never the command line (ps shows that).
BFF_SECRET_ENV = "SPALAB_BFF_CLIENT_SECRET"

WEB_DIR_NEEDED = (
    "spalab serve needs the SPA's files: pass --web-dir DIR (or set SPALAB_WEB_DIR) naming web/ of a spalab "
    "checkout where `npm ci` has run. The SPA loads its pinned PyScript/Pyodide/MicroPython files from "
    "web/node_modules, far too large for the installed package; `spalab provider` needs no web/."
)


Served = tuple[str, ASGIApp, list[socket.socket]]


class UsageError(Exception):
    """A problem the user can fix from the message alone."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # The BFF's calls to the provider: the request logs tell them already, one line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if getattr(args, "no_access_log", False):
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)
    try:
        servers = args.build(args)
        _run(servers)
    except (UsageError, ConfigError, DatabaseError) as exc:
        print(f"spalab: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spalab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the demo: provider and SPA host together")
    serve.add_argument("--config", type=Path, help="provider TOML config (default: the built-in demo config)")
    serve.add_argument("--spa-port", type=_port, default=8000, help="SPA host port on localhost (default 8000)")
    serve.add_argument("--provider-port", type=_port, default=None, help="provider port on 127.0.0.1 (default 9000)")
    serve.add_argument("--data-dir", type=Path, help=f"where keys and the database live (default {DEFAULT_DATA_DIR}/)")
    _database_argument(serve)
    serve.add_argument("--issuer", help="point the SPA at another OpenID provider instead of the built-in one")
    serve.add_argument("--client-id", help="the SPA's client_id at that provider (with --issuer)")
    serve.add_argument(
        "--bff-client-id",
        help="with --issuer: turn on the backend-for-frontend (/bff/) as this confidential client, its secret "
        f"in ${BFF_SECRET_ENV}, its redirect URI <spa origin>/bff/callback",
    )
    serve.add_argument("--bff-api", help="with --bff-client-id: the API base URL /bff/api/<path> forwards to")
    serve.add_argument(
        "--web-dir",
        type=Path,
        help="the SPA's files: web/ of a spalab checkout after `npm ci` "
        "(default: $SPALAB_WEB_DIR, else the checkout's web/ when spalab runs from one)",
    )
    serve.add_argument(
        "--no-access-log",
        action="store_true",
        help="no line per request on the console, from either server (errors and warnings are still logged)",
    )
    serve.add_argument(
        "--no-pyodide-snapshot",
        action="store_true",
        help="Pyodide pages start the interpreter instead of restoring the memory snapshot the host makes "
        "with Node (README, Speed)",
    )
    serve.set_defaults(build=_build_serve)
    provider = commands.add_parser("provider", help="run the provider alone, as a local test identity provider")
    provider.add_argument("--config", type=Path, required=True, help="provider TOML config")
    provider.add_argument("--port", type=_port, help="port on 127.0.0.1 (default: the issuer's port)")
    provider.add_argument(
        "--data-dir", type=Path, help=f"where keys and the database live (default {DEFAULT_DATA_DIR}/)"
    )
    _database_argument(provider)
    provider.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes serving on the one port (default 1); they share the database, SQLite or PostgreSQL",
    )
    provider.add_argument("--request-log", action="store_true", help="expose /_spalab/requests (demo timeline)")
    provider.add_argument(
        "--no-access-log",
        action="store_true",
        help="no line per request on the console (errors and warnings are still logged); under load that line "
        "costs about 10%% of the sign-ins a second (README, Speed)",
    )
    provider.set_defaults(build=_build_provider)
    rotate = commands.add_parser(
        "rotate-key",
        help="publish a new signing key now; it signs after --signs-in seconds (every instance reloads keys)",
    )
    rotate.add_argument("--config", type=Path, required=True, help="provider TOML config")
    rotate.add_argument("--data-dir", type=Path, help=f"where keys and the database live (default {DEFAULT_DATA_DIR}/)")
    _database_argument(rotate)
    rotate.add_argument(
        "--signs-in",
        type=_signs_in,
        default=3600,
        metavar="SECONDS",
        help=f"how long the new key is published before it signs (default 3600, at least {MIN_SIGNS_IN})",
    )
    rotate.set_defaults(build=_rotate_key)
    return parser


def _database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help=f"a PostgreSQL URL (postgresql://user@host/db) for the store, shared by every process and instance "
        f"on it (default: ${DATABASE_ENV}, else the config's `database`, else SQLite in the data dir)",
    )


def _database_url(args: argparse.Namespace, config: ProviderConfig) -> str | None:
    """--database, else $SPALAB_DATABASE_URL, else the config file's `database`; None: SQLite in the data dir."""
    url = args.database or os.environ.get(DATABASE_ENV) or config.database
    if url is not None and not is_postgres_url(url):
        raise UsageError(f"the database must be a PostgreSQL URL (postgresql://...), not {url!r}")
    return url


def _signs_in(text: str) -> int:
    if not text.isdigit() or int(text) < MIN_SIGNS_IN:
        raise argparse.ArgumentTypeError(
            f"{text!r}: at least {MIN_SIGNS_IN} seconds, so that every instance publishes the key before any signs"
        )
    return int(text)


def _rotate_key(args: argparse.Namespace) -> list[Served]:
    """docs/SECURITY.md P37: a new key of each kind (RS256 for id_tokens, ES256 for access tokens) is published
    at once and signs only after `--signs-in` seconds, longer than an instance goes without reloading the keys
    (keys.KEY_RELOAD), so every instance publishes and verifies it before any signs with it. The keys they
    replace stay published while anything they signed may be valid (keys.retired_keys)."""
    config = load_config_file(args.config)
    store = Store(_database_url(args, config) or _data_dir(args.data_dir) / SQLITE_FILE)
    try:
        now = int(time.time())
        kids = []
        for alg in SIGNING_ALGS:
            kid, private_jwk = new_signing_key(alg)
            store.add_signing_key(kid, private_jwk, now, signs_from=now + args.signs_in)
            kids.append(f"{kid} ({alg})")
        published = len(store.signing_keys())
    finally:
        store.close()
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now + args.signs_in))
    print(
        f"spalab: keys {', '.join(kids)} published now; they sign from {when} (in {args.signs_in} s); "
        f"{published} keys published"
    )
    return []


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1-{MAX_WORKERS})")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def _data_dir(path: Path | None) -> Path:
    if path is None:
        DEFAULT_DATA_DIR.mkdir(exist_ok=True)
        return DEFAULT_DATA_DIR
    if not path.is_dir():
        raise UsageError(
            f"data dir {path} does not exist (create it, or leave out --data-dir to use {DEFAULT_DATA_DIR}/)"
        )
    return path


def _web_dir(path: Path | None) -> Path:
    """The SPA's web/: named, or the checkout's; checked before any port is bound."""
    if path is None:
        named = os.environ.get("SPALAB_WEB_DIR")
        path = Path(named) if named else checkout_web_dir()
    if path is None:
        raise UsageError(WEB_DIR_NEEDED)
    if not (path / "pyscript.json").is_file():
        raise UsageError(f"{path} is not the SPA's web/ (it has no pyscript.json). {WEB_DIR_NEEDED}")
    missing = set(VENDOR) - {v.name for v in find_vendored(path / "node_modules")}
    if missing:
        raise UsageError(f"{path}/node_modules lacks {', '.join(sorted(missing))}: run `npm ci` in {path}")
    return path


def _issuer_port(config: ProviderConfig) -> int:
    parts = urlsplit(config.issuer)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _build_provider(args: argparse.Namespace) -> list[Served]:
    config = load_config_file(args.config)
    port = args.port or _issuer_port(config)
    sockets = _bind("127.0.0.1", port, "--port")
    data_dir, database = _data_dir(args.data_dir), _database_url(args, config)

    def build() -> ASGIApp:
        return create_provider_app(config, data_dir, request_log=args.request_log or None, database=database)

    where = "PostgreSQL" if database else f"SQLite in {data_dir}"
    print(f"spalab provider: issuer {config.issuer}, listening on http://127.0.0.1:{port}", end="", flush=True)
    if args.workers > 1:
        print(f", {args.workers} processes, {where}", flush=True)
        _run_workers(build, sockets, args.workers)
        return []
    print(f", {where}", flush=True)
    return [("provider", build(), sockets)]


def _build_serve(args: argparse.Namespace) -> list[Served]:
    if (args.issuer is None) != (args.client_id is None):
        raise UsageError("--issuer and --client-id go together")
    if (args.bff_client_id is not None or args.bff_api is not None) and args.issuer is None:
        raise UsageError("--bff-client-id and --bff-api are for --issuer (the built-in provider has its BFF client)")
    web_dir = _web_dir(args.web_dir)
    spa_origin = f"http://localhost:{args.spa_port}"
    servers: list[Served] = []
    bff: BFF | None = None
    if args.issuer is None:
        config = _serve_config(args, spa_origin)
        port = args.provider_port or _issuer_port(config)
        provider_sockets = _bind("127.0.0.1", port, "--provider-port")
        app = create_provider_app(
            config, _data_dir(args.data_dir), request_log=True, database=_database_url(args, config)
        )
        servers.append(("provider", app, provider_sockets))
        issuer, client_id = config.issuer, "spa-demo"
        bff_settings = find_bff_client(config, spa_origin)
        bff = BFF(bff_settings) if bff_settings is not None else None
    else:
        issuer, client_id = args.issuer.rstrip("/"), args.client_id
        bff_settings = bff_at_another_provider(args, issuer, spa_origin)
        bff = BFF(bff_settings) if bff_settings is not None else None
    spa_sockets = _bind("localhost", args.spa_port, "--spa-port")
    # Two redirect URIs: the app itself (redirect sign-in) and the popup's tiny callback page.
    settings: dict[str, object] = {
        "issuer": issuer,
        "client_id": client_id,
        "redirect_uri": spa_origin + "/",
        "popup_redirect_uri": spa_origin + "/popup-callback.html",
        "scope": "openid profile email",
    }
    if args.issuer is None:
        # Our provider: its demo API, its contacts scope, and both servers' request logs.
        settings.update(
            scope="openid profile email contacts.read",
            api_base=issuer + "/api",
            request_logs={"spa-host": spa_origin + "/_spalab/requests", "provider": issuer + "/_spalab/requests"},
            example_api=issuer + "/api/me",
            example_dpop=True,
        )
        origins = [origin_of(issuer)]
    else:
        openid = _read_metadata(f"{issuer}/.well-known/openid-configuration")  # read once, used twice
        origins = _connect_origins(issuer, openid)
        # The example app's "API call" at another provider: its userinfo endpoint.
        userinfo = (openid or {}).get("userinfo_endpoint")
        settings["example_api"] = userinfo if isinstance(userinfo, str) else ""
        # DPoP (RFC 9449 §5.1) when the provider says it accepts the ES256 proofs the package signs.
        algs = (openid or {}).get("dpop_signing_alg_values_supported")
        settings["example_dpop"] = isinstance(algs, list) and "ES256" in algs
    spa_app = create_spa_app(
        origins, settings, web_dir, warm_cache=True, bff=bff, pyodide_snapshot=not args.no_pyodide_snapshot
    )
    servers.append(("spa-host", spa_app, spa_sockets))
    print(f"spalab demo: open {spa_origin}/ (provider {issuer})", flush=True)
    if bff is not None:
        print(f"spalab demo: the backend-for-frontend variant is at {spa_origin}/bff/", flush=True)
    if args.issuer is not None:
        print(
            f"spalab demo: register these redirect URIs at {issuer}: {spa_origin}/ (redirect sign-in), "
            f"{spa_origin}/popup-callback.html (popup sign-in), and {spa_origin}/example/ and "
            f"{spa_origin}/example/mpy.html (the example app; also as post-logout redirect URIs)",
            flush=True,
        )
        if bff is not None:
            print(f"spalab demo: and {spa_origin}/bff/callback for the BFF's confidential client", flush=True)
    return servers


def find_bff_client(config: ProviderConfig, spa_origin: str) -> BFFSettings | None:
    """The backend-for-frontend's client: a confidential one of this provider's whose redirect URI is the
    host's /bff/callback (the built-in demo's `bff-demo`). None, and the BFF is off, when there is none:
    the host runs a confidential client only where it knows the provider and the secret."""
    for client in config.clients.values():
        if client.client_secret is not None and spa_origin + "/bff/callback" in client.redirect_uris:
            scope = " ".join(s for s in ("openid", "profile", "email", "contacts.read") if s in client.scopes)
            return BFFSettings(
                config.issuer, client.client_id, client.client_secret, spa_origin, config.issuer + "/api", scope
            )
    return None


def bff_at_another_provider(args: argparse.Namespace, issuer: str, spa_origin: str) -> BFFSettings | None:
    """With --issuer the BFF is off unless --bff-client-id names its confidential client there (with
    --bff-api, the API it proxies to, and the secret in the environment)."""
    if args.bff_client_id is None:
        return None
    secret = os.environ.get(BFF_SECRET_ENV)
    if not secret:
        raise UsageError(f"--bff-client-id needs the client's secret in ${BFF_SECRET_ENV}")
    if args.bff_api is None or urlsplit(args.bff_api).scheme not in ("http", "https"):
        raise UsageError("--bff-client-id needs --bff-api URL: the API base that /bff/api/<path> forwards to")
    return BFFSettings(issuer, args.bff_client_id, secret, spa_origin, args.bff_api.rstrip("/"), "openid profile email")


def _connect_origins(issuer: str, openid: dict[str, object] | None) -> list[str]:
    """The origins the SPA may fetch from (its CSP connect-src): the issuer's, plus those of the
    endpoints its discovery documents name (`openid`, already read, and the RFC 8414 one), which
    may differ. Both documents: the SPA looks up a revocation endpoint in the RFC 8414 one when
    the OpenID one lists none."""
    origins = [origin_of(issuer)]
    for document in ("openid-configuration", "oauth-authorization-server"):
        metadata = openid if document == "openid-configuration" else _read_metadata(f"{issuer}/.well-known/{document}")
        if metadata is None and document == "openid-configuration":
            print(
                f"spalab demo: warning: cannot read {issuer}'s discovery document now; "
                "the SPA may fetch from the issuer's origin only",
                flush=True,
            )
            return origins
        for key in ("token_endpoint", "revocation_endpoint", "userinfo_endpoint", "jwks_uri"):
            endpoint = metadata.get(key) if metadata is not None else None
            try:
                origins += [origin_of(endpoint)] if isinstance(endpoint, str) else []
            except ValueError:
                continue  # not a URL: the SPA's own discovery check refuses that provider anyway
    return list(dict.fromkeys(origins))


def _read_metadata(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            metadata = json.load(response)
    except (OSError, ValueError):
        return None
    return metadata if isinstance(metadata, dict) and metadata.get("issuer") == url.split("/.well-known/")[0] else None


def _serve_config(args: argparse.Namespace, spa_origin: str) -> ProviderConfig:
    if args.config is not None:
        # docs/SECURITY.md P21: only the built-in demo's own users are shown on the login page; an
        # operator's config keeps its passwords to itself (demo mode stays off for it).
        return load_config_file(args.config)
    port = args.provider_port or 9000
    return load_demo_config(f"http://127.0.0.1:{port}", spa_origin)


def _bind(host: str, port: int, flag: str) -> list[socket.socket]:
    """Binds before anything starts, so a busy port is a clear error, not a trace."""
    addresses = ["127.0.0.1", "::1"] if host == "localhost" else [host]
    sockets = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY on accepted connections only
        # when the listening socket says TCP, and without it Nagle's algorithm held every
        # response body on a kept-alive connection back by a delayed ACK (~40 ms).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {address} is in use; choose another with {flag}") from None
            if family == socket.AF_INET6:
                continue  # no IPv6 loopback here: 127.0.0.1 is enough
            raise UsageError(f"cannot listen on {address}:{port}: {exc.strerror}") from None
        sock.listen(128)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals are handled once for all servers, in _run.
        yield


# docs/SECURITY.md P28: on SIGTERM, requests in flight get this long to finish; a client that
# stalls longer cannot keep the process from exiting.
SHUTDOWN_GRACE = 5


# docs/SECURITY.md P22: connections and requests handled at once, per server. Beyond it uvicorn answers
# 503 at once, so idle or trickling connections cannot use up the process's file descriptors.
MAX_CONCURRENCY = 1000

# --workers: a sane upper bound, and a pause before replacing a worker that died (no busy loop if
# every start fails).
MAX_WORKERS = 64
# rotate-key: a new key is published at least this long before it signs (twice the keys' reload interval).
MIN_SIGNS_IN = PUBLISH_AHEAD
WORKER_RESTART_DELAY = 1.0
DATABASE_ENV = "SPALAB_DATABASE_URL"


# uvloop (libuv's event loop) and httptools (llhttp, node's HTTP/1.1 parser) where installed (pyproject.toml
# installs both, uvloop except where it does not exist, e.g. Windows): the provider benchmark measured asyncio's
# loop and the pure-Python h11 parser as the largest cost of a userinfo request after the app itself (together a
# third of its CPU time). Else the stdlib's loop and h11.
HTTP_PROTOCOL: type[asyncio.Protocol] | str = "h11"
LOOP_FACTORY: Callable[[], asyncio.AbstractEventLoop] | None = None
if importlib.util.find_spec("httptools"):
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class _HttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            # docs/SECURITY.md P22: a body that turns out broken after the app answered (it did not read it) ends
            # the connection, as with h11, instead of a second, unasked-for response following the first.
            if self.cycle is not None and self.cycle.response_started:
                self.transport.close()
                return
            super().send_400_response(msg)

    HTTP_PROTOCOL = _HttpToolsProtocol
if importlib.util.find_spec("uvloop"):
    import uvloop

    LOOP_FACTORY = uvloop.new_event_loop


def server_config(app: ASGIApp, max_concurrency: int = MAX_CONCURRENCY) -> uvicorn.Config:
    # docs/SECURITY.md P23: no X-Forwarded-For/-Proto is trusted (uvicorn trusts 127.0.0.1 by default),
    # so the throttle's per-address counts use the real peer address.
    return uvicorn.Config(
        app,
        http=HTTP_PROTOCOL,
        loop="uvloop" if LOOP_FACTORY is not None else "asyncio",
        access_log=False,
        lifespan="off",
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        limit_concurrency=max_concurrency,
    )


def _run(servers: list[Served]) -> None:
    instances = [(_Server(server_config(app)), sockets) for _, app, sockets in servers]

    def stop(*_: object) -> None:
        for server, _sockets in instances:
            server.should_exit = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    async def serve_all() -> None:
        asyncio.get_running_loop().set_exception_handler(_log_type_only)
        await asyncio.gather(*(server.serve(sockets=sockets) for server, sockets in instances))

    with asyncio.Runner(loop_factory=LOOP_FACTORY) as runner:
        runner.run(serve_all())


def _run_workers(build: Callable[[], ASGIApp], sockets: list[socket.socket], count: int) -> None:
    """`count` processes accept on the same sockets (the kernel spreads the connections) and share the
    database; nothing a flow depends on lives in a process's memory (docs/SECURITY.md P37). The first
    app is built here, before any fork, so the schema's migrations and the first signing key are made
    once and a bad database stops the command with its message; a worker that dies is replaced."""
    first = build()
    first.state.provider.store.close()  # type: ignore[attr-defined]
    del first
    children: dict[int, int] = {}
    restarts: dict[int, float] = {}  # slot -> when its replacement starts
    stopping = False
    log = logging.getLogger("spalab.server")
    # The supervisor takes its signals synchronously (sigtimedwait), so a stop can never fall between
    # "a worker died" and "start its replacement", and the log names who asked it to stop.
    watched = {signal.SIGCHLD, signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: default signal handling, then _run installs its own
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, watched)
            code = 0
            try:
                _run([("provider", build(), sockets)])
            except BaseException as exc:  # noqa: BLE001 - docs/SECURITY.md P22: the type, never a trace
                log.error("worker %d: %s", slot, type(exc).__name__)
                code = 1
            os._exit(code)
        children[pid] = slot

    for slot in range(count):
        spawn(slot)
    while children or (restarts and not stopping):
        due = min(restarts.values(), default=None)
        info = signal.sigtimedwait(watched, max(0.0, due - time.monotonic()) if due is not None else 3600)
        if info is not None and info.si_signo in (signal.SIGINT, signal.SIGTERM):
            log.warning("signal %d from pid %d: stopping %d workers", info.si_signo, info.si_pid, len(children))
            stopping = True
            restarts.clear()
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            continue
        while children:  # reap every worker that ended (SIGCHLDs coalesce)
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            slot = children.pop(pid, -1)
            if slot >= 0 and not stopping:
                log.error("worker %d (pid %d) ended (status %d); starting another", slot, pid, status)
                restarts[slot] = time.monotonic() + WORKER_RESTART_DELAY
        for slot, when in list(restarts.items()):
            if when <= time.monotonic() and not stopping:
                del restarts[slot]
                spawn(slot)


def _log_type_only(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """docs/SECURITY.md P22: no traceback on the console, even for errors in the server itself. Seen: uvicorn's
    h11 protocol failing to send its own 400 for a broken body after the app had answered (the
    connection is closed, the client has its answer), which asyncio would print with a full trace."""
    exception = context.get("exception")
    what = type(exception).__name__ if exception is not None else "no exception"
    logging.getLogger("spalab.server").error("server: %s (%s)", context.get("message", "event loop error"), what)
