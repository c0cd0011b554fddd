"""docs/SECURITY.md P22 as a fuzz run: at least 10,000 generated malformed requests against the real
`spalab serve` (provider and SPA host in one uvicorn process), over raw sockets so that
nothing repairs the input. Every endpoint of both servers is hit with odd methods, headers,
encodings, bodies and sizes. None may answer 5xx, neither server may print a traceback, and a
normal code + PKCE sign-in must still work afterwards.

The requests come from random.Random(seed): SPALAB_FUZZ_SEED=<n> replays a run (the seed,
the count and the status histogram are printed); SPALAB_FUZZ_COUNT changes the count.
Malformed HTTP that uvicorn itself refuses (400, connection closed) is fine.
"""

import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from dpop_support import Holder
from provider_support import Flow, challenge_of, hidden
from starlette.routing import Mount, Route

from spalab.host.app import WEB_DIR, create_spa_app
from spalab.provider.app import _routes as provider_routes
from spalab.provider.config import load_demo_config

SEED = int(os.environ.get("SPALAB_FUZZ_SEED", "22"))
COUNT = int(os.environ.get("SPALAB_FUZZ_COUNT", "10000"))
CONNECTIONS = 4  # concurrent keep-alive connections per server
# What a bug leaves in the output: a traceback, uvicorn's line for an exception that escaped the app, or
# the last line of defence's (spalab.lastresort) line for one it caught.
TRACE = re.compile(r"Traceback|Exception in ASGI application|: unexpected \w+ on ")
pytestmark = pytest.mark.skipif(not (WEB_DIR / "node_modules").is_dir(), reason="run npm ci in web/ first")


# --- the servers ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Servers:
    spa_port: int
    provider_port: int
    process: subprocess.Popen  # type: ignore[type-arg]
    output: Path

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.provider_port}"

    @property
    def spa(self) -> str:
        return f"http://localhost:{self.spa_port}"

    def printed(self) -> str:
        return self.output.read_text(errors="replace")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    home = tmp_path_factory.mktemp("fuzz")
    (home / "data").mkdir()
    spa_port, provider_port = _free_port(), _free_port()
    output = home / "output.txt"
    command = [
        sys.executable,
        "-m",
        "spalab",
        "serve",
        "--spa-port",
        str(spa_port),
        "--provider-port",
        str(provider_port),
        "--data-dir",
        str(home / "data"),
    ]
    with open(output, "wb") as sink:
        # stdout and stderr both: uvicorn's errors and our logs go to stderr, the banner to stdout.
        process = subprocess.Popen(command, cwd=home, stdout=sink, stderr=subprocess.STDOUT)
    started = Servers(spa_port, provider_port, process, output)
    try:
        _wait_until_up(started)
        yield started
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_until_up(servers: Servers) -> None:
    deadline = time.monotonic() + 60
    for url in (servers.issuer + "/jwks", servers.spa + "/pyscript.json"):
        while True:
            assert servers.process.poll() is None, servers.printed()
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{url} never came up:\n{servers.printed()}"
            time.sleep(0.1)


# --- what to aim at: every route of both servers -----------------------------------------------------


@dataclass(frozen=True)
class Target:
    server: str  # "provider" or "spa"
    key: str  # the route as declared, for the coverage check
    paths: tuple[str, ...]  # concrete paths to request
    params: tuple[str, ...] = ()  # parameter names the endpoint reads
    methods: tuple[str, ...] = ("GET", "HEAD")  # the methods it answers


PARAMS = {
    "/authorize": (
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "response_mode",
        "max_age",
        "login_hint",
    ),
    "/login": ("username", "password", "next", "csrf_token"),
    "/consent": ("request_id", "csrf_token", "decision"),
    "/logout": ("csrf_token",),
    "/end-session": ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "csrf_token"),
    "/token": (
        "grant_type",
        "code",
        "redirect_uri",
        "client_id",
        "code_verifier",
        "refresh_token",
        "scope",
        "client_secret",
    ),
    "/revoke": ("token", "token_type_hint", "client_id", "client_secret"),
    "/introspect": ("token", "token_type_hint", "client_id", "client_secret"),
    "/_spalab/requests": ("since",),
}


def _files(directory: Path, prefix: str, skip: str = "") -> tuple[str, ...]:
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_file() and not (skip and relative.startswith(skip)):
            found.append(prefix.rstrip("/") + "/" + relative)
    return tuple(found[:400])


def targets(servers: Servers) -> list[Target]:
    config = load_demo_config(servers.issuer, servers.spa)
    found = []
    for route in provider_routes(config, True):
        if isinstance(route, Mount):
            found.append(Target("provider", route.path, _files(Path(route.app.directory), route.path)))  # type: ignore[attr-defined]
        else:
            methods = tuple(sorted(route.methods or ("GET",)))
            found.append(Target("provider", route.path, (route.path,), PARAMS.get(route.path, ()), methods))
    spa = create_spa_app([servers.issuer], {"issuer": servers.issuer})
    for route in spa.router.routes:
        assert isinstance(route, (Mount, Route))
        if isinstance(route, Mount):
            directory = Path(route.app.directory)  # type: ignore[attr-defined]
            found.append(Target("spa", route.path or "/", _files(directory, route.path, skip="node_modules")))
        elif route.path == "/vendor/{path:path}":
            found.append(Target("spa", route.path, ("/vendor/pyodide/pyodide.mjs", "/vendor/x@1/a", "/vendor/")))
        else:
            methods = tuple(sorted(route.methods or ("GET",)))
            found.append(Target("spa", route.path, (route.path,), PARAMS.get(route.path, ()), methods))
    return found


# --- the generator --------------------------------------------------------------------------------------


@dataclass
class Secrets:
    """Real values minted before the run, so that requests also get past the first checks."""

    values: dict[str, list[str]] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)
    bearer: list[str] = field(default_factory=list)
    dpop: list[bytes] = field(default_factory=list)  # DPoP proofs: valid ones for the token endpoint, and junk


BAD_TEXT = [
    "",
    "A" * 5000,
    "%ff%fe",
    "%00",
    "a%0d%0aSet-Cookie:%20x=y",
    "%c0%af",
    "%ed%a0%80",
    "²",
    "9" * 5000,
    "-1",
    "1e309",
    '{"a":[1]}',
    "é\u202e𝔘\ufeff",
    "../../etc/passwd",
    "%",
    "%zz",
    "null",
    "[]",
    "\\",
    "*",
    "http://[::1",
    "javascript:alert(1)",
    "+",
    " ",
    "0",
]
RAW_BAD = [b"\xff\xfe", b"a\x00b", b"\xc0\xaf", b"\x01\x1f\x7f", b"%", b"=&=&&", b";", b"\xe9t\xe9"]
METHODS = (
    ["GET"] * 6
    + ["POST"] * 6
    + ["HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW", "get", "CONNECT", "PROPFIND"]
)
CONTENT_TYPES = [
    b"application/x-www-form-urlencoded",
    b"application/x-www-form-urlencoded; charset=utf-8",
    b"application/x-www-form-urlencoded; charset=iso-8859-1",
    b"APPLICATION/X-WWW-FORM-URLENCODED",
    b"application/json",
    b"multipart/form-data; boundary=xyz",
    b"multipart/form-data",
    b"text/plain",
    b"",
    b"\xff\x00;;=",
    b'application/x-www-form-urlencoded; charset="utf-8"',
    b"*/*",
]
DATES = [
    b"Sat, 01 Jan 10000 00:00:00 GMT",
    b"Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
    b"Thu, 01 Jan 1970 00:00:00 GMT",
    b"Wed, 21 Oct 2099 07:28:00 GMT",
    b"yesterday",
    b"",
    b"0",
    b"Mon, 01 Jan 1000 00:00:00 +9999",
    b"Mon, 32 Foo 2020 99:99:99 GMT",
]
RANGES = [
    b"bytes=0-10",
    b"bytes=-5",
    b"bytes=5-",
    b"bytes=10-0",
    b"bytes=0-0,2-3,1-5",
    b"bytes=" + b"9" * 5000 + b"-",
    b"bytes=\xb2-",
    b"items=0-1",
    b"bytes",
    b"bytes=999999999999-",
    b"bytes=" + b",".join([b"0-1"] * 200),
    b"bytes=-0",
    b"=",
    b"bytes=--",
]
ENCODINGS = [
    b"br",
    b"gzip",
    b"gzip;q=0.5, br;q=0.9",
    b"*;q=0",
    b"identity;q=0",
    b"br;q=2",
    b"gzip;q=nan",
    b"\xff",
    b",,,",
    b"x-gzip",
    b"gzip;level=9",
    b"br;q=0, gzip;q=0, identity;q=0",
    b"a" * 5000,
]
ETAGS = [b"*", b'"abc"', b'W/"abc"', b'"', b"W/", b",,,", b'"' + b"a" * 5000 + b'"', b"\xff\xfe", b'W/"x", "y", *']


class Generator:
    def __init__(self, rng: random.Random, servers: Servers, aims: list[Target], secrets: Secrets) -> None:
        self.rng = rng
        self.servers = servers
        self.aims = aims
        self.secrets = secrets

    def pick(self, items: list[bytes] | list[str]):  # type: ignore[no-untyped-def]
        return items[self.rng.randrange(len(items))]

    def request(self) -> tuple[Target, str, bytes, bool]:
        """(aim, the path requested, the raw request, whether to half-close after sending)."""
        rng = self.rng
        if rng.random() < 0.03:
            aim = self.pick(self.aims)  # type: ignore[arg-type]
            return aim, "(malformed HTTP)", self.malformed_http(aim), False
        aim = self.pick(self.aims)  # type: ignore[arg-type]
        path = self.pick(list(aim.paths))
        method = self.pick(list(aim.methods)) if rng.random() < 0.7 else self.pick(METHODS)
        target = self.mutate_path(path).encode() if rng.random() < 0.15 else path.encode()
        pairs = self.params(aim)
        in_body = method in ("POST", "PUT", "PATCH") and rng.random() < 0.85
        query = b"" if in_body and rng.random() < 0.8 else self.encode(pairs)
        if query:
            target += b"?" + query
        headers = self.headers(aim)
        body, truncated = b"", False
        if in_body or rng.random() < 0.05:
            body, extra, truncated = self.body(pairs)
            headers += extra
        return aim, path, self.assemble(method.encode(), target, headers, body, truncated), truncated

    def mutate_path(self, path: str) -> str:
        mutation = self.rng.randrange(9)
        if mutation == 0:
            return path + self.pick(["%00", "%ff", "%c0%af", "%2e%2e/", "/..", "//", ".", "%", "%zz", "~", ";x=1"])
        if mutation == 1:
            return "".join("%%%02X" % ord(c) if c.isalnum() and self.rng.random() < 0.5 else c for c in path)
        if mutation == 2:
            return path + "/" + "a" * self.rng.choice([300, 5000, 12000])
        if mutation == 3:
            return path.upper()
        if mutation == 4:
            return "/.." + path
        if mutation == 5:
            return path.replace("/", "//")
        if mutation == 6:
            return path + "/"
        if mutation == 7:
            return path + "%2f..%2f..%2fetc%2fpasswd"
        return path + "/%F0%9F%98%80%ed%a0%80"

    def value(self, name: str) -> str:
        rng = self.rng
        known = self.secrets.values.get(name)
        if known and rng.random() < 0.6:
            return self.pick(known)
        return self.pick(BAD_TEXT)

    def params(self, aim: Target) -> list[tuple[str, str]]:
        rng = self.rng
        names = [n for n in aim.params if rng.random() < 0.85]
        pairs = [(n, self.value(n)) for n in names]
        if pairs and rng.random() < 0.15:
            pairs.append(self.pick(pairs))  # type: ignore[arg-type]
        if rng.random() < 0.1:
            pairs.append(("access_token", self.pick(self.secrets.bearer or ["x"])))
        if rng.random() < 0.1:
            pairs += [(f"f{i}", "1") for i in range(rng.choice([10, 70, 300]))]
        rng.shuffle(pairs)
        return pairs

    def encode(self, pairs: list[tuple[str, str]]) -> bytes:
        rng = self.rng
        parts = []
        for name, value in pairs:
            if rng.random() < 0.3:
                # As typed: raw, not percent-encoded (the BAD_TEXT escapes stay escapes).
                parts.append(name.encode() + b"=" + value.encode("utf-8", "surrogatepass").replace(b" ", b"+"))
            else:
                parts.append(urlencode([(name, value)], safe="%" if rng.random() < 0.5 else "").encode())
        if rng.random() < 0.15:
            parts.insert(rng.randrange(len(parts) + 1), self.pick(RAW_BAD))  # type: ignore[arg-type]
        return b"&".join(parts)

    def headers(self, aim: Target) -> list[tuple[bytes, bytes]]:
        rng = self.rng
        port = self.servers.provider_port if aim.server == "provider" else self.servers.spa_port
        hosts = [f"127.0.0.1:{port}".encode(), f"localhost:{port}".encode()]
        if rng.random() < 0.1:
            host = self.pick([b"evil.example", b"\xff\xfe", b"", b"127.0.0.1:1", b"[::1", b"a" * 3000, b"localhost:x"])
        else:
            host = self.pick(hosts)
        headers: list[tuple[bytes, bytes]] = [(b"host", host)]
        if rng.random() < 0.04:
            headers.append((b"host", self.pick(hosts)))  # two Host headers
        chances = [
            (0.25, b"authorization", self.authorization),
            (
                0.2,
                b"origin",
                lambda: self.pick(
                    [
                        self.servers.spa.encode(),
                        b"null",
                        b"http://evil.example",
                        b"\xff",
                        self.servers.issuer.encode(),
                        b"http://localhost:1",
                    ]
                ),
            ),
            (0.3, b"cookie", self.cookie),
            (0.15, b"if-none-match", lambda: self.pick(ETAGS)),
            (0.15, b"if-modified-since", lambda: self.pick(DATES)),
            (0.1, b"if-range", lambda: self.pick(DATES + ETAGS)),
            (0.15, b"range", lambda: self.pick(RANGES)),
            (0.3, b"accept-encoding", lambda: self.pick(ENCODINGS)),
            (
                0.1,
                b"referer",
                lambda: self.pick(
                    [b"http://[::1/x?code=abc", b"\xff", b"x" * 3000, self.servers.spa.encode() + b"/?code=abc&state=s"]
                ),
            ),
            (0.1, b"dpop", lambda: self.pick(self.secrets.dpop or [b"x"])),
            (0.05, b"x-forwarded-for", lambda: self.pick([b"1.2.3.4", b"\xff", b"::1, 10.0.0.1"])),
            (0.05, b"accept", lambda: self.pick([b"application/json", b"*/*;q=x", b"\xff"])),
            (0.05, b"expect", lambda: b"100-continue"),
        ]
        for chance, name, make in chances:
            if rng.random() < chance:
                headers.append((name, make()))
                if rng.random() < 0.1:
                    headers.append((name, make()))  # repeated
        return headers

    def authorization(self) -> bytes:
        token = self.pick(self.secrets.bearer or ["x"]).encode()  # type: ignore[union-attr]
        raw = (
            bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 30)))
            .replace(b"\r", b"")
            .replace(b"\n", b"")
        )
        import base64

        return self.pick(
            [
                b"Bearer " + token,
                b"Bearer",
                b"Bearer " + raw,
                b"Basic " + raw,
                b"Basic \xff",
                b"Basic " + base64.b64encode(b"confidential-demo:demo-secret-not-for-production"),
                b"Basic " + base64.b64encode(b"spa-demo:" + raw),
                b"Basic " + base64.b64encode(raw),
                b"Basic c3BhOng=\xe9",
                b"Digest x",
                b"",
                b"Bearer " + b"A" * 9000,
                b"bearer  " + token,
                b"DPoP " + token,
                b"DPoP " + raw,
            ]
        )

    def cookie(self) -> bytes:
        real = [c.encode() for c in self.secrets.cookies] or [b"a=b"]
        return self.pick(
            [
                self.pick(real),
                b"spalab_session_x=\xff\x00; ;;==; a",
                b"=",
                b";;;",
                b"a" * 5000,
                self.pick(real) + b"; " + self.pick(real),
                b"spalab_session_00000000=nope",
                self.pick(real).replace(b"=", b"=\xe9"),
            ]
        )

    def body(self, pairs: list[tuple[str, str]]) -> tuple[bytes, list[tuple[bytes, bytes]], bool]:
        """The body, its extra headers, and whether it is cut short."""
        rng = self.rng
        kind = rng.randrange(10)
        form = self.encode(pairs)
        if kind == 0:
            body = json.dumps(dict(pairs)).encode()
        elif kind == 1:
            body = (
                b"".join(
                    b'--xyz\r\nContent-Disposition: form-data; name="'
                    + n.encode()
                    + b'"\r\n\r\n'
                    + v.encode("utf-8", "surrogatepass")
                    + b"\r\n"
                    for n, v in pairs
                )
                + b"--xyz--\r\n"
            )
            body = body if rng.random() < 0.7 else body[: rng.randrange(len(body) + 1)]
        elif kind == 2:
            body = form + b"&pad=" + b"A" * rng.choice([70_000, 300_000])
        elif kind == 3:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
        else:
            body = form
        content_type = [(b"content-type", self.pick(CONTENT_TYPES))] if rng.random() < 0.9 else []
        return body, content_type, rng.random() < 0.03

    def assemble(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes, truncated: bool
    ) -> bytes:
        rng = self.rng
        framing: list[tuple[bytes, bytes]] = []
        if body and not truncated and rng.random() < 0.1:
            framing.append((b"transfer-encoding", b"chunked"))
            body = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
            if rng.random() < 0.3:
                body = body.replace(b"\r\n0\r\n", b"\r\nzz\r\n")  # a broken chunk size
        elif body or method in (b"POST", b"PUT", b"PATCH"):
            length = len(body) + (rng.randrange(1, 5000) if truncated else 0)
            framing.append((b"content-length", str(length).encode()))
        lines = [method + b" " + target + b" HTTP/1.1"] + [k + b": " + v for k, v in headers + framing]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def malformed_http(self, aim: Target) -> bytes:
        port = self.servers.provider_port if aim.server == "provider" else self.servers.spa_port
        host = b"Host: 127.0.0.1:%d\r\n" % port
        return self.pick(
            [
                b"GET / HTTP/1.1\r\n" + host + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\nabcde",
                b"GET / HTTP/1.1\r\n" + host + b"Content-Length: -1\r\n\r\n",
                b"GET / HTTP/1.1\r\n" + host + b"Content-Length: 1e3\r\n\r\n",
                b"GET / HTTP/1.1\r\n" + host + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
                b"GET / HTTP/1.1\r\n" + host + b"Bad Header\r\n\r\n",
                b"GET / HTTP/1.1\r\n" + host + b" folded: x\r\n\r\n",
                b"GET /\x00 HTTP/1.1\r\n" + host + b"\r\n",
                b"GET / HTTP/9.9\r\n" + host + b"\r\n",
                b"\xff\xfe / HTTP/1.1\r\n" + host + b"\r\n",
                b"GET / HTTP/1.1\n" + host.replace(b"\r\n", b"\n") + b"\n",
                b"GET " + b"/a" * 40_000 + b" HTTP/1.1\r\n" + host + b"\r\n",
                b"GET / HTTP/1.1\r\n" + host + b"X: " + b"a" * 70_000 + b"\r\n\r\n",
                b"GET / HTTP/1.0\r\n\r\n",
                b"GET / HTTP/1.1\r\n\r\n",  # no Host at all
                b"GET http://127.0.0.1:%d/jwks HTTP/1.1\r\n" % port + host + b"\r\n",
                b"OPTIONS * HTTP/1.1\r\n" + host + b"\r\n",
                b"GET / HTTP/1.1\r\n" + host + b"X:\xff\x00\r\n\r\n",
            ]
        )  # type: ignore[return-value]


# --- raw HTTP/1.1 over keep-alive sockets ------------------------------------------------------------------


class Closed(Exception):
    """The server closed the connection before a complete response."""


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def exchange(self, raw: bytes, head: bool, half_close: bool) -> int:
        """Sends one request, returns the status (0: closed without an answer)."""
        for attempt in range(2):
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            try:
                assert self.sock is not None
                self.sock.sendall(raw)
                if half_close:
                    self.sock.shutdown(socket.SHUT_WR)
                status, close = self.read_response(head)
            except (Closed, ConnectionError):
                self.close()
                if fresh or half_close or attempt:
                    return 0  # refused outright: uvicorn drops what it cannot parse
                continue  # a kept-alive connection the server had just closed: once more on a new one
            if close or half_close:
                self.close()
            return status
        return 0

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed()
        self.buffer += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_response(self, head: bool) -> tuple[int, bool]:
        while True:
            status_line = self._line()
            headers = {}
            while line := self._line():
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip().lower()
            status = int(status_line.split()[1])
            if status != 100:
                break
        if head or status in (204, 304):
            pass
        elif headers.get(b"transfer-encoding") == b"chunked":
            while size := int(self._line().split(b";")[0], 16):
                self._take(size + 2)
            while self._line():
                pass
        elif b"content-length" in headers:
            self._take(int(headers[b"content-length"]))
        else:
            while True:
                try:
                    self._fill()
                except Closed:
                    return status, True
        return status, headers.get(b"connection") == b"close"


# --- the run ---------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    hit: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _worker(generator: Generator, count: int, servers: Servers, tally: Tally) -> None:
    connections = {"provider": [Connection(servers.provider_port)], "spa": [Connection(servers.spa_port)]}
    for _ in range(count):
        aim, path, raw, half_close = generator.request()
        connection = connections[aim.server][0]
        status = connection.exchange(raw, raw.startswith(b"HEAD "), half_close)
        with tally.lock:
            tally.statuses[status] += 1
            tally.hit.add(f"{aim.server} {aim.key}")
            if status >= 500:
                tally.failures.append(f"{status} {aim.server} {raw[:300]!r}")
    for pool in connections.values():
        for connection in pool:
            connection.close()


def mint_secrets(servers: Servers) -> Secrets:
    """A real sign-in first: session and CSRF cookies, tokens, a pending consent, all as values to misuse."""
    found = Secrets()
    with httpx.Client(base_url=servers.issuer, follow_redirects=False, timeout=30) as client:
        flow = Flow(client)  # type: ignore[arg-type]
        params = flow.code_params(client_id="spa-demo", redirect_uri=servers.spa + "/")
        code = parse_qs(urlsplit(flow.run(params).headers["location"]).query)["code"][0]
        tokens = flow.exchange(code, client_id="spa-demo", redirect_uri=servers.spa + "/").json()
        consent = flow.authorize(
            flow.code_params(
                client_id="baseline-oidc-client-ts", redirect_uri=servers.spa + "/baseline/", scope="openid"
            )
        )
        login = client.get("/login", params={"next": "/"})
        found.values = {
            "client_id": ["spa-demo", "confidential-demo", "baseline-oidc-client-ts", "lab-other-spa", "nobody"],
            "redirect_uri": [servers.spa + "/", servers.spa + "/popup-callback.html", servers.spa + "/x"],
            "response_type": ["code", "token", "id_token", "code token", "none"],
            "scope": ["openid", "openid profile email contacts.read", "admin", "openid openid"],
            "code_challenge": [challenge_of(flow.verifier), "short"],
            "code_challenge_method": ["S256", "plain", "s256"],
            "code_verifier": [flow.verifier, "v" * 43, "v" * 129],
            "code": [code],
            "refresh_token": [tokens["refresh_token"]],
            "token": [tokens["access_token"], tokens["refresh_token"]],
            "grant_type": ["authorization_code", "refresh_token", "client_credentials", "password"],
            "client_secret": ["demo-secret-not-for-production", "wrong"],
            "username": ["nobody", "mallory", "ALICE "],  # never a real account: see test_normal_flow_still_works
            "password": ["x", "wonderland"],
            "next": ["/", "//evil.example", "/authorize?client_id=spa-demo"],
            "csrf_token": [hidden(consent.text, "csrf_token"), hidden(login.text, "csrf_token")],
            "request_id": [hidden(consent.text, "request_id")],
            "decision": ["allow", "deny", "maybe"],
            "prompt": ["none", "login", "consent", "select_account"],
            "response_mode": ["query", "fragment", "form_post"],
            "state": ["s"],
            "nonce": ["n"],
            "since": ["0", "9007199254740991"],
            "token_type_hint": ["access_token"],
        }
        found.cookies = ["; ".join(f"{k}={v}" for k, v in client.cookies.items())]
        found.bearer = [tokens["access_token"]]
        holder, now = Holder(), int(time.time())
        found.dpop = [
            holder.proof("POST", servers.issuer + "/token", now).encode(),
            holder.proof("GET", servers.issuer + "/api/me", now, access_token=tokens["access_token"]).encode(),
            b"a.b.c",
            b"\xff\xfe",
            b"",
        ]
    return found


def test_fuzz_both_servers_no_5xx_no_traceback(servers: Servers) -> None:
    """docs/SECURITY.md P22: 10,000+ generated malformed requests over every endpoint of both servers:
    no 5xx, no trace."""
    aims = targets(servers)
    secrets = mint_secrets(servers)
    tally = Tally()
    per_worker = -(-COUNT // CONNECTIONS)
    workers = [
        threading.Thread(
            target=_worker,
            args=(Generator(random.Random(f"{SEED}-{i}"), servers, aims, secrets), per_worker, servers, tally),
        )
        for i in range(CONNECTIONS)
    ]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    tried = sum(tally.statuses.values())
    print(
        f"\nfuzz: seed {SEED}, {tried} requests in {time.monotonic() - began:.1f} s, "
        f"statuses {dict(sorted(tally.statuses.items()))} (0 = connection closed without an answer)"
    )
    assert tried >= COUNT
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert {f"{aim.server} {aim.key}" for aim in aims} <= tally.hit
    assert servers.process.poll() is None
    traces = [line for line in servers.printed().splitlines() if TRACE.search(line)]
    assert not traces, "\n".join(traces[:20])


def test_normal_flow_still_works_after_the_fuzz(servers: Servers) -> None:
    """docs/SECURITY.md P22: after the fuzz run (same servers), a complete code + PKCE sign-in and an API call work.
    From 127.0.0.2: the fuzz's failed sign-ins from 127.0.0.1 are throttled per address (P18), as they should be."""
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=servers.issuer, follow_redirects=False, timeout=30, transport=transport) as client:
        flow = Flow(client)  # type: ignore[arg-type]
        params = flow.code_params(client_id="spa-demo", redirect_uri=servers.spa + "/")
        redirect = flow.run(params)
        assert redirect.status_code in (302, 303), redirect.text
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        exchanged = flow.exchange(code, client_id="spa-demo", redirect_uri=servers.spa + "/")
        assert exchanged.status_code == 200, exchanged.text
        me = client.get("/api/me", headers={"Authorization": "Bearer " + exchanged.json()["access_token"]})
        assert me.status_code == 200 and me.json()["sub"] == "alice"
    assert httpx.get(servers.spa + "/", timeout=30).status_code == 200
    assert not [line for line in servers.printed().splitlines() if TRACE.search(line)]


def _new_output(servers: Servers, mark: int) -> list[str]:
    return [line for line in servers.printed()[mark:].splitlines() if TRACE.search(line)]


@pytest.mark.parametrize(
    "server, path",
    [("provider", "/token"), ("provider", "/login"), ("provider", "/jwks"), ("spa", "/lab/blank"), ("spa", "/main.py")],
)
def test_a_request_cut_short_leaves_no_trace(servers: Servers, server: str, path: str) -> None:
    """docs/SECURITY.md P22: a client that leaves mid-body (Starlette's ClientDisconnect), or a broken chunked body
    that uvicorn answers with its own 400 before the app answers (the app's send then fails), is the
    connection's end, not a bug: no traceback, no 'unexpected' line."""
    port = servers.provider_port if server == "provider" else servers.spa_port
    head = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-www-form-urlencoded\r\n" % (
        path.encode(),
        port,
    )
    mark = len(servers.printed())
    cut = Connection(port)
    assert cut.exchange(head + b"Content-Length: 100\r\n\r\ngrant_type=", False, half_close=True) in (0, 400, 405)
    broken = Connection(port)
    status = broken.exchange(head + b"Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nzz\r\n", False, False)
    assert status == 400
    broken.close()
    time.sleep(0.5)  # the server logs after answering
    assert not _new_output(servers, mark)


@pytest.mark.parametrize("server, path", [("provider", "/jwks"), ("provider", "/token"), ("spa", "/main.py")])
def test_a_broken_body_after_the_answer_leaves_no_trace(servers: Servers, server: str, path: str) -> None:
    """docs/SECURITY.md P22: the app answers before reading a chunked body, then the body turns out broken. uvicorn's
    h11 protocol then fails to send its own 400 (the connection already answered) and asyncio would print that
    error with a full traceback; the server logs its type on one line instead, and closes the connection."""
    port = servers.provider_port if server == "provider" else servers.spa_port
    mark = len(servers.printed())
    connection = Connection(port)
    head = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n\r\n" % (path.encode(), port)
    assert connection.exchange(head, False, False) in (400, 401, 405)
    assert connection.sock is not None
    connection.sock.sendall(b"zz\r\n\r\n")
    assert connection.sock.recv(65536) == b""  # closed by the server
    connection.close()
    time.sleep(0.5)  # the server logs after closing
    assert not _new_output(servers, mark)
