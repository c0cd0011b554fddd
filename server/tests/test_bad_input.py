"""docs/SECURITY.md P22: bad input of any shape gets a clear 4xx — an OAuth `error` from the JSON
endpoints, an HTML page from the pages — never a 500 and never a stack trace. Each case of the
matrix asserts the exact answer it must get (`expected`): status and OAuth error code, the error
page, or the redirect back to the client with `error=` once the redirect URI is known good.

Requests go straight to the ASGI app with raw bytes (what uvicorn would hand it), because an
HTTP client library would repair the very input under test: it percent-encodes raw bytes in the
query and merges repeated headers. One provider serves the whole module; every case gets a fresh
session, pending consent and CSRF tokens minted through the provider itself, so that bad input
also reaches the code behind the CSRF checks.
"""

import asyncio
import base64
import itertools
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from dpop_support import TOKEN_URL, Holder, b64url, dpop_tokens, unsigned
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import OctKey
from provider_support import ISSUER, POST_LOGOUT, REDIRECT, SECRET, TEST_CONFIG, Clock, Flow, challenge_of, seeded
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from spalab.host.app import create_spa_app
from spalab.provider.app import _routes as provider_routes
from spalab.provider.app import create_provider_app
from spalab.provider.config import parse_config
from spalab.provider.core.authorization import resolve_client, validate_authorization_request
from spalab.provider.core.claims import id_token_claims

OAUTH_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "unsupported_token_type",
    "invalid_token",
    "insufficient_scope",
    "invalid_dpop_proof",
    "use_dpop_nonce",
}
# A traceback, or a source path of the provider or a library, in a response body.
LEAK = re.compile(rb'Traceback|\.py", line \d|site-packages|[/\\]spalab[/\\]\w+\.py')
FORM = b"application/x-www-form-urlencoded"
CLIENT_ADDRESS = ("203.0.113.50", 40000)


# --- the raw ASGI client ------------------------------------------------------------------


@dataclass
class Raw:
    method: str
    path: str
    query: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    client: tuple[str, int] = CLIENT_ADDRESS


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    raised: Exception | None = None

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


def call(app: Starlette, request: Raw) -> Answer:
    """One HTTP request as an ASGI server delivers it; the body arrives in 16 KiB chunks."""
    chunks = [request.body[i : i + 16384] for i in range(0, len(request.body), 16384)] or [b""]
    messages: list[dict] = []  # type: ignore[type-arg]

    async def receive() -> dict:  # type: ignore[type-arg]
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "method": request.method,
        "path": request.path,
        "raw_path": request.path.encode(),
        "root_path": "",
        "query_string": request.query,
        "headers": [(b"host", b"127.0.0.1:9000"), *request.headers],
        "client": request.client,
        "server": ("127.0.0.1", 9000),
    }
    raised = None
    try:
        asyncio.run(app(scope, receive, send))
    except Exception as exc:  # what escapes the app reaches the server: a 500 and a logged trace
        raised = exc
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Answer(start["status"], list(start.get("headers", [])), body, raised)


# --- the provider under test and fresh credentials per case -----------------------------------


@dataclass
class Target:
    app: Starlette
    api_token: str
    spare_token: str
    refresh_token: str
    dpop_key: Holder  # the key dpop_token is bound to (RFC 9449 §6.1)
    dpop_token: str

    def fresh(self, needed: bytes = b"{COOKIE}{REQUEST_ID}") -> dict[str, str]:
        """Placeholders → values: a new session with a pending consent, and CSRF tokens for both.
        Only what `needed` mentions is written to the store, to keep the matrix fast."""
        provider = self.app.state.provider
        now = provider.clock()
        session, browser, request_id = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        if b"{COOKIE}" in needed:
            provider.store.create_session(session, "alice", now, now + 3600)
        if b"{REQUEST_ID}" in needed:
            provider.store.save_pending(request_id, session, dict(_authorize_params()), now + 600)
        suffix = provider.cookie_suffix
        refresh = self.refresh_token if b"{REFRESH_TOKEN}" not in needed else self.new_refresh_token()
        # An id_token of the fresh session (same user, same auth_time), as the client would hold it.
        hint_claims = id_token_claims(ISSUER, "alice", "spa", now, 300, now, None, {})
        hint = provider.issuer.keys.sign(hint_claims, "JWT", now) if b"{ID_TOKEN_HINT}" in needed else ""
        return {
            "{COOKIE}": f"spalab_session_{suffix}={session}; spalab_csrf_{suffix}={browser}",
            "{LOGIN_CSRF}": provider.csrf_token("login", browser),
            "{LOGOUT_CSRF}": provider.csrf_token("logout", session),
            "{CONSENT_CSRF}": provider.csrf_token("consent", session, request_id),
            "{REQUEST_ID}": request_id,
            "{API_TOKEN}": self.api_token,
            "{SPARE_TOKEN}": self.spare_token,
            "{REFRESH_TOKEN}": refresh,
            "{USER}": "nobody-" + secrets.token_hex(8),
            "{ID_TOKEN_HINT}": hint,
            "{DPOP_TOKEN}": self.dpop_token,
        }

    def proof(self, method: str, path: str, authorization: bytes | None) -> str:
        """A valid DPoP proof for this request, hashing the token in its Authorization header if there is one."""
        match = re.match(rb"^(?:dpop|bearer) +(\S+)$", authorization or b"", re.IGNORECASE)
        token = match.group(1).decode("ascii") if match else None
        return self.dpop_key.proof(method, ISSUER + path, self.app.state.provider.clock(), access_token=token)

    def new_refresh_token(self) -> str:
        """A refresh token of its own for each case: a used one is refused (rotation, docs/SECURITY.md P12)."""
        provider = self.app.state.provider
        issuer, clients, now = provider.issuer, provider.config.clients, provider.clock()
        params = dict(_authorize_params())
        client, redirect_uri = resolve_client(params, clients)
        request = validate_authorization_request(params, client, redirect_uri)
        code = issuer.authorization_response(request, "alice", now, now)["code"]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER}
        return str(issuer.exchange_code(form, client, now).signed(issuer.keys)["refresh_token"])


VERIFIER = "v" * 43


def _authorize_params() -> list[tuple[str, str]]:
    return [
        ("client_id", "spa"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "s"),
        ("code_challenge", challenge_of(VERIFIER)),
        ("code_challenge_method", "S256"),
    ]


def _target(data_dir: Path) -> Target:
    app = create_provider_app(parse_config(TEST_CONFIG, "test config"), seeded(data_dir), clock=Clock())
    with TestClient(app, base_url=ISSUER, follow_redirects=False) as client:
        flow = Flow(client)
        api_token = flow.tokens()["access_token"]
        spare_token = flow.tokens()["access_token"]
        refresh_token = flow.tokens()["refresh_token"]
        dpop_key = Holder()
        dpop_token = dpop_tokens(flow, dpop_key, app.state.provider.clock())["access_token"]
    return Target(app, api_token, spare_token, refresh_token, dpop_key, dpop_token)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    made = _target(tmp_path_factory.mktemp("p22"))
    yield made
    made.app.state.provider.store.close()


# --- the matrix -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    json: bool  # answers JSON (OAuth errors); otherwise HTML pages
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    variant: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}" + (f" ({self.variant})" if self.variant else "")

    @property
    def in_body(self) -> bool:
        return self.method == "POST"


BEARER = (("authorization", "Bearer {API_TOKEN}"),)
END_SESSION = (
    ("id_token_hint", "{ID_TOKEN_HINT}"),
    ("client_id", "spa"),
    ("post_logout_redirect_uri", POST_LOGOUT),
    ("state", "s"),
)
COOKIE = (("cookie", "{COOKIE}"),)
ENDPOINTS = [
    Endpoint("GET", "/", False, (), COOKIE),
    Endpoint("GET", "/authorize", False, tuple(_authorize_params()), COOKIE),
    Endpoint("POST", "/authorize", False, tuple(_authorize_params()), COOKIE),
    Endpoint("GET", "/login", False, (("next", "/authorize?client_id=spa"),), COOKIE),
    Endpoint(
        "POST",
        "/login",
        False,
        (("username", "{USER}"), ("password", "not-it"), ("next", "/"), ("csrf_token", "{LOGIN_CSRF}")),
        COOKIE,
    ),
    Endpoint(
        "POST",
        "/consent",
        False,
        (("request_id", "{REQUEST_ID}"), ("csrf_token", "{CONSENT_CSRF}"), ("decision", "allow")),
        COOKIE,
    ),
    Endpoint("POST", "/logout", False, (("csrf_token", "{LOGOUT_CSRF}"),), COOKIE),
    Endpoint("GET", "/end-session", False, END_SESSION, COOKIE),
    Endpoint("POST", "/end-session", False, END_SESSION, COOKIE),
    Endpoint(
        "POST",
        "/token",
        True,
        (
            ("grant_type", "authorization_code"),
            ("code", "not-a-code"),
            ("redirect_uri", REDIRECT),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ),
        variant="code",
    ),
    Endpoint(
        "POST",
        "/token",
        True,
        (
            ("grant_type", "refresh_token"),
            ("refresh_token", "{REFRESH_TOKEN}"),
            ("client_id", "spa"),
            ("scope", "openid"),
        ),
        variant="refresh",
    ),
    Endpoint(
        "POST", "/revoke", True, (("token", "{SPARE_TOKEN}"), ("client_id", "spa"), ("token_type_hint", "access_token"))
    ),
    Endpoint(
        "POST",
        "/introspect",
        True,
        (("token", "{SPARE_TOKEN}"), ("client_id", "confidential"), ("client_secret", SECRET)),
    ),
    Endpoint("GET", "/userinfo", True, (), BEARER),
    Endpoint("POST", "/userinfo", True, (), BEARER),
    Endpoint("GET", "/api/me", True, (), BEARER),
    Endpoint("GET", "/api/contacts", True, (), BEARER),
    Endpoint("GET", "/jwks", True),
    Endpoint("GET", "/.well-known/openid-configuration", True),
    Endpoint("GET", "/.well-known/oauth-authorization-server", True),
    Endpoint("GET", "/_spalab/requests", True, (("since", "0"),)),
    Endpoint("GET", "/health/live", True),
    Endpoint("GET", "/health/ready", True),
]


@dataclass(frozen=True)
class Case:
    endpoint: Endpoint
    label: str
    method: str
    params: bytes  # raw, urlencoded; goes to the query or the body by the endpoint's method
    headers: tuple[tuple[bytes, bytes], ...] = ()
    content_type: bytes | None = FORM
    body: bytes | None = None  # replaces the encoded params as the body
    query: bytes | None = None  # replaces the query even for a POST

    @property
    def id(self) -> str:
        return f"{self.endpoint.name} {self.label}"


def _encode(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs).replace("%7B", "{").replace("%7D", "}").encode()


def _param_shapes(endpoint: Endpoint) -> Iterator[tuple[str, bytes]]:
    """Bad parameters: missing, repeated, over-long, wrong type, bad encoding, control characters."""
    pairs = list(endpoint.params)
    yield "valid", _encode(pairs)
    yield "no parameters", b""
    first = pairs[0][0] if pairs else "x"
    for name, _ in pairs:
        yield f"missing {name}", _encode([p for p in pairs if p[0] != name])
        yield f"repeated {name}", _encode(pairs + [p for p in pairs if p[0] == name])
        yield f"repeated {name} with another value", _encode(pairs + [(name, "other")])
        yield f"empty {name}", _encode([(n, "" if n == name else v) for n, v in pairs])
        yield f"over-long {name}", _encode([(n, "A" * 10_000 if n == name else v) for n, v in pairs])
        yield f"array-style {name}", _encode([(n + "[]" if n == name else n, v) for n, v in pairs])
        yield f"json value {name}", _encode([(n, '{"a": [1, 2]}' if n == name else v) for n, v in pairs])
        yield f"number {name}", _encode([(n, "-1e309" if n == name else v) for n, v in pairs])
        yield f"unicode {name}", _encode([(n, "é\u202e𝔘\ufeff" if n == name else v) for n, v in pairs])
    rest = _encode(pairs)
    sep = b"&" if rest else b""
    for label, raw in [
        ("invalid UTF-8 percent-encoded", b"%ff%fe"),
        ("invalid UTF-8 raw byte", b"\xff\xfe"),
        ("overlong UTF-8 encoding", b"%c0%af"),
        ("UTF-16 surrogate", b"%ed%a0%80"),
        ("NUL percent-encoded", b"a%00b"),
        ("NUL raw byte", b"a\x00b"),
        ("newline", b"a%0d%0aSet-Cookie:%20x=y"),
        ("control character", b"a%01%1f%7f"),
        ("bad percent escape", b"%zz%"),
        ("lone percent", b"%"),
    ]:
        yield f"{label} in {first}", rest + sep + first.encode() + b"=" + raw
        yield f"{label} in a name", rest + sep + raw + b"=1"
    yield "name without value", rest + sep + first.encode()
    yield "empty names", b"&&=&=x&&"
    yield "semicolons", rest.replace(b"&", b";")
    yield "100 fields", rest + sep + b"&".join(b"f%d=1" % i for i in range(100))
    yield "over-long name", rest + sep + b"n" * 10_000 + b"=1"
    yield "plus and spaces", rest + sep + b"scope=a++b+&state=+"


def _content_shapes(endpoint: Endpoint) -> Iterator[Case]:
    """Wrong content types and bodies for the endpoints that read a form."""
    valid = _encode(list(endpoint.params))
    as_json = json.dumps(dict(endpoint.params)).encode()
    boundary = b"xyz"
    multipart = (
        b"".join(
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="'
            + n.encode()
            + b'"\r\n\r\n'
            + v.encode()
            + b"\r\n"
            for n, v in endpoint.params
        )
        + b"--"
        + boundary
        + b"--\r\n"
    )
    for label, content_type, body in [
        ("JSON body", b"application/json", as_json),
        ("multipart body", b"multipart/form-data; boundary=xyz", multipart),
        ("text/plain body", b"text/plain", valid),
        ("no content type", None, valid),
        ("empty content type", b"", valid),
        ("latin-1 charset", FORM + b"; charset=iso-8859-1", valid),
        ("odd parameters on the content type", FORM + b"; charset=utf-8; boundary=x", valid),
        ("content type in capitals", FORM.upper(), valid),
        ("garbage content type", b"\xff\x00;;=", valid),
        ("empty body", FORM, b""),
        ("huge body (> 64 KiB)", FORM, valid + b"&pad=" + b"A" * 70_000),
        ("huge body of many fields", FORM, b"&".join([valid] + [b"a=b"] * 20_000)),
        ("huge body of few fields", FORM, b"&".join([valid] + [b"pad%d=" % i + b"A" * 4000 for i in range(20)])),
        ("huge non-form body", b"application/json", b"[" * 100_000),
        ("binary body", FORM, bytes(range(256)) * 4),
    ]:
        yield Case(endpoint, label, endpoint.method, b"", content_type=content_type, body=body)
    # Parameters in the URL of a POST (RFC 6749 §3.2: the back channel takes them in the body).
    yield Case(endpoint, "parameters in the query of a POST", endpoint.method, b"", query=valid, body=b"")
    yield Case(endpoint, "parameters in both query and body", endpoint.method, valid, query=valid)


AUTHORIZATION_SHAPES = [
    ("two Authorization headers", [b"Bearer {API_TOKEN}", b"Bearer {API_TOKEN}"]),
    ("Bearer without a token", [b"Bearer"]),
    ("Bearer with spaces only", [b"Bearer    "]),
    ("Bearer junk", [b"Bearer \xff\xfe junk !!"]),
    ("Bearer three dots", [b"Bearer ..."]),
    ("Bearer forged JWT", [b"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."]),
    ("Bearer JWT with odd header", [b"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6WzFdfQ.e30.AAAA"]),
    ("Bearer over-long", [b"Bearer " + b"A" * 20_000]),
    ("Basic bad base64", [b"Basic !!!not-base64!!!"]),
    ("Basic without colon", [b"Basic " + base64.b64encode(b"spa")]),
    ("Basic invalid UTF-8", [b"Basic " + base64.b64encode(b"\xff\xfe:\xff")]),
    ("Basic percent junk", [b"Basic " + base64.b64encode(b"%ff%:%zz")]),
    ("Basic empty", [b"Basic "]),
    ("Basic and Bearer", [b"Basic " + base64.b64encode(b"spa:x"), b"Bearer {API_TOKEN}"]),
    ("unknown scheme", [b"Digest username=x"]),
    ("empty Authorization", [b""]),
]
OTHER_HEADERS = [
    ("junk cookie", [(b"cookie", b"spalab_session_x=\xff\x00; ;;==; a")]),
    ("session cookie unknown", [(b"cookie", b"spalab_session_00000000=nope; spalab_csrf_00000000=nope")]),
    ("odd origin", [(b"origin", b"null")]),
    ("odd referer", [(b"referer", b"http://[::1/x?code=abc")]),
    ("odd host", [(b"host", b"\xff\xfe")]),
]


_KEY = Holder()
_NOW = Clock().now  # the target's clock, which no test moves


def _bad_proof(header: dict[str, object] | None = None, **claims: object) -> bytes:
    """A signed proof with one defect (each refused at every endpoint: its htm and htu are the token endpoint's)."""
    return _KEY.proof("POST", TOKEN_URL, _NOW, header=header, **claims).encode()


def _other_signature() -> bytes:
    header, claims, _ = _KEY.proof("POST", TOKEN_URL, _NOW, iat=_NOW - 3600).split(".")
    return f"{header}.{claims}.{Holder().proof('POST', TOKEN_URL, _NOW).split('.')[2]}".encode()


_NONE_HEADER = {"typ": "dpop+jwt", "alg": "none", "jwk": _KEY.jwk}
_CLAIMS = {"jti": "j", "htm": "POST", "htu": TOKEN_URL, "iat": _NOW - 3600}
_OCT = Holder("HS256", OctKey.generate_key(256))
# The DPoP header's hostile shapes (RFC 9449 §4.3), besides the valid proof "{PROOF}" made for each request.
DPOP_SHAPES: list[tuple[str, list[bytes]]] = [
    ("valid proof", [b"{PROOF}"]),
    ("two proofs", [b"{PROOF}", b"{PROOF}"]),
    ("empty", [b""]),
    ("spaces", [b"   "]),
    ("junk bytes", [b"\xff\xfe junk !!"]),
    ("non-ASCII parts", ["é.é.é".encode()]),
    ("three dots", [b"..."]),
    ("two parts", [b"eyJhbGciOiJFUzI1NiJ9.e30"]),
    ("over-long", [b"A" * 10_000 + b"." + b"A" * 10_000 + b".A"]),
    ("header not JSON", [f"{b64url(b'{nope')}.e30.c2ln".encode()]),
    ("header a JSON string", [b64url(b'"xalgx"').encode() + b".e30.c2ln"]),
    ("header nested deep", [f"{b64url(b'[' * 700 + b']' * 700)}.e30.c2ln".encode()]),
    ("claims nested too deep", [_KEY.sign_raw(_NONE_HEADER | {"alg": "ES256"}, b"[" * 2000 + b"]" * 2000).encode()]),
    ("claims not JSON", [_KEY.sign_raw(_NONE_HEADER | {"alg": "ES256"}, b"{nope").encode()]),
    ("alg none", [unsigned(_NONE_HEADER, _CLAIMS).encode()]),
    ("alg none with a signature", [unsigned(_NONE_HEADER, _CLAIMS).encode() + b"c2ln"]),
    ("alg HS256", [_OCT.proof("POST", TOKEN_URL, _NOW).encode()]),
    ("private key in jwk", [_bad_proof(header={"jwk": dict(_KEY.key.as_dict(private=True))})]),
    ("jwk not an object", [_bad_proof(header={"jwk": "key"})]),
    ("jwk of wrong member types", [_bad_proof(header={"jwk": {"kty": "EC", "crv": 1, "x": [], "y": {}}})]),
    ("typ JWT", [_bad_proof(header={"typ": "JWT"})]),
    ("crit header", [_bad_proof(header={"crit": ["b64"], "b64": False})]),
    ("signed by another key", [_other_signature()]),
    ("jti null", [_bad_proof(jti=None, iat=_NOW - 3600)]),
    ("iat a string", [_bad_proof(iat="now")]),
    ("iat infinite", [_bad_proof(iat=float("inf"))]),
    ("iat an hour ago", [_bad_proof(iat=_NOW - 3600)]),
    ("htu not a string", [_bad_proof(htu=[1], iat=_NOW - 3600)]),
    ("htu not a URL", [_bad_proof(htu="http://[::1", iat=_NOW - 3600)]),
]
# The DPoP scheme at the protected resources: (label, Authorization values, DPoP values, expected answer).
DPOP_SCHEME_SHAPES: list[tuple[str, list[bytes], list[bytes], tuple[str, int, str]]] = [
    ("DPoP without a token", [b"DPoP"], [b"{PROOF}"], ("json", 401, "invalid_token")),
    ("DPoP junk", [b"DPoP \xff\xfe junk"], [b"{PROOF}"], ("json", 401, "invalid_token")),
    ("DPoP in lower case", [b"dpop {DPOP_TOKEN}"], [b"{PROOF}"], ("ok", 200, "")),
    ("DPoP with a bearer token", [b"DPoP {API_TOKEN}"], [b"{PROOF}"], ("json", 401, "invalid_token")),
    ("bound token as Bearer", [b"Bearer {DPOP_TOKEN}"], [], ("json", 401, "invalid_token")),
    ("bound token as Bearer with a proof", [b"Bearer {DPOP_TOKEN}"], [b"{PROOF}"], ("json", 401, "invalid_token")),
    ("DPoP and Bearer", [b"DPoP {DPOP_TOKEN}", b"Bearer {API_TOKEN}"], [b"{PROOF}"], ("json", 400, "invalid_request")),
]
RESOURCES = ("/api/me", "/api/contacts", "/userinfo")
# Endpoints that never read the DPoP header get a few shapes only: it is ignored there.
IGNORED_DPOP_SHAPES = ("valid proof", "two proofs", "junk bytes", "over-long")


def _dpop_cases(endpoint: Endpoint, headers: tuple[tuple[bytes, bytes], ...]) -> Iterator[Case]:
    params = _encode(list(endpoint.params))
    reads_dpop = endpoint.path in (*RESOURCES, "/token")
    for label, values in DPOP_SHAPES:
        if reads_dpop or label in IGNORED_DPOP_SHAPES:
            dpop_headers = tuple((b"dpop", v) for v in values)
            yield Case(endpoint, f"DPoP header: {label}", endpoint.method, params, headers + dpop_headers)
    if endpoint.path not in RESOURCES:
        return
    others = tuple(h for h in headers if h[0] != b"authorization")
    scheme = others + ((b"authorization", b"DPoP {DPOP_TOKEN}"),)
    for label, values in DPOP_SHAPES:
        yield Case(
            endpoint, f"DPoP scheme: {label}", endpoint.method, params, scheme + tuple((b"dpop", v) for v in values)
        )
    for label, authorizations, proofs, _ in DPOP_SCHEME_SHAPES:
        extra = tuple((b"authorization", v) for v in authorizations) + tuple((b"dpop", v) for v in proofs)
        yield Case(endpoint, f"DPoP scheme: {label}", endpoint.method, params, others + extra)


def _cases() -> Iterator[Case]:
    for endpoint in ENDPOINTS:
        headers = tuple((k.encode(), v.encode()) for k, v in endpoint.headers)
        for label, params in _param_shapes(endpoint):
            yield Case(endpoint, label, endpoint.method, params, headers)
        if endpoint.in_body:
            yield from _content_shapes(endpoint)
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "BREW"):
            if method != endpoint.method:
                params = _encode(list(endpoint.params))
                yield Case(endpoint, f"method {method}", method, params, headers)
        others = tuple(h for h in headers if h[0] != b"authorization")
        for label, values in AUTHORIZATION_SHAPES:
            yield Case(
                endpoint,
                label,
                endpoint.method,
                _encode(list(endpoint.params)),
                others + tuple((b"authorization", v) for v in values),
            )
        for label, extra in OTHER_HEADERS:
            yield Case(endpoint, label, endpoint.method, _encode(list(endpoint.params)), headers + tuple(extra))
        yield from _dpop_cases(endpoint, headers)


CASES = list(_cases())


def _fill(raw: bytes, values: dict[str, str]) -> bytes:
    for placeholder, value in values.items():
        raw = raw.replace(placeholder.encode(), value.encode())
    return raw


def _request(case: Case, target: Target) -> Raw:
    values = target.fresh(b"".join([case.params, case.body or b"", *(v for _, v in case.headers)]))
    if any(b"{PROOF}" in v for _, v in case.headers):
        authorization = next((_fill(v, values) for k, v in case.headers if k == b"authorization"), None)
        values["{PROOF}"] = target.proof(case.method, case.endpoint.path, authorization)
    params = _fill(case.params, values)
    headers = [(k, _fill(v, values)) for k, v in case.headers]
    if case.endpoint.in_body or case.body is not None:
        body = _fill(case.body, values) if case.body is not None else params
        query = _fill(case.query, values) if case.query is not None else b""
        if case.content_type is not None:
            headers.append((b"content-type", case.content_type))
    else:
        body, query = b"", params
    # Each case from a network of its own: sign-in failures are throttled per address, IPv6 by /64
    # (docs/SECURITY.md P18, P23).
    return Raw(case.method, case.endpoint.path, query, headers, body, (f"2001:db8:{next(_addresses):x}::1", 40000))


_addresses = itertools.count(1)


def assert_clear_answer(endpoint: Endpoint, method: str, answer: Answer) -> None:
    """4xx (or a legitimate 200/30x), never 5xx, the right kind of body, and no trace."""
    assert answer.raised is None, repr(answer.raised)
    assert answer.status < 500, answer.body[:300]
    assert answer.status in (200, 302, 303) or 400 <= answer.status < 500, answer.status
    assert not LEAK.search(answer.body), answer.body[:300]
    content_type = (answer.header(b"content-type") or b"").decode("latin-1")
    if answer.status in (302, 303):
        assert answer.header(b"location"), "redirect without Location"
    if answer.status == 405:
        # RFC 9110 §15.5.6: a 405 says which methods would work.
        assert answer.header(b"allow"), "405 without Allow"
    if method == "HEAD" or answer.status in (302, 303):
        return
    if endpoint.json:
        if answer.status >= 400:
            assert content_type.startswith("application/json"), (answer.status, content_type, answer.body[:200])
            assert json.loads(answer.body)["error"] in OAUTH_ERRORS
        elif answer.body:
            assert content_type.startswith("application/json"), content_type
    elif answer.status >= 400 or answer.body:
        assert content_type.startswith("text/html"), (answer.status, content_type, answer.body[:200])


# --- what each case must get ----------------------------------------------------------------------------

# Shapes that break the whole query or body: the strict parser refuses it before any parameter is read.
ENCODING = (
    "invalid UTF-8",
    "overlong UTF-8",
    "UTF-16 surrogate",
    "NUL",
    "newline",
    "control character",
    "over-long",
    "100 fields",
)
UNREADABLE_BODY = (
    "JSON body",
    "multipart body",
    "text/plain body",
    "no content type",
    "empty content type",
    "latin-1 charset",
    "odd parameters on the content type",
    "garbage content type",
    "huge body",
    "huge non-form body",
    "binary body",
)


def _shape(case: Case) -> tuple[str, str]:
    """(what the case does to the parameters, which one): valid, none, malformed, repeated, absent or wrong."""
    label, names = case.label, [n for n, _ in case.endpoint.params]
    first = names[0] if names else "x"
    if label in ("valid", "name without value") or label in dict(AUTHORIZATION_SHAPES) or label in dict(OTHER_HEADERS):
        return "valid", ""  # a nameless or empty field is ignored (RFC 6749 §3.1); headers leave parameters alone
    if label.startswith("DPoP "):
        return "valid", ""  # the DPoP shapes change headers only
    if label.startswith(("bad percent escape in a name", "lone percent in a name")):
        return "valid", ""  # an unknown name that decodes to itself: ignored
    if label.startswith(ENCODING):
        return "malformed", ""
    if label.startswith(("bad percent escape in", "lone percent in")):
        return "repeated", first  # the shape appends the first name once more
    if label in ("no parameters", "empty names", "semicolons"):
        return ("valid", "") if len(names) == 1 and label == "semicolons" else ("none", "")
    if label == "plus and spaces":  # appends scope= and state=
        return ("repeated", "scope") if "scope" in names or "state" in names else ("valid", "")
    kind, _, name = label.partition(" ")
    if label.startswith("repeated"):
        return "repeated", name.removesuffix(" with another value").removeprefix("with another value ")
    if kind in ("missing", "empty", "array-style"):
        return "absent", name
    if label.startswith(("json value", "number", "unicode")):
        return "wrong", label.rsplit(" ", 1)[1]
    return "valid", ""  # Authorization and other header shapes leave the parameters alone


def _repeated_name(case: Case) -> str:
    return case.label.removeprefix("repeated ").removesuffix(" with another value")


# Outcomes: ("json", status, error) | ("ok", status) | ("page", status) | ("client", status, error or "code")
# | ("local", status, path) | ("rp", status, "state" or ""): to the post_logout_redirect_uri.
# Redirects: 302 after GET, 303 after POST (docs/SECURITY.md P16).
Outcome = tuple[str, int, str]


def expected(case: Case) -> Outcome:
    """What the provider must answer: docs/SECURITY.md P2/P22, RFC 6749 §4.1.2.1, §5.2, RFC 6750 §3.1."""
    endpoint = case.endpoint
    if case.label == "odd host":  # docs/SECURITY.md P24: a Host that is not ours (here not even text) reaches nothing
        return ("json", 400, "invalid_request") if endpoint.json else ("page", 400, "")
    if case.method != endpoint.method:
        return _other_method(case)
    if case.content_type != FORM or case.body is not None or case.query is not None:
        return _content(case)
    if case.label.startswith("DPoP "):
        return _dpop(case)
    return ORACLES[endpoint.path](case, *_shape(case))


def _dpop(case: Case) -> Outcome:
    """RFC 9449 §4.3, §7; docs/SECURITY.md P30-P35: what the DPoP header does, endpoint by endpoint."""
    kind, _, shape = case.label.partition(": ")
    path = case.endpoint.path
    scheme_shapes = {label: outcome for label, _, _, outcome in DPOP_SCHEME_SHAPES}
    if shape in scheme_shapes:
        return scheme_shapes[shape]
    if kind == "DPoP scheme":  # a bound token under the DPoP scheme: the proof decides (401 at a resource)
        return ("ok", 200, "") if shape == "valid proof" else ("json", 401, "invalid_dpop_proof")
    if path == "/token" and shape != "valid proof":
        return ("json", 400, "invalid_dpop_proof")  # checked after client authentication, before the grant
    # Elsewhere the header is not read (beside a Bearer token it is ignored): the request's usual answer.
    return ORACLES[path](case, "valid", "")


def _other_method(case: Case) -> Outcome:
    endpoint, method = case.endpoint, case.method
    kind = "json" if endpoint.json else "page"
    if endpoint.path == "/authorize" and method in ("GET", "POST", "HEAD"):
        if method == "HEAD" and endpoint.method == "GET":
            return ("client", 302, "code")  # HEAD is GET without the body
        return ("page", 400, "")  # the other method reads the other place: no parameters there
    if endpoint.path == "/login" and method in ("GET", "HEAD"):
        return ("page", 200, "")
    if endpoint.path == "/end-session" and method in ("GET", "POST", "HEAD"):
        if method == "HEAD" and endpoint.method == "GET":
            return ORACLES[endpoint.path](case, "valid", "")
        # POST reads only a form body (none here); GET and HEAD read only the (empty) query: the question.
        return ("page", 400, "") if method == "POST" else ("page", 200, "")
    if endpoint.path == "/login" and method == "POST":
        return ("page", 400, "")  # no CSRF token in the body
    if endpoint.path == "/userinfo" and method in ("GET", "POST", "HEAD"):
        return ("ok", 200, "")  # OIDC Core §5.3.1: both methods
    if method == "HEAD" and endpoint.method == "GET":
        return ORACLES[endpoint.path](case, "valid", "")
    return (kind, 405, "invalid_request" if endpoint.json else "")


def _content(case: Case) -> Outcome:
    """Bodies that are not a UTF-8 form, and parameters in the URL of a POST. These cases send no cookie or
    Authorization header."""
    path, label = case.endpoint.path, case.label
    json_endpoint = case.endpoint.json
    if path == "/userinfo":
        return ("json", 401, "invalid_token")  # no token: the body is never read
    if label.startswith(UNREADABLE_BODY):
        return ("json", 400, "invalid_request") if json_endpoint else ("page", 400, "")
    if path in ("/token", "/revoke", "/introspect"):
        if label == "content type in capitals":  # RFC 9110 §8.3.1: media types are case-insensitive
            return ORACLES[path](case, "valid", "")
        if label == "empty body":
            return ("json", 401, "invalid_client")
        return ("json", 400, "invalid_request")  # RFC 6749 §3.2: parameters in the body only
    if path == "/authorize":
        if label in ("content type in capitals", "parameters in both query and body"):
            return ("local", 303, "/login")  # a good request without a session: sign in first
        return ("page", 400, "")
    if path == "/logout" and label in (
        "content type in capitals",
        "empty body",
        "parameters in the query of a POST",
        "parameters in both query and body",
    ):
        return ("local", 303, "/")  # without a valid CSRF token nothing happens, but the user is sent home
    if path == "/end-session" and label in ("content type in capitals", "parameters in both query and body"):
        return ("rp", 303, "state")  # no session here: nothing to ask, back to the validated URI
    if path == "/end-session" and label in ("empty body", "parameters in the query of a POST"):
        return ("page", 200, "")  # no parameters in the body and no session: the signed-out page
    return ("page", 400, "")  # /login, /consent: no cookie, no CSRF match


def _authorize(case: Case, shape: str, name: str) -> Outcome:
    status = 303 if case.endpoint.method == "POST" else 302
    # RFC 6749 §4.1.2.1: until client_id and redirect_uri are known good, errors are a page (never a redirect).
    if shape in ("malformed", "none") or name in ("client_id", "redirect_uri"):
        return ("page", 400, "")
    if shape == "valid" or (name == "state" and shape != "repeated"):
        return ("client", status, "code")
    if name == "scope" and shape != "repeated":
        return ("client", status, "invalid_scope")
    if name == "response_type" and shape == "wrong":
        return ("client", status, "unsupported_response_type")
    return ("client", status, "invalid_request")  # repeated, missing response_type or PKCE (docs/SECURITY.md P4)


def _login_page(case: Case, shape: str, name: str) -> Outcome:
    # Only a local `next` is accepted (an open redirect otherwise); the first of repeated values is used.
    return ("page", 400, "") if shape in ("malformed", "wrong") else ("page", 200, "")


def _login(case: Case, shape: str, name: str) -> Outcome:
    return ("page", 400, "")  # wrong password or refused input: never signed in (each case a new address)


def _consent(case: Case, shape: str, name: str) -> Outcome:
    return ("client", 303, "code") if shape == "valid" else ("page", 400, "")


def _logout(case: Case, shape: str, name: str) -> Outcome:
    # docs/SECURITY.md P25: signed in, but without this session's CSRF token: nothing changes, a page says so.
    return ("local", 303, "/") if shape == "valid" else ("page", 400, "")


def _end_session(case: Case, shape: str, name: str) -> Outcome:
    """RP-Initiated Logout §2-§4 with a signed-in session: a valid hint of it signs out and goes back to the
    registered URI; no or a bad hint asks first (a page); a bad client_id or URI is an error page."""
    status = 303 if case.method == "POST" else 302
    if shape in ("malformed", "repeated") or (shape == "wrong" and name in ("client_id", "post_logout_redirect_uri")):
        return ("page", 400, "")
    if shape == "none" or name == "id_token_hint" or (shape == "absent" and name == "post_logout_redirect_uri"):
        return ("page", 200, "")  # the question, or (no URI) the signed-out page
    return ("rp", status, "" if (name, shape) == ("state", "absent") else "state")


def _token(case: Case, shape: str, name: str) -> Outcome:
    refresh = case.endpoint.variant == "refresh"
    client_error = _client_auth_error(case)
    if client_error is not None and shape == "valid":
        return client_error
    if shape in ("malformed", "repeated"):
        return ("json", 400, "invalid_request")
    if shape == "none" or name == "client_id":
        return ("json", 401, "invalid_client")
    if name == "grant_type":
        return ("json", 400, "unsupported_grant_type" if shape == "wrong" else "invalid_request")
    if name == "scope":
        # RFC 6749 §6: scope is optional on refresh; one beyond the original grant is invalid_scope.
        return ("ok", 200, "") if shape == "absent" else ("json", 400, "invalid_scope")
    if name in ("code", "refresh_token") and shape == "absent":
        return ("json", 400, "invalid_request")
    if shape == "valid":
        return ("ok", 200, "") if refresh else ("json", 400, "invalid_grant")  # the code baseline is unknown
    return ("json", 400, "invalid_grant")  # RFC 6749 §5.2: code, verifier, redirect_uri or scope do not match


def _client_auth_error(case: Case) -> Outcome | None:
    """RFC 6749 §2.3, §5.2; docs/SECURITY.md P20: what the Authorization header and Origin do at the back channel."""
    if case.label in ("two Authorization headers", "Basic and Bearer", "Basic percent junk"):
        return ("json", 400, "invalid_request")  # two methods, or a Basic client_id other than the form's
    if case.label in dict(AUTHORIZATION_SHAPES) or case.label == "odd origin":
        return ("json", 401, "invalid_client")
    return None


def _revoke(case: Case, shape: str, name: str) -> Outcome:
    client_error = _client_auth_error(case)
    if client_error is not None and shape == "valid":
        return client_error
    if shape in ("malformed", "repeated") or (name == "token" and shape == "absent"):
        return ("json", 400, "invalid_request")
    if shape == "none" or name in ("client_id", "client_secret"):
        return ("json", 401, "invalid_client")
    return ("ok", 200, "")  # RFC 7009 §2.2: 200 for any token, even an unknown one; hints are only hints


def _bearer(case: Case, shape: str, name: str) -> Outcome:
    if case.label in ("two Authorization headers", "Basic and Bearer"):
        return ("json", 400, "invalid_request")  # RFC 6750 §2: one method
    if case.label in dict(AUTHORIZATION_SHAPES):
        return ("json", 401, "invalid_token")
    return ("ok", 200, "")  # parameters are not read


def _public(case: Case, shape: str, name: str) -> Outcome:
    return ("ok", 200, "")


def _home(case: Case, shape: str, name: str) -> Outcome:
    return ("page", 200, "")  # the provider's home page reads no parameters


def _request_log(case: Case, shape: str, name: str) -> Outcome:
    return ("json", 400, "invalid_request") if shape in ("malformed", "repeated", "wrong") else ("ok", 200, "")


ORACLES = {
    "/": _home,
    "/authorize": _authorize,
    "/consent": _consent,
    "/logout": _logout,
    "/end-session": _end_session,
    "/token": _token,
    "/revoke": _revoke,
    "/introspect": _revoke,
    "/userinfo": _bearer,
    "/api/me": _bearer,
    "/api/contacts": _bearer,
    "/jwks": _public,
    "/.well-known/openid-configuration": _public,
    "/.well-known/oauth-authorization-server": _public,
    "/_spalab/requests": _request_log,
    "/health/live": _public,  # reads no parameters: whatever it is sent, it answers
    "/health/ready": _public,
}


def _oracle(case: Case) -> Outcome:
    if case.endpoint.path == "/login" and case.label != "odd host":
        if case.method != case.endpoint.method:
            return _other_method(case)
        if case.endpoint.method == "GET":
            return _login_page(case, *_shape(case))
        return _login(case, *_shape(case))
    return expected(case)


def assert_expected(case: Case, answer: Answer) -> None:
    kind, status, detail = _oracle(case)
    location = (answer.header(b"location") or b"").decode("latin-1")
    assert answer.status == status, (kind, status, detail, answer.status, location, answer.body[:200])
    if case.method == "HEAD":
        return
    if kind == "json":
        assert json.loads(answer.body)["error"] == detail
    elif kind == "ok":
        assert not answer.body or "error" not in json.loads(answer.body)
    elif kind == "client":
        parts = urlsplit(location)
        assert location.startswith(REDIRECT), location
        params = parse_qs(parts.query)
        assert ("code" in params) if detail == "code" else (params.get("error") == [detail]), location
        # RFC 9207 §2: iss on every response, errors included.
        assert params.get("iss") == [ISSUER], location
    elif kind == "rp":
        # RP-Initiated Logout §3: the registered post_logout_redirect_uri exactly, plus state when one was sent.
        parts = urlsplit(location)
        assert parts._replace(query="").geturl() == POST_LOGOUT, location
        assert set(parse_qs(parts.query)) == ({"state"} if detail == "state" else set()), location
    elif kind == "local":
        assert urlsplit(location).path == detail and not urlsplit(location).netloc, location


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_its_expected_answer(target: Target, case: Case) -> None:
    """docs/SECURITY.md P22, RFC 6749 §4.1.2.1, §5.2, RFC 6750 §3.1: each shape gets exactly the answer it should:
    the OAuth error code, the error page, or the redirect back to the client with `error=` once the redirect
    URI is known good; and never a 5xx or a trace."""
    answer = call(target.app, _request(case, target))
    assert_clear_answer(case.endpoint, case.method, answer)
    assert_expected(case, answer)


def test_the_matrix_covers_every_provider_route() -> None:
    """docs/SECURITY.md P22: a new endpoint of the provider must join the matrix (static files are the fuzz run's)."""
    routes = provider_routes(parse_config(TEST_CONFIG, "test config"), True)
    served = {
        (m, r.path) for r in routes if isinstance(r, Route) for m in (r.methods or ()) if m not in ("HEAD", "OPTIONS")
    }
    assert served == {(e.method, e.path) for e in ENDPOINTS}


# --- property tests -----------------------------------------------------------------------------------

PROPERTY = settings(max_examples=120, deadline=None)
AUTHORIZE = Endpoint("GET", "/authorize", False)
TOKEN = Endpoint("POST", "/token", True)
LOGIN = Endpoint("POST", "/login", False)
ME = Endpoint("GET", "/api/me", True)
# Raw bytes, plus fragments of real parameters so that examples get past the first checks.
_PIECES = st.sampled_from(
    [
        b"client_id=spa",
        b"redirect_uri=http%3A%2F%2Flocalhost%3A8000%2F",
        b"response_type=code",
        b"response_type=token",
        b"scope=openid",
        b"grant_type=authorization_code",
        b"grant_type=refresh_token",
        b"code=x",
        b"code_verifier=" + VERIFIER.encode(),
        b"client_secret=",
        b"&",
        b"=",
        b"%",
        b"%ff",
        b"%00",
        b"\xff",
        b"\x00",
        b";",
    ]
)
RAW = st.lists(st.one_of(st.binary(max_size=40), _PIECES), max_size=12).map(b"".join)


@PROPERTY
@given(query=RAW)
def test_any_query_string_at_authorize(target: Target, query: bytes) -> None:
    """docs/SECURITY.md P22: arbitrary bytes in the authorization request's query → page or redirect, never 5xx."""
    answer = call(
        target.app, Raw("GET", "/authorize", query, [(b"cookie", target.fresh(b"{COOKIE}")["{COOKIE}"].encode())])
    )
    assert_clear_answer(AUTHORIZE, "GET", answer)


@PROPERTY
@given(body=RAW, content_type=st.sampled_from([FORM, FORM + b"; charset=utf-8", b"text/plain", b""]))
def test_any_form_body_at_token(target: Target, body: bytes, content_type: bytes) -> None:
    """docs/SECURITY.md P22: arbitrary bytes as the token request's body → OAuth error JSON, never 5xx."""
    answer = call(target.app, Raw("POST", "/token", b"", [(b"content-type", content_type)], body))
    assert_clear_answer(TOKEN, "POST", answer)


@PROPERTY
@given(body=RAW)
def test_any_form_body_at_authorize_post(target: Target, body: bytes) -> None:
    """docs/SECURITY.md P22: arbitrary bytes as a form-posted authorization request."""
    answer = call(target.app, Raw("POST", "/authorize", b"", [(b"content-type", FORM)], body))
    assert_clear_answer(AUTHORIZE, "POST", answer)


@PROPERTY
@given(value=st.text(max_size=60))
def test_any_csrf_token_at_login(target: Target, value: str) -> None:
    """docs/SECURITY.md P22: any text as the sign-in form's CSRF token, with the browser's cookie set."""
    values = target.fresh(b"{COOKIE}")
    body = urlencode({"username": "nobody", "password": "x", "next": "/", "csrf_token": value}).encode()
    answer = call(
        target.app,
        Raw("POST", "/login", b"", [(b"content-type", FORM), (b"cookie", values["{COOKIE}"].encode())], body),
    )
    assert_clear_answer(LOGIN, "POST", answer)


@PROPERTY
@given(value=st.binary(max_size=200).filter(lambda b: b"\r" not in b and b"\n" not in b))
def test_any_authorization_header_at_the_api(target: Target, value: bytes) -> None:
    """docs/SECURITY.md P22, RFC 6750 §3.1: any Authorization value → 4xx with an OAuth error."""
    answer = call(target.app, Raw("GET", "/api/me", b"", [(b"authorization", b"Bearer " + value)]))
    assert_clear_answer(ME, "GET", answer)


_PROOF_PIECES = st.sampled_from([b"eyJ0eXAiOiJkcG9wK2p3dCJ9", b".", b"e30", b"c2ln", b"-", b"_", b"=", b"\xff", b" "])
PROOF_BYTES = st.lists(st.one_of(st.binary(max_size=30), _PROOF_PIECES), max_size=12).map(b"".join)


@PROPERTY
@given(value=PROOF_BYTES.filter(lambda b: b"\r" not in b and b"\n" not in b))
def test_any_dpop_header_at_the_api_and_the_token_endpoint(target: Target, value: bytes) -> None:
    """docs/SECURITY.md P22, P30: any DPoP header value with a bound token → 4xx with an OAuth error, never 5xx."""
    authorization = f"DPoP {target.dpop_token}".encode()
    answer = call(target.app, Raw("GET", "/api/me", b"", [(b"authorization", authorization), (b"dpop", value)]))
    assert_clear_answer(ME, "GET", answer)
    assert answer.status == 401
    form = _encode([("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", "spa")])
    answer = call(target.app, Raw("POST", "/token", b"", [(b"content-type", FORM), (b"dpop", value)], form))
    assert_clear_answer(TOKEN, "POST", answer)


# --- known 500s, each with its own test (P22 hardening) ---------------------------------------------

# A token whose header is JSON nested past the interpreter's recursion limit, in under 3 KB: the provider's
# look at its kid (keys._kid) raised RecursionError, a 500 for anyone who sent it (an attacker's review).
DEEP_HEADER_TOKEN = f"{b64url(b'[' * 1000 + b']' * 1000)}.e30.AAAA"


@pytest.mark.parametrize("scheme", ["Bearer", "DPoP"])
@pytest.mark.parametrize("path", RESOURCES)
def test_a_token_whose_header_nests_too_deep_is_an_invalid_token(target: Target, path: str, scheme: str) -> None:
    """docs/SECURITY.md P22, RFC 6750 §3.1: 401 invalid_token, not a 500."""
    headers = [(b"authorization", f"{scheme} {DEEP_HEADER_TOKEN}".encode())]
    answer = call(target.app, Raw("GET", path, b"", headers))
    assert answer.raised is None, repr(answer.raised)
    assert (answer.status, json.loads(answer.body)["error"]) == (401, "invalid_token")


@pytest.mark.parametrize(
    "path, credentials, expected",
    [
        # RFC 7009 §2.2: a token the server cannot read is answered like a revoked one.
        (
            "/revoke",
            (("client_id", "spa"),),
            b"",
        ),
        ("/introspect", (("client_id", "confidential"), ("client_secret", SECRET)), b'{"active":false}'),
    ],
)
def test_a_token_whose_header_nests_too_deep_is_not_active(
    target: Target, path: str, credentials: tuple[tuple[str, str], ...], expected: bytes
) -> None:
    """docs/SECURITY.md P22, RFC 7009 §2.2, RFC 7662 §2.2: revocation and introspection answer as for any
    token they do not know, not a 500."""
    body = _encode([("token", DEEP_HEADER_TOKEN), *credentials])
    answer = call(target.app, Raw("POST", path, b"", [(b"content-type", FORM)], body))
    assert answer.raised is None, repr(answer.raised)
    assert (answer.status, answer.body) == (200, expected)


SPA_SETTINGS = {"issuer": ISSUER, "client_id": "spa-demo", "redirect_uri": REDIRECT}


def _spa_app() -> Starlette:
    return create_spa_app([ISSUER], SPA_SETTINGS)


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
@pytest.mark.parametrize("credentials", [b"\xff", b"c3BhOng=\xe9", "spä:x".encode()])
def test_basic_credentials_with_a_non_ascii_byte_are_invalid_client(
    target: Target, path: str, credentials: bytes
) -> None:
    """docs/SECURITY.md P22, RFC 6749 §2.3.1: Basic credentials that are not base64 text are refused, not a 500."""
    headers = [(b"authorization", b"Basic " + credentials), (b"content-type", FORM)]
    answer = call(target.app, Raw("POST", path, b"", headers, b"token=x&grant_type=refresh_token&refresh_token=x"))
    assert answer.raised is None, repr(answer.raised)
    assert answer.status == 401
    assert json.loads(answer.body)["error"] == "invalid_client"
    assert answer.header(b"www-authenticate") == b'Basic realm="spalab"'


class Boom(RuntimeError):
    """A bug, as the last line of defence sees it."""


async def _raise(request: object) -> None:
    raise Boom("secret detail /srv/spalab/store.py")


@pytest.mark.parametrize("path, json_body", [("/_spalab/boom", True), ("/boom", False)])
def test_an_unexpected_exception_is_a_readable_500_without_a_trace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str, json_body: bool
) -> None:
    """docs/SECURITY.md P22: a bug answers 500 (JSON on the JSON endpoints, a page elsewhere) and does not escape
    the app: Starlette's ServerErrorMiddleware would re-raise it to uvicorn, which prints the traceback."""
    app = create_provider_app(parse_config(TEST_CONFIG, "test config"), seeded(tmp_path), clock=Clock())
    app.router.add_route(path, _raise)
    with TestClient(app, base_url=ISSUER, raise_server_exceptions=True) as client:
        response = client.get(path)
    assert response.status_code == 500
    if json_body:
        assert response.json() == {"error": "server_error"}
    else:
        assert response.headers["content-type"].startswith("text/html")
    assert not LEAK.search(response.content) and b"secret detail" not in response.content
    logged = [r for r in caplog.records if "Boom" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is None and "secret detail" not in logged[0].getMessage()
    app.state.provider.store.close()


def test_an_unexpected_exception_on_the_spa_host_is_a_readable_500_without_a_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """docs/SECURITY.md P22: the SPA host, likewise."""
    app = _spa_app()
    app.router.routes.insert(0, Route("/boom", _raise))
    response = TestClient(app, base_url="http://localhost:8000", raise_server_exceptions=True).get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert not LEAK.search(response.content) and b"secret detail" not in response.content
    logged = [r for r in caplog.records if "Boom" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is None


SPA_FILES = [
    "/",
    "/index.html",
    "/main.py",
    "/app.css",
    "/pyscript.json",
    "/mpy.json",
    "/popup-callback.html",
    "/baseline/",
]


@pytest.mark.parametrize("coding", ["identity", "br", "gzip"])
@pytest.mark.parametrize("date", ["Sat, 01 Jan 10000 00:00:00 GMT", "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"])
def test_if_modified_since_beyond_year_9999_is_ignored(coding: str, date: str) -> None:
    """docs/SECURITY.md P22, RFC 9110 §13.1.3: an invalid date (HTTP-date has a 4-digit year) is ignored: 200."""
    app = _spa_app()
    vendored = [r.path for r in app.router.routes if isinstance(r, Mount) and r.path.startswith("/vendor/")]
    paths = SPA_FILES + [f"{prefix}/{name}" for prefix in vendored for name in _some_files(app, prefix)]
    with TestClient(app, base_url="http://localhost:8000", raise_server_exceptions=True) as client:
        for path in paths:
            response = client.get(path, headers={"If-Modified-Since": date, "Accept-Encoding": coding})
            assert response.status_code == 200, path


def _some_files(app: Starlette, prefix: str) -> list[str]:
    mount = next(r for r in app.router.routes if isinstance(r, Mount) and r.path == prefix)
    directory = Path(mount.app.directory)  # type: ignore[attr-defined]
    served = (".mjs", ".js", ".css", ".json")  # what the vendor mounts serve: not README.md
    small = sorted(p.name for p in directory.iterdir() if p.name.endswith(served) and p.stat().st_size < 200_000)
    return small[:2]


@pytest.mark.parametrize("since", ["²", "9" * 5000, "-1", " 1", "1.0", "０", "0x10"])
def test_request_log_since_must_be_a_plain_number(target: Target, since: str) -> None:
    """docs/SECURITY.md P22: a `since` that is not ASCII digits is invalid_request on both servers' logs."""
    query = urlencode({"since": since}).encode()
    answer = call(target.app, Raw("GET", "/_spalab/requests", query))
    assert (answer.status, json.loads(answer.body)["error"]) == (400, "invalid_request")
    spa = call(_spa_app(), Raw("GET", "/_spalab/requests", query))
    assert (spa.status, json.loads(spa.body)["error"]) == (400, "invalid_request")


def test_request_log_since_as_a_number_works(target: Target) -> None:
    """Control for the test above: the digits the SPA sends (up to 2**53 - 1) are accepted on both servers."""
    for since in ("0", "9007199254740991"):
        query = urlencode({"since": since}).encode()
        assert call(target.app, Raw("GET", "/_spalab/requests", query)).status == 200
        assert call(_spa_app(), Raw("GET", "/_spalab/requests", query)).status == 200


# --- the SPA host's backend-for-frontend (spalab.host.bff) ----------------------------------------------
# The same promise on the BFF's routes (docs/SECURITY.md P22, H4): each shape gets its exact answer, JSON
# errors with the BFF's codes on its JSON routes, a redirect to the BFF page with a fixed error code from
# the callback, never a 5xx or a trace. The BFF talks to the module's provider in-process.

BFF_ORIGIN = "http://localhost:8000"
BFF_ERRORS = {"csrf_refused", "not_signed_in", "not_found", "method_not_allowed"}
CSRF_OK = [(b"x-spalab-bff", b"1"), (b"sec-fetch-site", b"same-origin"), (b"origin", BFF_ORIGIN.encode())]
BFF_JSON_ROUTES = {"/bff/session": "GET", "/bff/api/me": "GET", "/bff/logout": "POST"}
# (label, headers, outcome): "ok" is the route's answer to a browser without a session.
BFF_HEADER_SHAPES: list[tuple[str, list[tuple[bytes, bytes]], str]] = [
    ("valid", CSRF_OK, "ok"),
    ("no CSRF headers", [], "csrf"),
    ("header only", CSRF_OK[:1], "csrf"),
    ("header twice", [*CSRF_OK, (b"x-spalab-bff", b"1")], "csrf"),
    ("header junk", [(b"x-spalab-bff", b"\xff\x00"), *CSRF_OK[1:]], "csrf"),
    ("header empty", [(b"x-spalab-bff", b""), *CSRF_OK[1:]], "csrf"),
    ("origin junk", [*CSRF_OK[:2], (b"origin", b"\xff\xfe")], "csrf"),
    ("origin null", [*CSRF_OK[:2], (b"origin", b"null")], "csrf"),
    ("origin with a path", [*CSRF_OK[:2], (b"origin", BFF_ORIGIN.encode() + b"/")], "csrf"),
    ("sec-fetch-site junk", [CSRF_OK[0], (b"sec-fetch-site", b"\xff"), CSRF_OK[2]], "csrf"),
    ("sec-fetch-site twice", [*CSRF_OK, (b"sec-fetch-site", b"cross-site")], "csrf"),
    ("junk cookie", [*CSRF_OK, (b"cookie", b"__Host-spalab-bff=\xff\x00; ;;==; a")], "ok"),
    ("unknown session", [*CSRF_OK, (b"cookie", b"__Host-spalab-bff=nope; spalab-bff=nope")], "ok"),
    ("over-long cookie", [*CSRF_OK, (b"cookie", b"__Host-spalab-bff=" + b"A" * 20_000)], "ok"),
    ("junk authorization", [*CSRF_OK, (b"authorization", b"Bearer \xff\xfe")], "ok"),
    ("odd host", [*CSRF_OK, (b"host", b"\xff\xfe")], "host"),
]
BFF_QUERIES = [("no query", b""), ("junk query", b"%ff%00&&==&a=\xff&state=x&state=y"), ("long", b"a=" + b"A" * 20_000)]
BFF_NO_SESSION = {
    "/bff/session": (200, {"signed_in": False}),
    "/bff/api/me": (401, "not_signed_in"),
    "/bff/logout": (200, {"signed_in": False}),
}


@pytest.fixture(scope="module")
def bff_app(target: Target) -> Starlette:
    from httpx import ASGITransport

    from spalab.host.bff import BFF, BFFSettings

    settings = BFFSettings(ISSUER, "confidential", SECRET, BFF_ORIGIN, ISSUER + "/api")
    bff = BFF(settings, transport=ASGITransport(app=target.app), clock=Clock())
    return create_spa_app([ISSUER], SPA_SETTINGS, bff=bff)


def _bff_cases() -> Iterator[tuple[str, str, str, bytes, list[tuple[bytes, bytes]], str]]:
    """(id, method, path, query, headers, outcome)."""
    for path, method in BFF_JSON_ROUTES.items():
        for label, headers, outcome in BFF_HEADER_SHAPES:
            yield f"{path} {label}", method, path, b"", headers, outcome
        for label, query in BFF_QUERIES:
            yield f"{path} {label}", method, path, query, CSRF_OK, "ok"
        for other in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"):
            if other not in (method, "HEAD" if method == "GET" else method):
                yield f"{path} method {other}", other, path, b"", CSRF_OK, "405"
    for path in (
        "/bff/api/",
        "/bff/api/..",
        "/bff/api/me/../../jwks",
        "/bff/api/ÿ",
        "/bff/api/me%2F..",
        "/bff/api/a.b",
    ):
        yield f"api path {path}", "GET", path, b"", CSRF_OK, "not_found"
    for label, query in BFF_QUERIES:
        yield f"/bff/login {label}", "GET", "/bff/login", query, [(b"cookie", b"__Host-spalab-bff-tx=\xff")], "login"
    for other in ("POST", "PUT", "OPTIONS", "BREW"):
        yield f"/bff/login method {other}", other, "/bff/login", b"", [], "405 page"
        yield f"/bff/callback method {other}", other, "/bff/callback", b"", [], "405 page"


BFF_CASES = list(_bff_cases())


@pytest.mark.parametrize("case", BFF_CASES, ids=[c[0] for c in BFF_CASES])
def test_bad_input_at_the_bff_gets_its_expected_answer(
    bff_app: Starlette, case: tuple[str, str, str, bytes, list[tuple[bytes, bytes]], str]
) -> None:
    """docs/SECURITY.md P22, H4, H5: the BFF's routes refuse bad input with a clear 4xx, never a 5xx or a trace."""
    _, method, path, query, headers, outcome = case
    answer = call(bff_app, Raw(method, path, query, headers))
    assert answer.raised is None, repr(answer.raised)
    assert answer.status < 500 and not LEAK.search(answer.body), (answer.status, answer.body[:300])
    body = json.loads(answer.body) if answer.body and outcome not in ("host", "405 page", "login") else None
    if outcome == "ok":
        status, expected_body = BFF_NO_SESSION[path]
        assert answer.status == status, (answer.status, answer.body[:200])
        if method != "HEAD":
            assert body == expected_body if isinstance(expected_body, dict) else body["error"] == expected_body
    elif outcome == "csrf":
        assert (answer.status, body["error"]) == (403, "csrf_refused")
    elif outcome == "not_found":
        assert (answer.status, body["error"]) == (404, "not_found")
    elif outcome == "405":
        assert answer.status == 405 and answer.header(b"allow")
        assert method == "HEAD" or body["error"] == "method_not_allowed"
    elif outcome == "405 page":
        assert answer.status == 405 and answer.header(b"allow")
    elif outcome == "login":
        assert answer.status == 302
        assert (answer.header(b"location") or b"").startswith(ISSUER.encode() + b"/authorize?")
    else:
        assert outcome == "host" and answer.status == 400
    if body is not None and answer.status >= 400:
        assert body["error"] in BFF_ERRORS and (answer.header(b"content-type") or b"").startswith(b"application/json")


def _bff_login(app: Starlette) -> tuple[bytes, str]:
    """A sign-in started at the BFF: the browser's transaction cookie and the state sent to the provider."""
    answer = call(app, Raw("GET", "/bff/login"))
    cookie = next(v for k, v in answer.headers if k == b"set-cookie" and v.startswith(b"__Host-spalab-bff-tx="))
    location = (answer.header(b"location") or b"").decode()
    return cookie.split(b";")[0], parse_qs(urlsplit(location).query)["state"][0]


# (label, query with {STATE}, the error code the page is sent)
BFF_CALLBACK_SHAPES = [
    ("a code nobody issued", "code=x&state={STATE}&iss={ISS}", "token_error"),
    ("no code", "state={STATE}&iss={ISS}", "invalid_request"),
    ("empty code", "code=&state={STATE}&iss={ISS}", "invalid_request"),
    ("another state", "code=x&state=other&iss={ISS}", "state_mismatch"),
    ("no state", "code=x&iss={ISS}", "state_mismatch"),
    ("state twice", "code=x&state={STATE}&state={STATE}&iss={ISS}", "invalid_request"),
    ("code twice", "code=x&code=y&state={STATE}&iss={ISS}", "invalid_request"),
    ("no iss", "code=x&state={STATE}", "issuer_mismatch"),
    ("another iss", "code=x&state={STATE}&iss=http%3A%2F%2Fevil.example", "issuer_mismatch"),
    ("access denied", "error=access_denied&state={STATE}&iss={ISS}", "access_denied"),
    ("another error", "error=%ff%00junk&state={STATE}&iss={ISS}", "authorization_error"),
    ("invalid UTF-8 state", "code=x&state=%ff%fe&iss={ISS}", "state_mismatch"),
    ("NUL in the state", "code=x&state={STATE}%00&iss={ISS}", "state_mismatch"),
    ("junk bytes", "\xff\x00&&==", "state_mismatch"),
]


@pytest.mark.parametrize("with_transaction", [True, False], ids=["with the transaction", "without"])
@pytest.mark.parametrize("shape", BFF_CALLBACK_SHAPES, ids=[s[0] for s in BFF_CALLBACK_SHAPES])
def test_bad_callbacks_at_the_bff_are_refused_with_a_fixed_error(
    bff_app: Starlette, shape: tuple[str, str, str], with_transaction: bool
) -> None:
    """docs/SECURITY.md P22, H5, RFC 6749 §10.12, RFC 9207 §2.4: 303 to the page with one of the fixed codes."""
    from spalab.host.bff import CALLBACK_ERRORS

    _, query, code = shape
    cookie, state = _bff_login(bff_app)
    filled = query.replace("{STATE}", state).replace("{ISS}", ISSUER.replace(":", "%3A").replace("/", "%2F"))
    headers = [(b"cookie", cookie)] if with_transaction else [(b"cookie", b"__Host-spalab-bff-tx=\xff\x00")]
    answer = call(bff_app, Raw("GET", "/bff/callback", filled.encode("latin-1"), headers))
    assert answer.raised is None and answer.status == 303 and not LEAK.search(answer.body)
    location = (answer.header(b"location") or b"").decode()
    assert location == "/bff/?error=" + (code if with_transaction else "no_transaction"), location
    assert code in CALLBACK_ERRORS
