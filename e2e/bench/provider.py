"""Provider benchmark: complete authorization code + PKCE flows per second and
token-endpoint latency, under 1, 8 and 64 concurrent clients, against the real
provider (`spalab serve`) on loopback.

What is measured
----------------
A *simulated client* is one `httpx.AsyncClient` (HTTP/1.1, one keep-alive
connection, its own cookie jar) driven by asyncio; all clients live in this one
process.

Setup, once per simulated client and outside every timed part: the client signs
in as its own account of eight (ACCOUNTS, added to the demo's config; see there
why) the way a browser does (GET /authorize -> GET /login -> POST /login with the
CSRF token -> back to /authorize -> the consent form the first time -> code ->
POST /token). After that it holds a provider session cookie, and its account's
consent for the client is remembered, so no page is shown any more. Signing in
costs an Argon2id verification (about 0.2 s of CPU each) that would otherwise
dominate every figure; it is measured on its own instead (see *Login* below).

A *complete flow*, as timed, is what the SPA and the browser do on a silent
re-sign-in:

1. GET /authorize with response_type=code, client_id=spa-demo, the registered
   redirect_uri, scope "openid profile email contacts.read", a fresh random
   state and nonce, and an S256 code_challenge of a fresh code_verifier;
2. expect 302 whose Location is the redirect_uri with `code`, the same `state`
   and `iss` = the issuer;
3. POST /token (grant_type=authorization_code, code, redirect_uri, client_id,
   code_verifier) with the SPA's Origin header, as its cross-origin fetch sends;
4. expect 200 JSON with access_token, token_type Bearer, and an id_token whose
   payload carries the same nonce (the signature is not verified: that is client
   work, not provider work).

Anything else (another status, a missing code, a state/iss/nonce mismatch, a
transport error) is an error: the flow does not count as complete, and the error
is counted by kind and reported. Token-endpoint latency is the wall time of the
POST /token round trip alone (step 3, measured on the client, so it includes the
client's own event-loop delay under load), over successful flows only.

Each concurrency level runs a warm-up (its errors are reported as
`warmup_errors`), then a fixed duration: every client starts flows back to back
until the deadline, the flows in flight then finish and count, and `seconds` runs
until the last one ends. flows_per_s = flows / seconds.

Percentiles use the nearest-rank method: the p-th percentile of n sorted samples
is the ceil(p/100 * n)-th smallest, always an observed value.

Login: POST /login (valid CSRF token, each client its own account, expect 303) at 1 and 8
concurrent clients for a fixed number of requests; the CSRF token is fetched
beforehand. This is the cost of a real sign-in.

The load generator shares the machine's CPUs with the provider (a single
asyncio process; Argon2 runs in its thread pool): the figures are a floor on
what the provider can do, and per level the CPU used by each side (100 % = one
core) is reported to show which side was the limit.

Reading the figures: each flow makes two write transactions (at /authorize the
grant and the code; at /token the code consumed and the tokens recorded: the
scaling part below counts them on PostgreSQL), made from the provider's thread pool,
never on its event loop; SQLite commits the writes waiting together from one writer
thread, one fsync a group (server/spalab/provider/database.py). At one client the token
latency also shows any TCP delayed-ACK stall (about 40 ms on Linux) when the
server's sockets lack TCP_NODELAY; compare with another JSON endpoint before
blaming the token endpoint.

Against the reference
---------------------
The same load, in the same run, on spalab's provider and on a reference: panva's
node oidc-provider (the version pinned in e2e/interop, whose node_modules it uses)
in its quick-start configuration, e2e/interop/bench-provider.mjs: the library's
in-memory adapter (nothing on disk), its development sign-in pages, one public client
like spa-demo (code + PKCE S256, refresh tokens rotated at every use, RS256
id_tokens, the same scopes; its access tokens are opaque, spalab's ES256 JWTs).
spalab runs as `spalab provider` (the provider alone, as an operator runs it: the
demo's clients, no demo request log) with its store on disk as always (SQLite; a
token response is synced before it is answered, see the README's "What a power
loss can lose"). Rows:

- flows: a complete code + PKCE flow with a sign-in each, as a new browser makes
  it: empty cookie jar; GET the authorization endpoint; its redirect to the sign-in
  page; GET that page; POST the sign-in form; follow the redirect back; expect the
  redirect to the client with `code`, the same `state` and `iss`; POST /token with
  the code_verifier; expect Bearer access_token, refresh_token and an id_token with
  the request's nonce. spalab's accounts (SIGN_IN_ACCOUNTS, one per client) have a
  cheap Argon2id hash (CHEAP_ARGON2): the reference checks no password at all, and
  spalab's real sign-in cost is the Login table's. The account's consent is
  remembered at spalab; the reference makes the client's grant at sign-in
  (bench-provider.mjs says how), so neither shows a consent page.
- refresh: POST /token grant_type=refresh_token with the client's current refresh
  token; expect a new one (rotation), which the next request uses.
- userinfo: GET the userinfo endpoint with the client's access token (Bearer).

Every request carries the SPA's Origin where a browser's fetch would. Before each
level, each of its clients makes one untimed flow for fresh tokens (the reference's
in-memory store is an LRU of ~2,000 entries that drops idle ones). A unit that fails
is counted by kind, and the client then signs in again for new tokens before its
next unit. Levels 1, 8 and 64 clients, each a warm-up then a fixed duration, on one
server then the other; two rounds, the order alternated. Per row and level the
figures are pooled over the rounds (units / seconds; percentiles over all samples,
latency of one unit: the whole flow, one refresh, one userinfo request), and the
ratio is spalab's rate over the reference's.

These clients speak HTTP/1.1 through LeanClient, a minimal keep-alive client, not
httpx: httpx costs several times more CPU per request, and the load generator shares
the two cores with the server under test; with httpx, the reference's CPU stayed at
25-60 % of a core (the load generator was the limit), with LeanClient it reaches
85-100 %.

Backends and process counts
---------------------------
Issue 14's scale-out, measured in the same run: spalab's provider (`spalab provider`,
comparison_config's clients and accounts) run as

- SQLite ×1: one process, the store in its data dir (WAL, synchronous=FULL);
- PostgreSQL ×1: one process, `--database postgresql://...`;
- PostgreSQL ×2 processes: `--workers 2` (two processes on one port; the kernel spreads
  the connections);
- PostgreSQL ×2 instances: two `spalab provider` commands on ports of their own, data dirs
  of their own, one database, both configured with the first one's issuer, as instances
  behind one load balancer's URL. The load is spread as a load balancer would
  (instance_plan): client i signs in and authorizes at instance i mod 2, and every other
  pair of clients (0-1, 4-5, ...) sends its POST /token to the other instance, so half
  the codes are redeemed at an instance that did not issue them (at 1 client, all of
  them). Such a client holds one connection to each instance and one cookie jar, as a
  browser does (cookies do not depend on the port).
- (not by default, `--configs ...,pg-pool32`) PostgreSQL ×1 with $SPALAB_DB_POOL=32.

PostgreSQL is server/tests/pg_support.py's throwaway server (Debian's postgres, initdb in a
temporary directory, as an unprivileged user under root), started and stopped by the
benchmark, never one already running; unlike the tests it runs durable (fsync,
synchronous_commit and full_page_writes on: a commit is acknowledged once its WAL is on
disk, as every SQLite commit is synced); one database per configuration; the provider's
pool is $SPALAB_DB_POOL connections per process (8 unless set).

The unit is the complete code + PKCE flow of a signed-in client, as in the first part
(unit_silent_flow: GET /authorize with the session cookie -> 302 with `code`, `state`,
`iss` -> POST /token with the code_verifier -> Bearer access_token, refresh_token, an
id_token with the nonce), over LeanClient; each client signs in once beforehand (a sign-in
flow per client before each level, untimed; one account per client, from its own loopback
address). Token latency is the POST /token round trip. Per round and level every
configuration runs in turn (the order reversed in even rounds), all of them started
beforehand and idle while the others run; figures pooled over the rounds as above. Per
configuration and level: flows/s, token p50/p99, the CPU of its provider processes (with
their workers), of the PostgreSQL server (postmaster and backends) and of the load
generator, CPU time per flow, PostgreSQL's write transactions per flow (exact: the next
transaction id before and after) and WAL flushes per second (pg_stat_wal, which lags up to
a second: approximate), the rate over the first configuration's, and the CPU pressure
(PSI) after each phase. The disk's write + fsync latency is measured once.

Run: `cd e2e && ../.venv/bin/python -m bench.provider` (starts a demo on free
ports with a temporary data dir, prints a table, then the backends and process
counts, then the comparison with the reference, and writes bench/out/provider.json;
`--skip-reference`, `--reference-only`, `--scaling-only` or `--skip-scaling` for fewer
parts, `--rounds`, `--compare-duration`, `--rows`, `--configs`, `--scaling-rounds`,
`--scaling-duration`, `--scaling-warmup`).
"""

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

CLIENT_ID = "spa-demo"
SCOPE = "openid profile email contacts.read"
PASSWORD = "wonderland"
# The simulated clients sign in as these accounts, client i as ACCOUNTS[i % 8]: the provider keeps
# an account's newest 20 sessions only (docs/SECURITY.md P28) and runs at most two of its password
# checks at once (P23), so 64 clients as one account would lose most of their sessions and 8
# concurrent sign-ins of one account would mostly be refused. The accounts are added to the
# built-in demo's config (bench_config), with which the benchmarks start the demo.
ACCOUNTS = tuple(f"bench{n}" for n in range(1, 9))
DEMO_TOML = Path(__file__).resolve().parents[2] / "server" / "spalab" / "provider" / "demo.toml"
OUT_DIR = Path(__file__).resolve().parent / "out"
TIMEOUT = httpx.Timeout(30.0)
BUSY_ATTEMPTS = 30  # setup sign-ins refused with 503 (P23) are tried again, this many times at most
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


class SetupError(Exception):
    """A simulated client could not sign in: nothing can be measured."""


def bench_config() -> str:
    """The built-in demo's provider config (for start_demo's `config`) plus ACCOUNTS."""
    users = "".join(
        f'\n[[users]]\nusername = "{name}"\npassword = "{PASSWORD}"\nclaims = {{ name = "{name}" }}\n'
        for name in ACCOUNTS
    )
    return DEMO_TOML.read_text() + users


def account(index: int) -> str:
    return ACCOUNTS[index % len(ACCOUNTS)]


def percentile(samples: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (0 < p <= 100): the ceil(p/100 * n)-th smallest sample."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt_payload(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


@dataclass
class Tally:
    """What one phase produced across its clients: completed flows (or sign-ins), their latencies, errors by kind."""

    flows: int = 0
    latency_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    token_ms: list[float] = field(default_factory=list)  # the POST /token round trips of the flows counted


@dataclass
class Target:
    issuer: str
    redirect_uri: str

    @property
    def spa_origin(self) -> str:
        return "{0.scheme}://{0.netloc}".format(urlsplit(self.redirect_uri))

    def new_client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        return httpx.AsyncClient(base_url=self.issuer, limits=limits, timeout=TIMEOUT, follow_redirects=False)

    def authorization_request(self) -> tuple[dict[str, str], str]:
        """Fresh state, nonce and PKCE pair (RFC 7636 §4.1-4.2): (query, code_verifier)."""
        verifier = secrets.token_urlsafe(48)
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPE,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        return query, verifier

    def code_from(self, response: "httpx.Response | LeanResponse", query: dict[str, str]) -> str | None:
        """The code from a redirect to the client, or None if it is not a valid one."""
        location = response.headers.get("location", "")
        parts = urlsplit(location)
        got = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if not location.startswith(self.redirect_uri + "?") or got.get("state") != query["state"]:
            return None
        if got.get("iss") != self.issuer:
            return None
        return got.get("code")

    async def redeem(self, client: httpx.AsyncClient, code: str, query: dict[str, str], verifier: str) -> str | None:
        """POST /token; None when the answer is a complete token response, else the error kind."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": CLIENT_ID,
            "code_verifier": verifier,
        }
        response = await client.post("/token", data=form, headers={"Origin": self.spa_origin})
        if response.status_code != 200:
            return f"token: HTTP {response.status_code} {_error_code(response)}".rstrip()
        body = response.json()
        if not body.get("access_token") or body.get("token_type") != "Bearer" or not body.get("id_token"):
            return "token: access_token or id_token missing"
        if _jwt_payload(body["id_token"]).get("nonce") != query["nonce"]:
            return "token: id_token nonce mismatch"
        return None


def _error_code(response: "httpx.Response | LeanResponse") -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


# --- one flow, timed ------------------------------------------------------------------


async def run_flow(target: Target, client: httpx.AsyncClient, tally: Tally) -> None:
    """One complete flow for a signed-in client; its outcome lands in `tally`."""
    step = "authorize"
    try:
        query, verifier = target.authorization_request()
        response = await client.get("/authorize", params=query)
        if response.status_code != 302:
            tally.errors[f"authorize: HTTP {response.status_code}"] += 1
            return
        code = target.code_from(response, query)
        if code is None:
            tally.errors["authorize: no valid code in the redirect"] += 1
            return
        step = "token"
        started = time.perf_counter()
        error = await target.redeem(client, code, query, verifier)
        elapsed_ms = (time.perf_counter() - started) * 1000
    except (httpx.HTTPError, ValueError, IndexError) as exc:
        tally.errors[f"{step}: {type(exc).__name__}"] += 1
        return
    if error is not None:
        tally.errors[error] += 1
        return
    tally.flows += 1
    tally.latency_ms.append(elapsed_ms)


async def _flows_until(target: Target, client: httpx.AsyncClient, deadline: float, tally: Tally) -> None:
    while time.perf_counter() < deadline:
        await run_flow(target, client, tally)


async def run_phase(target: Target, clients: Sequence[httpx.AsyncClient], duration: float) -> tuple[Tally, float]:
    """All clients run flows back to back for `duration` s; returns the tally and the wall time."""
    tally = Tally()
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(*(_flows_until(target, client, deadline, tally) for client in clients))
    return tally, time.perf_counter() - started


# --- setup: a signed-in client ---------------------------------------------------------


def _hidden_fields(html: str) -> dict[str, str]:
    return {name: unescape(value) for name, value in _HIDDEN.findall(html)}


async def _follow_sign_in(client: httpx.AsyncClient, response: httpx.Response, username: str) -> httpx.Response:
    """From /authorize's redirect to /login, through sign-in and (once) consent, to the client."""
    if response.status_code != 302 or not response.headers.get("location", "").startswith("/login?"):
        raise SetupError(f"/authorize did not send an unknown browser to sign in (HTTP {response.status_code})")
    page = await client.get(response.headers["location"])
    fields = _hidden_fields(page.text)
    for _ in range(BUSY_ATTEMPTS):
        response = await client.post("/login", data={**fields, "username": username, "password": PASSWORD})
        if response.status_code != 503:
            break
        # docs/SECURITY.md P23: the provider checks a bounded number of passwords at once and refuses
        # the rest; a refused sign-in tries again when told, as a browser's user would. Untimed setup.
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    if response.status_code != 303:
        raise SetupError(f"POST /login answered HTTP {response.status_code}")
    response = await client.get(response.headers["location"])
    if response.status_code == 200 and 'action="/consent"' in response.text:
        response = await client.post("/consent", data={**_hidden_fields(response.text), "decision": "allow"})
    return response


async def sign_in(target: Target, client: httpx.AsyncClient, username: str) -> None:
    """Gives `client` a provider session and `username`'s consent, checked by one full flow."""
    query, verifier = target.authorization_request()
    response = await _follow_sign_in(client, await client.get("/authorize", params=query), username)
    code = target.code_from(response, query)
    if code is None:
        raise SetupError(f"sign-in did not end with a code (HTTP {response.status_code})")
    error = await target.redeem(client, code, query, verifier)
    if error is not None:
        raise SetupError(error)


async def _signed_in_clients(target: Target, count: int, at_once: int = 8) -> list[httpx.AsyncClient]:
    clients = [target.new_client() for _ in range(count)]
    gate = asyncio.Semaphore(at_once)

    async def one(index: int, client: httpx.AsyncClient) -> None:
        async with gate:
            await sign_in(target, client, account(index))

    try:
        await asyncio.gather(*(one(index, client) for index, client in enumerate(clients)))
    except BaseException:
        await _close(clients)
        raise
    return clients


async def _close(clients: Sequence[httpx.AsyncClient]) -> None:
    await asyncio.gather(*(client.aclose() for client in clients))


# --- login (Argon2id) -----------------------------------------------------------------


async def _login_worker(
    client: httpx.AsyncClient, fields: dict[str, str], username: str, count: int, tally: Tally
) -> None:
    form = {**fields, "username": username, "password": PASSWORD}
    for _ in range(count):
        started = time.perf_counter()
        try:
            response = await client.post("/login", data=form)
        except httpx.HTTPError as exc:
            tally.errors[f"login: {type(exc).__name__}"] += 1
            continue
        if response.status_code != 303:
            tally.errors[f"login: HTTP {response.status_code}"] += 1
            continue
        tally.flows += 1
        tally.latency_ms.append((time.perf_counter() - started) * 1000)


async def measure_login(target: Target, concurrency: int, per_client: int, server_pid: int | None) -> dict[str, Any]:
    """POST /login, `per_client` times from each of `concurrency` clients."""
    clients = [target.new_client() for _ in range(concurrency)]
    try:
        pages = await asyncio.gather(*(client.get("/login", params={"next": "/"}) for client in clients))
        fields = [_hidden_fields(page.text) for page in pages]
        # Warm-up: one sign-in per client, not counted (errors are).
        warmup = Tally()
        workers = list(enumerate(zip(clients, fields, strict=True)))
        await asyncio.gather(*(_login_worker(c, f, account(i), 1, warmup) for i, (c, f) in workers))
        tally = Tally()
        server_before, started = _process_cpu_seconds(server_pid), time.perf_counter()
        await asyncio.gather(*(_login_worker(c, f, account(i), per_client, tally) for i, (c, f) in workers))
        seconds = time.perf_counter() - started
        server_cpu = _cpu_percent(server_before, _process_cpu_seconds(server_pid), seconds)
    finally:
        await _close(clients)
    return {
        "concurrency": concurrency,
        "logins": tally.flows,
        "seconds": round(seconds, 3),
        "logins_per_s": round(tally.flows / seconds, 2),
        "p50_ms": _ms(percentile(tally.latency_ms, 50)),
        "p99_ms": _ms(percentile(tally.latency_ms, 99)),
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "warmup_errors": sum(warmup.errors.values()),
        "warmup_error_kinds": dict(warmup.errors),
        "server_cpu_pct": server_cpu,
    }


# --- CPU accounting -------------------------------------------------------------------


def _process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of another process and of its child processes (a server's workers), from
    /proc (Linux); None elsewhere."""
    if pid is None:
        return None
    stats = _proc_stats()
    if pid not in stats:
        return None
    ticks = sum(cpu for process, (parent, cpu) in stats.items() if process == pid or parent == pid)
    return ticks / os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, user + system ticks) for every process /proc shows."""
    stats = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        # Fields 4, 14 and 15 of proc(5), counted after the ")" that ends the command name.
        stats[int(entry.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return stats


def _cpu_seconds_of(pids: Sequence[int | None]) -> float | None:
    """_process_cpu_seconds summed over several server processes; None if any is unknown."""
    seconds = [_process_cpu_seconds(pid) for pid in pids]
    return None if any(s is None for s in seconds) else sum(s for s in seconds if s is not None)


def _cpu_percent(before: float | None, after: float | None, seconds: float) -> float | None:
    if before is None or after is None:
        return None
    return round(100 * (after - before) / seconds, 1)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


# --- the whole run ----------------------------------------------------------------------


async def measure_level(
    target: Target, clients: Sequence[httpx.AsyncClient], duration: float, warmup: float, server_pid: int | None
) -> dict[str, Any]:
    warm, _ = await run_phase(target, clients, warmup)
    server_before, client_before = _process_cpu_seconds(server_pid), time.process_time()
    tally, seconds = await run_phase(target, clients, duration)
    server_after, client_after = _process_cpu_seconds(server_pid), time.process_time()
    return {
        "concurrency": len(clients),
        "flows": tally.flows,
        "seconds": round(seconds, 3),
        "flows_per_s": round(tally.flows / seconds, 1),
        "token_p50_ms": _ms(percentile(tally.latency_ms, 50)),
        "token_p99_ms": _ms(percentile(tally.latency_ms, 99)),
        "token_samples": len(tally.latency_ms),
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "warmup_flows": warm.flows,
        "warmup_errors": sum(warm.errors.values()),
        "warmup_error_kinds": dict(warm.errors),
        "server_cpu_pct": _cpu_percent(server_before, server_after, seconds),
        "client_cpu_pct": _cpu_percent(client_before, client_after, seconds),
    }


async def _measure(
    target: Target,
    levels: tuple[int, ...],
    duration: float,
    warmup: float,
    login_levels: tuple[int, ...],
    logins_per_client: int,
    server_pid: int | None,
) -> dict[str, Any]:
    login = [await measure_login(target, c, logins_per_client, server_pid) for c in login_levels]
    # One signed-in client per simulated client; a level of n uses the first n.
    setup_started = time.perf_counter()
    clients = await _signed_in_clients(target, max(levels))
    setup_seconds = time.perf_counter() - setup_started
    try:
        results = [await measure_level(target, clients[:n], duration, warmup, server_pid) for n in levels]
    finally:
        await _close(clients)
    return {"levels": results, "login": login, "setup_seconds": round(setup_seconds, 2)}


def _machine() -> dict[str, Any]:
    model = ""
    try:
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "httpx": httpx.__version__,
        "loadavg_1m_before": _load(),
        "cpu_pressure_avg10_before": _cpu_pressure(),
    }


def _load() -> float | None:
    """The 1-minute load average: other work on a shared machine skews every figure."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _cpu_pressure() -> float | None:
    """Linux PSI: % of the last 10 s in which some runnable task waited for a CPU."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    fields = dict(part.split("=") for part in first.split()[1:])
    return float(fields["avg10"])


def measure_provider(
    issuer: str,
    levels: tuple[int, ...] = (1, 8, 64),
    *,
    redirect_uri: str,
    duration: float = 5.0,
    warmup: float = 1.0,
    login_levels: tuple[int, ...] = (1, 8),
    logins_per_client: int = 4,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Runs the provider benchmark against `issuer` (see the module docstring).

    `redirect_uri` is the spa-demo client's registered one (`demo.spa + "/"`);
    `server_pid`, when given, adds the provider's CPU use per level. Starts its
    own event loop, so call it from synchronous code. Raises SetupError if the
    clients cannot sign in."""
    target = Target(issuer.rstrip("/"), redirect_uri)
    machine = _machine()
    started = time.perf_counter()
    measured = asyncio.run(_measure(target, levels, duration, warmup, login_levels, logins_per_client, server_pid))
    machine.update(loadavg_1m_after=_load(), cpu_pressure_avg10_after=_cpu_pressure())
    errors = sum(level["errors"] + level["warmup_errors"] for level in measured["levels"])
    errors += sum(entry["errors"] + entry["warmup_errors"] for entry in measured["login"])
    return {
        "benchmark": "provider",
        "issuer": target.issuer,
        "client_id": CLIENT_ID,
        "scope": SCOPE,
        "machine": machine,
        "settings": {
            "duration_s": duration,
            "warmup_s": warmup,
            "logins_per_client": logins_per_client,
            "percentiles": "nearest rank",
            "http": "HTTP/1.1 keep-alive, one connection per client",
        },
        "note": "the load generator (one asyncio process) shares the CPUs with the provider",
        **measured,
        "total_seconds": round(time.perf_counter() - started, 1),
        "errors_total": errors,
        "ok": errors == 0,
    }


# --- output -------------------------------------------------------------------------------


def _cell(value: Any, width: int) -> str:
    text = "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return text.rjust(width)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    widths = [max(len(h), *(len(_cell(r[i], 0)) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(_cell(v, w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return lines


def _error_lines(label: str, entries: list[dict[str, Any]]) -> list[str]:
    lines = []
    for entry in entries:
        for phase, kinds_key in (("", "error_kinds"), ("warm-up, ", "warmup_error_kinds")):
            for kind, count in entry[kinds_key].items():
                lines.append(f"  {label} at {entry['concurrency']} clients, {phase}{kind}: {count}")
    return lines


def format_provider(results: dict[str, Any]) -> str:
    """The results as a plain-text report."""
    machine = results["machine"]
    settings = results["settings"]
    lines = [
        f"Provider: authorization code + PKCE flows at {results['issuer']} (loopback)",
        f"  {machine['cpu_count']} CPUs ({machine['cpu_model'] or 'unknown'}), Python {machine['python']}; "
        f"{settings['duration_s']:g} s per level after {settings['warmup_s']:g} s warm-up; "
        f"percentiles: {settings['percentiles']}",
        "",
    ]
    rows = [
        [
            lv["concurrency"],
            lv["flows"],
            lv["seconds"],
            lv["flows_per_s"],
            lv["token_p50_ms"],
            lv["token_p99_ms"],
            lv["errors"],
            lv["server_cpu_pct"],
            lv["client_cpu_pct"],
        ]
        for lv in results["levels"]
    ]
    lines += _table(
        [
            "clients",
            "flows",
            "seconds",
            "flows/s",
            "token p50 ms",
            "token p99 ms",
            "errors",
            "server CPU %",
            "client CPU %",
        ],
        rows,
    )
    lines += ["", "Sign-in (POST /login, Argon2id verification):"]
    rows = [
        [
            e["concurrency"],
            e["logins"],
            e["seconds"],
            e["logins_per_s"],
            e["p50_ms"],
            e["p99_ms"],
            e["errors"],
            e["server_cpu_pct"],
        ]
        for e in results["login"]
    ]
    lines += _table(["clients", "logins", "seconds", "logins/s", "p50 ms", "p99 ms", "errors", "server CPU %"], rows)
    lines += [
        "",
        f"Setup (one sign-in + consent per simulated client, not timed above): {results['setup_seconds']:g} s.",
        "The load generator (one asyncio process) shares the CPUs with the provider: figures are a floor;",
        "CPU % is per process over the timed part, 100 % = one core.",
        f"Machine load before/after: 1-min load average {machine['loadavg_1m_before']} / {machine['loadavg_1m_after']},"
        f" CPU pressure (PSI some avg10) {machine['cpu_pressure_avg10_before']}"
        f" / {machine['cpu_pressure_avg10_after']} %"
        " (load above the CPU count or pressure well above 0: other work competed for the CPUs).",
    ]
    if results["ok"]:
        lines.append("Errors: none.")
    else:
        lines.append(f"ERRORS: {results['errors_total']} — this run is not clean:")
        lines += _error_lines("flows", results["levels"])
        lines += _error_lines("sign-in", results["login"])
    return "\n".join(lines)


# --- against the reference: node oidc-provider under the same load, in the same run ------------

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "interop"
REFERENCE_SCRIPT = REFERENCE_DIR / "bench-provider.mjs"
SERVERS = ("spalab", "reference")
ROWS = ("flows", "refresh", "userinfo")
ROW_TEXT = {
    "flows": "complete code + PKCE flows/s, a sign-in each",
    "refresh": "refresh grants/s, rotation",
    "userinfo": "userinfo requests/s",
}
# The comparison's client i signs in as SIGN_IN_ACCOUNTS[i], one account per client, so that neither
# the per-account bound on password checks (docs/SECURITY.md P23) nor the 20 sessions per account
# (P28) is what is measured; the reference has neither.
SIGN_IN_ACCOUNTS = tuple(f"signin{n}" for n in range(1, 65))
# Their Argon2id hash is a cheap one (8 KiB, one pass): the reference checks no password at all, and
# spalab's real cost of a sign-in is the Login table's.
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
PREPARE_AT_ONCE = 8


class FlowError(Exception):
    """A unit of work that did not complete; the message is the error kind counted."""


class LeanResponse:
    """What LeanClient read: status, headers (names lower-cased, the last value of each), body."""

    def __init__(self, status_code: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code, self.headers, self.body = status_code, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class LeanClient:
    """The comparison's HTTP/1.1 client: one keep-alive connection to one server, a cookie jar that
    sends every cookie it holds (both servers look theirs up by name; paths and expiry beyond
    deletion are not modelled), Content-Length or chunked bodies. The load generator shares the two
    cores with the server under test, and httpx spends several times more CPU per request, enough
    to make it, not the server, the limit at the reference's rates (see the module docstring)."""

    IDLE = 2.0  # a connection idle this long is replaced before use (both servers close after 5 s)

    def __init__(self, base_url: str, timeout: float = 30.0, local_address: str | None = None) -> None:
        parts = urlsplit(base_url)
        self.local_address = local_address
        self.base = base_url.rstrip("/")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.host_header = parts.netloc
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0

    async def get(
        self, url: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> LeanResponse:
        return await self.request("GET", url + ("?" + urlencode(params) if params else ""), headers)

    async def post(
        self, url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> LeanResponse:
        form = {**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"}
        return await self.request("POST", url, form, urlencode(data or {}).encode())

    async def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> LeanResponse:
        if url.startswith(self.base + "/"):
            url = url[len(self.base) :]
        if not url.startswith("/"):
            raise ValueError(f"not a URL of {self.base}: {url[:80]}")
        lines = [
            f"{method} {url} HTTP/1.1",
            f"Host: {self.host_header}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{name}={value}" for name, value in self.cookies.items()))
        if method != "GET":
            lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        return await asyncio.wait_for(self._exchange(raw), self.timeout)

    async def _exchange(self, raw: bytes) -> LeanResponse:
        fresh = self._writer is None or time.monotonic() - self._last_used > self.IDLE
        if fresh:
            await self._connect()
        try:
            response = await self._send(raw)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            # A kept-alive connection the server closed before reading the request: once more on a new one.
            if fresh or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            await self._connect()
            response = await self._send(raw)
        self._last_used = time.monotonic()
        return response

    async def _connect(self) -> None:
        await self.aclose()
        local = (self.local_address, 0) if self.local_address else None
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, local_addr=local)

    async def _send(self, raw: bytes) -> LeanResponse:
        assert self._reader is not None and self._writer is not None
        self._writer.write(raw)
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
                if name.strip().lower() == "set-cookie":
                    self._set_cookie(value.strip())
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked(self._reader)
        else:
            body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return LeanResponse(int(status_line.split(" ", 2)[1]), headers, body)

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # no trailers are sent by either server
        return bytes(body)

    def _set_cookie(self, header: str) -> None:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        attributes = attributes.lower()
        if not value or "max-age=0" in attributes or "1970" in attributes:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass(frozen=True)
class Dialect:
    """Where one provider has its endpoints; its sign-in pages are answered by `sign_in`."""

    name: str
    authorize_path: str
    userinfo_path: str


SPALAB = Dialect("spalab", "/authorize", "/userinfo")
REFERENCE = Dialect("reference", "/auth", "/me")


@dataclass
class SimClient:
    """One simulated browser + SPA: a connection, a cookie jar, an account, its current tokens."""

    http: LeanClient
    username: str
    refresh_token: str | None = None
    access_token: str | None = None
    # Where the flows' POST /token goes when not to `http`: another instance, as a load balancer may
    # send it (the scaling part's instance_plan). It shares `http`'s cookie jar, as a browser's.
    token_http: LeanClient | None = None


@dataclass
class Contender:
    dialect: Dialect
    target: Target
    pid: int | None
    clients: list[SimClient] = field(default_factory=list)
    # More server processes whose CPU counts as the server's (a second instance), and the database
    # server's (PostgreSQL's postmaster, whose children are its backends), reported apart.
    extra_pids: tuple[int, ...] = ()
    database_pid: int | None = None
    # Counters of the database server read before and after the timed part (PostgreSQL: database_counters).
    database_probe: "Callable[[], dict[str, float]] | None" = None


def sim_clients(issuer: str, count: int) -> list[SimClient]:
    """Client i: account SIGN_IN_ACCOUNTS[i] from its own loopback address, 127.0.0.(i + 2), like users on
    machines of their own. From one address, spalab's sign-in throttling (docs/SECURITY.md P23) would
    refuse the 21st concurrent sign-in without a device cookie: a spray of one password over many
    accounts looks like that."""
    return [
        SimClient(
            LeanClient(issuer, local_address=f"127.0.0.{2 + i % 250}"), SIGN_IN_ACCOUNTS[i % len(SIGN_IN_ACCOUNTS)]
        )
        for i in range(count)
    ]


async def _spalab_sign_in(http: LeanClient, response: LeanResponse, username: str) -> LeanResponse:
    """/authorize's redirect to /login -> the sign-in page -> POST /login -> back to /authorize (and
    the consent page, the first time for the account) -> the answer that carries the code."""
    location = response.headers.get("location", "")
    if response.status_code != 302 or not location.startswith("/login?"):
        raise FlowError(f"authorize: HTTP {response.status_code}, not the redirect to sign in")
    page = await http.get(location)
    if page.status_code != 200:
        raise FlowError(f"login page: HTTP {page.status_code}")
    response = await http.post("/login", data={**_hidden_fields(page.text), "username": username, "password": PASSWORD})
    if response.status_code != 303:
        raise FlowError(f"login: HTTP {response.status_code}")
    response = await http.get(response.headers["location"])
    if response.status_code == 200 and 'action="/consent"' in response.text:
        response = await http.post("/consent", data={**_hidden_fields(response.text), "decision": "allow"})
    return response


async def _reference_sign_in(http: LeanClient, response: LeanResponse, username: str) -> LeanResponse:
    """/auth's redirect to the interaction -> its login page -> POST it -> /auth/<uid> -> the code."""
    location = response.headers.get("location", "")
    if response.status_code not in (302, 303) or "/interaction/" not in location:
        raise FlowError(f"authorize: HTTP {response.status_code}, not the redirect to sign in")
    page = await http.get(location)
    if page.status_code != 200 or 'name="prompt" value="login"' not in page.text:
        raise FlowError(f"login page: HTTP {page.status_code}")
    response = await http.post(location, data={"prompt": "login", "login": username, "password": PASSWORD})
    if response.status_code != 303:
        raise FlowError(f"login: HTTP {response.status_code}")
    return await http.get(response.headers["location"])


async def _token_call(target: Target, http: LeanClient, form: dict[str, str], what: str) -> dict[str, Any]:
    response = await http.post("/token", data=form, headers={"Origin": target.spa_origin})
    if response.status_code != 200:
        raise FlowError(f"{what}: HTTP {response.status_code} {_error_code(response)}".rstrip())
    body = response.json()
    if not isinstance(body, dict) or body.get("token_type") != "Bearer" or not body.get("access_token"):
        raise FlowError(f"{what}: no Bearer access_token")
    if not isinstance(body.get("refresh_token"), str):
        raise FlowError(f"{what}: no refresh_token")
    return body


async def _redeem(target: Target, client: SimClient, code: str, query: dict[str, str], verifier: str) -> float:
    """POST /token with the code and its verifier (to `token_http` when set: another instance); expects
    tokens and an id_token with the request's nonce, keeps them on the client. The request's milliseconds."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": target.redirect_uri,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
    }
    started = time.perf_counter()
    body = await _token_call(target, client.token_http or client.http, form, "token")
    token_ms = (time.perf_counter() - started) * 1000
    if not body.get("id_token") or _jwt_payload(body["id_token"]).get("nonce") != query["nonce"]:
        raise FlowError("token: no id_token with the request's nonce")
    client.refresh_token, client.access_token = body["refresh_token"], body["access_token"]
    return token_ms


async def unit_flow(contender: Contender, client: SimClient) -> float:
    """A complete flow as a new browser makes it: empty cookie jar, /authorize, sign-in, code, /token.
    Returns the token request's milliseconds."""
    target, http = contender.target, client.http
    http.cookies.clear()
    query, verifier = target.authorization_request()
    response = await http.get(contender.dialect.authorize_path, params=query)
    sign_in = _spalab_sign_in if contender.dialect is SPALAB else _reference_sign_in
    response = await sign_in(http, response, client.username)
    if response.status_code not in (302, 303):
        raise FlowError(f"authorize after sign-in: HTTP {response.status_code}")
    code = target.code_from(response, query)
    if code is None:
        raise FlowError("authorize: no valid code in the redirect")
    return await _redeem(target, client, code, query, verifier)


async def unit_silent_flow(contender: Contender, client: SimClient) -> float:
    """A complete flow of a signed-in browser (the SPA's silent re-sign-in; no page is shown):
    GET /authorize with the provider's session cookie -> 302 to the client with `code` -> POST /token
    (to `token_http` when set: another instance). Returns the token request's milliseconds. After an
    error the client has no access token, so _one_unit signs it in again before its next unit."""
    target, http = contender.target, client.http
    client.access_token = None
    query, verifier = target.authorization_request()
    response = await http.get(contender.dialect.authorize_path, params=query)
    if response.status_code != 302:
        raise FlowError(f"authorize: HTTP {response.status_code}")
    code = target.code_from(response, query)
    if code is None:
        raise FlowError("authorize: no valid code in the redirect")
    return await _redeem(target, client, code, query, verifier)


async def unit_refresh(contender: Contender, client: SimClient) -> None:
    """POST /token with the client's refresh token, which is spent whatever the answer; expects a new one."""
    token, client.refresh_token = client.refresh_token, None
    form = {"grant_type": "refresh_token", "refresh_token": token or "", "client_id": CLIENT_ID}
    body = await _token_call(contender.target, client.http, form, "refresh")
    if body["refresh_token"] == token:
        raise FlowError("refresh: the refresh token was not rotated")
    client.refresh_token, client.access_token = body["refresh_token"], body["access_token"]


async def unit_userinfo(contender: Contender, client: SimClient) -> None:
    """GET userinfo with the client's access token (Bearer), as the SPA's cross-origin fetch sends it."""
    headers = {"Authorization": f"Bearer {client.access_token}", "Origin": contender.target.spa_origin}
    response = await client.http.get(contender.dialect.userinfo_path, headers=headers)
    if response.status_code != 200:
        raise FlowError(f"userinfo: HTTP {response.status_code} {_error_code(response)}".rstrip())
    if response.json().get("sub") != client.username:
        raise FlowError("userinfo: not the signed-in account's sub")


UNITS = {"flows": unit_flow, "refresh": unit_refresh, "userinfo": unit_userinfo, "silent": unit_silent_flow}


def _has_tokens(client: SimClient, row: str) -> bool:
    return row == "flows" or (client.refresh_token if row == "refresh" else client.access_token) is not None


async def _one_unit(contender: Contender, client: SimClient, row: str, tally: Tally) -> None:
    """One unit of `row`, timed; an error is counted by kind, never raised."""
    try:
        if not _has_tokens(client, row):
            # After an error the client signs in again for new tokens: not a unit of this row.
            await unit_flow(contender, client)
        started = time.perf_counter()
        token_ms = await UNITS[row](contender, client)
        elapsed_ms = (time.perf_counter() - started) * 1000
    except FlowError as exc:
        tally.errors[str(exc)] += 1
        return
    except Exception as exc:  # noqa: BLE001 - counted by kind: the benchmark always runs to the end
        tally.errors[f"{row}: {type(exc).__name__}"] += 1
        return
    tally.flows += 1
    tally.latency_ms.append(elapsed_ms)
    if token_ms is not None:
        tally.token_ms.append(token_ms)


async def _units_until(contender: Contender, client: SimClient, row: str, deadline: float, tally: Tally) -> None:
    while time.perf_counter() < deadline:
        await _one_unit(contender, client, row, tally)


async def run_units(
    contender: Contender, clients: Sequence[SimClient], row: str, duration: float
) -> tuple[Tally, float]:
    """All clients run units of `row` back to back for `duration` s; the tally and the wall time."""
    tally = Tally()
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(*(_units_until(contender, client, row, deadline, tally) for client in clients))
    return tally, time.perf_counter() - started


async def _prepare(contender: Contender, clients: Sequence[SimClient]) -> Tally:
    """Untimed: one complete flow per client, so each holds fresh tokens (the reference's in-memory
    store is an LRU that may have dropped older ones) and, at spalab, its account's consent."""
    tally = Tally()
    gate = asyncio.Semaphore(PREPARE_AT_ONCE)

    async def one(client: SimClient) -> None:
        async with gate:
            await _one_unit(contender, client, "flows", tally)

    await asyncio.gather(*(one(client) for client in clients))
    return tally


async def measure_row(
    contender: Contender, row: str, concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    clients = contender.clients[:concurrency]
    prepared = await _prepare(contender, clients)
    warm, _ = await run_units(contender, clients, row, warmup)
    servers = (contender.pid, *contender.extra_pids)
    server_before, client_before = _cpu_seconds_of(servers), time.process_time()
    database_before = _process_cpu_seconds(contender.database_pid)
    counters_before = contender.database_probe() if contender.database_probe else None
    tally, seconds = await run_units(contender, clients, row, duration)
    server_after, client_after = _cpu_seconds_of(servers), time.process_time()
    database_after = _process_cpu_seconds(contender.database_pid)
    if contender.database_probe and counters_before is not None:
        counters_after = contender.database_probe()
        extra_counters = {f"database_{k}": counters_after[k] - counters_before[k] for k in counters_before}
    else:
        extra_counters = {}
    extra: dict[str, Any] = {}
    if tally.token_ms:
        extra.update(token_p50_ms=_ms(percentile(tally.token_ms, 50)), token_p99_ms=_ms(percentile(tally.token_ms, 99)))
        extra["token_ms"] = tally.token_ms  # pooled over the rounds by summarize(), then dropped
    if contender.database_pid is not None:
        extra["database_cpu_pct"] = _cpu_percent(database_before, database_after, seconds)
    extra.update(extra_counters)
    return {
        "row": row,
        "concurrency": concurrency,
        "units": tally.flows,
        "seconds": round(seconds, 3),
        "per_s": round(tally.flows / seconds, 1),
        "p50_ms": _ms(percentile(tally.latency_ms, 50)),
        "p99_ms": _ms(percentile(tally.latency_ms, 99)),
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "warmup_errors": sum(warm.errors.values()) + sum(prepared.errors.values()),
        "warmup_error_kinds": dict(warm.errors + prepared.errors),
        "server_cpu_pct": _cpu_percent(server_before, server_after, seconds),
        "client_cpu_pct": _cpu_percent(client_before, client_after, seconds),
        "cpu_pressure_avg10_after": _cpu_pressure(),
        "latency_ms": tally.latency_ms,  # pooled over the rounds by summarize(), then dropped
        **extra,
    }


async def _compare(
    contenders: dict[str, Contender],
    rows: Sequence[str],
    levels: Sequence[int],
    rounds: int,
    duration: float,
    warmup: float,
) -> list[dict[str, Any]]:
    phases: list[dict[str, Any]] = []
    for contender in contenders.values():
        contender.clients = sim_clients(contender.target.issuer, max(levels))
    try:
        for round_number in range(1, rounds + 1):
            # Alternated: spalab first in odd rounds, the reference first in even ones.
            order = SERVERS if round_number % 2 else SERVERS[::-1]
            for name in (n for n in order if n in contenders):
                for row in rows:
                    for concurrency in levels:
                        phase = await measure_row(contenders[name], row, concurrency, duration, warmup)
                        phases.append({"round": round_number, "server": name, **phase})
                        print(
                            f"  round {round_number} {name:9} {row:8} {concurrency:3} clients: "
                            f"{phase['per_s']:8.1f}/s  p99 {phase['p99_ms']} ms  errors {phase['errors']}",
                            file=sys.stderr,
                            flush=True,
                        )
    finally:
        await asyncio.gather(*(c.http.aclose() for ct in contenders.values() for c in ct.clients))
    return phases


def ratio(mine: float | None, theirs: float | None) -> float | None:
    """spalab's rate over the reference's (2 decimals); None when either was not measured or is 0."""
    if not mine or not theirs:
        return None
    return round(mine / theirs, 2)


def summarize(phases: Sequence[dict[str, Any]], server: str, row: str, concurrency: int) -> dict[str, Any] | None:
    """One server's figure for one row and level, pooled over the rounds: units over seconds, and
    percentiles over every sample; the per-round rates are kept to show the spread."""
    mine = [p for p in phases if p["server"] == server and p["row"] == row and p["concurrency"] == concurrency]
    if not mine:
        return None
    units, seconds = sum(p["units"] for p in mine), sum(p["seconds"] for p in mine)
    samples = [ms for p in mine for ms in p.get("latency_ms", [])]
    cpu = [p["server_cpu_pct"] for p in mine if p["server_cpu_pct"] is not None]
    client_cpu = [p["client_cpu_pct"] for p in mine if p["client_cpu_pct"] is not None]
    # CPU per unit: steadier than the rate on a shared machine, where other work takes CPU time away.
    cpu_seconds = sum(p["server_cpu_pct"] / 100 * p["seconds"] for p in mine if p["server_cpu_pct"] is not None)
    summary = {
        "units": units,
        "seconds": round(seconds, 3),
        "per_s": round(units / seconds, 1) if seconds else None,
        "per_round": [p["per_s"] for p in mine],
        "p50_ms": _ms(percentile(samples, 50)),
        "p99_ms": _ms(percentile(samples, 99)),
        "errors": sum(p["errors"] + p["warmup_errors"] for p in mine),
        "server_cpu_pct": round(sum(cpu) / len(cpu), 1) if cpu else None,
        "server_cpu_ms_per_unit": round(1000 * cpu_seconds / units, 2) if cpu and units else None,
        "client_cpu_pct": round(sum(client_cpu) / len(client_cpu), 1) if client_cpu else None,
    }
    tokens = [ms for p in mine for ms in p.get("token_ms", [])]
    if tokens:
        summary.update(token_p50_ms=_ms(percentile(tokens, 50)), token_p99_ms=_ms(percentile(tokens, 99)))
    database = [p for p in mine if p.get("database_cpu_pct") is not None]
    if database:
        summary["database_cpu_pct"] = round(sum(p["database_cpu_pct"] for p in database) / len(database), 1)
        database_seconds = sum(p["database_cpu_pct"] / 100 * p["seconds"] for p in database)
        summary["database_cpu_ms_per_unit"] = round(1000 * database_seconds / units, 2) if units else None
    pressure = [p["cpu_pressure_avg10_after"] for p in mine if p.get("cpu_pressure_avg10_after") is not None]
    if pressure:
        summary["cpu_pressure_avg10"] = [min(pressure), max(pressure)]
    if client_cpu and units:
        client_seconds = sum(p["client_cpu_pct"] / 100 * p["seconds"] for p in mine if p["client_cpu_pct"] is not None)
        summary["client_cpu_ms_per_unit"] = round(1000 * client_seconds / units, 2)
    counted = [p for p in mine if "database_transactions" in p]
    if counted and units:
        counted_units = sum(p["units"] for p in counted)
        counted_seconds = sum(p["seconds"] for p in counted)
        for key, name in (("transactions", "per_unit"), ("wal_bytes", "per_unit"), ("wal_syncs", "per_unit")):
            total = sum(p[f"database_{key}"] for p in counted)
            summary[f"database_{key}_{name}"] = round(total / counted_units, 2) if counted_units else None
        syncs = sum(p["database_wal_syncs"] for p in counted)
        summary["database_wal_syncs_per_s"] = round(syncs / counted_seconds, 1) if counted_seconds else None
    return summary


def comparison_table(
    phases: Sequence[dict[str, Any]], rows: Sequence[str], levels: Sequence[int]
) -> list[dict[str, Any]]:
    """Per row and level: both servers' summaries and the ratio spalab / reference."""
    table = []
    for row in rows:
        for concurrency in levels:
            spalab = summarize(phases, "spalab", row, concurrency)
            reference = summarize(phases, "reference", row, concurrency)
            table.append(
                {
                    "row": row,
                    "concurrency": concurrency,
                    "spalab": spalab,
                    "reference": reference,
                    "ratio": ratio(spalab and spalab["per_s"], reference and reference["per_s"]),
                }
            )
    return table


def format_comparison(comparison: dict[str, Any]) -> str:
    """The comparison as a plain-text report: a table, the failures, the errors."""
    settings = comparison["settings"]
    machine = comparison.get("machine", {})
    lines = [
        f"Against the reference: {comparison['reference_name']} (its quick-start in-memory configuration) and"
        f" spalab's provider ({_spalab_setup(settings)}),",
        f"  the same load in the same run: {settings['rounds']} rounds, alternated; {settings['duration_s']:g} s per"
        f" level after {settings['warmup_s']:g} s warm-up; figures pooled over the rounds; latency of one unit",
        "",
    ]
    failed = comparison.get("failures", {})

    def side(summary: dict[str, Any] | None, server: str) -> list[Any]:
        if summary is None:
            return ["FAILED" if server in failed else None] + [None] * 5
        figures = ("per_s", "p50_ms", "p99_ms", "errors", "server_cpu_pct", "server_cpu_ms_per_unit")
        return [summary[key] for key in figures]

    rows = [
        [e["row"], e["concurrency"], *side(e["spalab"], "spalab"), *side(e["reference"], "reference"), e["ratio"]]
        for e in comparison["table"]
    ]
    header = ["row", "clients", "spalab /s", "p50 ms", "p99 ms", "errors", "CPU %", "CPU ms"]
    header += ["reference /s", "p50 ms", "p99 ms", "errors", "CPU %", "CPU ms", "× reference"]
    lines += _table(header, rows)
    lines += [
        "",
        "Rows: " + "; ".join(f"{row}: {ROW_TEXT[row]}" for row in settings["rows"]) + ".",
        "× reference: spalab's rate over the reference's (above 1: spalab is faster). CPU %: the server process over",
        "the timed part, 100 % = one core; CPU ms: its CPU time per unit. The load generator shares the CPUs",
        "(its CPU % is in the JSON); so does any other work on the machine (see the load and pressure below).",
        f"Machine load before/after: 1-min load average {machine.get('loadavg_1m_before')}"
        f" / {machine.get('loadavg_1m_after')},"
        f" CPU pressure (PSI some avg10) {machine.get('cpu_pressure_avg10_before')}"
        f" / {machine.get('cpu_pressure_avg10_after')} %.",
    ]
    for server, error in failed.items():
        lines.append(f"NOT MEASURED: {server}: {error}")
    errors = [
        f"  {p['server']} {p['row']} at {p['concurrency']} clients, round {p['round']}, {phase}{kind}: {count}"
        for p in comparison["phases"]
        for phase, key in (("", "error_kinds"), ("warm-up, ", "warmup_error_kinds"))
        for kind, count in p[key].items()
    ]
    lines += [f"ERRORS: {comparison['errors_total']} — counted above:", *errors] if errors else ["Errors: none."]
    return "\n".join(lines)


def _spalab_setup(settings: dict[str, Any]) -> str:
    workers = settings.get("spalab_workers", 1)
    return "SQLite, every commit synced" + (f", {workers} worker processes" if workers > 1 else ", one process")


def comparison_config(spa_origin: str) -> str:
    """spalab's provider config for the comparison: the built-in demo's clients, without the demo's
    request log (an operator's config has none), plus SIGN_IN_ACCOUNTS with a cheap Argon2id hash."""
    from argon2 import PasswordHasher  # in spalab's venv, which runs the benchmark

    cheap = PasswordHasher(**CHEAP_ARGON2).hash(PASSWORD)
    text = DEMO_TOML.read_text()
    assert "\nrequest_log = true\n" in text
    text = text.replace("\nrequest_log = true\n", "\nrequest_log = false\n").replace("@SPA_ORIGIN@", spa_origin)
    users = "".join(
        f'\n[[users]]\nusername = "{name}"\npassword_hash = "{cheap}"\nclaims = {{ name = "{name}" }}\n'
        for name in SIGN_IN_ACCOUNTS
    )
    return text + users


def reference_version() -> str:
    try:
        package = json.loads((REFERENCE_DIR / "node_modules" / "oidc-provider" / "package.json").read_text())
    except (OSError, ValueError):
        return "node oidc-provider (version unknown)"
    return f"node oidc-provider {package.get('version', '?')}"


def _start_spalab(
    work: Path,
    spa_origin: str,
    python: str | None = None,
    workers: int = 1,
    *,
    database: str | None = None,
    issuer: str | None = None,
    name: str = "spalab",
    env: dict[str, str] | None = None,
) -> tuple["subprocess.Popen[str]", str]:
    """`spalab provider` (the provider alone, as an operator runs it) on a free port, its own data dir;
    `python`: another interpreter to run it with (another checkout's venv), else this one; `workers`:
    its --workers (processes on one socket and one database), when more than one; `database`: its
    --database (a PostgreSQL URL), else SQLite in its data dir; `issuer`: the issuer it is configured
    with (another instance's, as behind a load balancer), else its own URL; `name`: its files' prefix
    in `work`; `env`: variables to set for it. Returns the process and the URL it listens on."""
    from harness import ROOT, free_port, wait_until_up

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = work / f"{name}-data"
    data_dir.mkdir()
    config = work / f"{name}.toml"
    config.write_text(comparison_config(spa_origin).replace("@ISSUER@", issuer or url))
    log = work / f"{name}.log"
    command = [python or sys.executable, "-m", "spalab", "provider", "--config", str(config), "--port", str(port)]
    command += ["--data-dir", str(data_dir), *(["--workers", str(workers)] if workers > 1 else [])]
    command += ["--database", database] if database else []
    environment = {**os.environ, **env} if env else None
    process = subprocess.Popen(
        command, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=environment
    )
    try:
        wait_until_up(url + "/.well-known/openid-configuration", process, log)
    except BaseException:
        _stop(process)
        raise
    return process, url


def _start_reference(work: Path, redirect_uri: str) -> tuple["subprocess.Popen[str]", str]:
    """node bench-provider.mjs (e2e/interop's pinned oidc-provider) on a free port."""
    from harness import free_port, wait_until_up

    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (scripts/setup --test needs Node 20 with npm)")
    if not (REFERENCE_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("e2e/interop/node_modules has no oidc-provider: run scripts/setup --test")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    log = work / "reference.log"
    process = subprocess.Popen(
        [node, str(REFERENCE_SCRIPT), "--port", str(port), "--client-id", CLIENT_ID, "--redirect-uri", redirect_uri],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REFERENCE_DIR,
    )
    try:
        wait_until_up(issuer + "/.well-known/openid-configuration", process, log)
    except BaseException:
        _stop(process)
        raise
    return process, issuer


def _drop_samples(phases: list[dict[str, Any]]) -> int:
    """Drops the raw latency samples (pooled into the table already) from the phases kept in the JSON;
    the number of errors over all phases, warm-ups included."""
    for phase in phases:
        phase.pop("latency_ms", None)
        phase.pop("token_ms", None)
    return sum(p["errors"] + p["warmup_errors"] for p in phases)


def compare_with_reference(
    levels: tuple[int, ...] = (1, 8, 64),
    *,
    rounds: int = 2,
    duration: float = 3.0,
    warmup: float = 0.5,
    rows: tuple[str, ...] = ROWS,
    spalab_python: str | None = None,
    spalab_workers: int = 1,
) -> dict[str, Any]:
    """Starts spalab's provider and the reference side by side, runs the rows at each level on both
    (rounds alternated), stops both. Never raises for a server that fails: its figures read FAILED,
    and the reason is under `failures`; errors of single requests are counted."""
    from harness import free_port

    spa_origin = f"http://localhost:{free_port()}"  # nothing listens there: redirects are not followed
    redirect_uri = spa_origin + "/"
    machine = _machine()
    started = time.perf_counter()
    failures: dict[str, str] = {}
    processes: list[subprocess.Popen[str]] = []
    contenders: dict[str, Contender] = {}
    phases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="spalab-bench-compare-") as work:
        for name, dialect in (("spalab", SPALAB), ("reference", REFERENCE)):
            try:
                if name == "spalab":
                    process, issuer = _start_spalab(Path(work), spa_origin, spalab_python, spalab_workers)
                else:
                    process, issuer = _start_reference(Path(work), redirect_uri)
            except Exception as exc:  # noqa: BLE001 - the other server is still measured
                failures[name] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc) else ''}"
                continue
            processes.append(process)
            contenders[name] = Contender(dialect, Target(issuer, redirect_uri), process.pid)
        try:
            if contenders:
                phases = asyncio.run(_compare(contenders, rows, levels, rounds, duration, warmup))
        except Exception as exc:  # noqa: BLE001 - what was measured is kept
            failures["run"] = f"{type(exc).__name__}: {exc}"
        finally:
            for process in processes:
                _stop(process)
    machine.update(loadavg_1m_after=_load(), cpu_pressure_avg10_after=_cpu_pressure())
    table = comparison_table(phases, rows, levels)
    errors = _drop_samples(phases)
    return {
        "benchmark": "provider vs reference",
        "reference_name": reference_version(),
        "machine": machine,
        "settings": {
            "rows": list(rows),
            "levels": list(levels),
            "rounds": rounds,
            "duration_s": duration,
            "warmup_s": warmup,
            "accounts": f"one per client ({len(SIGN_IN_ACCOUNTS)}); spalab: Argon2id {CHEAP_ARGON2}",
            "percentiles": "nearest rank",
            "http": "HTTP/1.1 keep-alive, one connection per client",
            "spalab_python": spalab_python or sys.executable,
            "spalab_workers": spalab_workers,
        },
        "table": table,
        "phases": phases,
        "failures": failures,
        "errors_total": errors,
        "total_seconds": round(time.perf_counter() - started, 1),
        "ok": not failures and errors == 0,
    }


# --- backends and process counts (issue 14): SQLite, PostgreSQL, two processes, two instances ---------


@dataclass(frozen=True)
class ScalingConfig:
    """One way to run spalab's provider: its database, processes per instance, instances on that database."""

    key: str
    label: str
    database: str  # "sqlite" or "postgresql"
    workers: int = 1  # `spalab provider --workers N`: processes on one port
    instances: int = 1  # separate `spalab provider` commands on ports of their own, one database
    pool: int | None = None  # $SPALAB_DB_POOL for its processes (PostgreSQL connections per process), else inherited

    @property
    def processes(self) -> int:
        return self.workers * self.instances


SCALING_CONFIGS = (
    ScalingConfig("sqlite", "SQLite ×1", "sqlite"),
    ScalingConfig("pg", "PostgreSQL ×1", "postgresql"),
    ScalingConfig("pg-workers2", "PostgreSQL ×2 processes", "postgresql", workers=2),
    ScalingConfig("pg-instances2", "PostgreSQL ×2 instances", "postgresql", instances=2),
)
# Not run by default (--configs): one process with a pool as large as the 64-client level's concurrency.
EXTRA_SCALING_CONFIGS = (ScalingConfig("pg-pool32", "PostgreSQL ×1, pool 32", "postgresql", pool=32),)
SCALING_ROW = "silent"  # the unit measured: unit_silent_flow
# PostgreSQL as the benchmark runs it: as durable as spalab's SQLite (every commit flushed to disk before
# it is acknowledged), unlike the tests' server (pg_support.SETTINGS: fsync off).
BENCH_POSTGRES = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "autovacuum": "on"}
PG_SUPPORT = Path(__file__).resolve().parents[2] / "server" / "tests" / "pg_support.py"
INSTANCE_PLAN_TEXT = (
    "client i authorizes (and signs in) at instance i mod 2, as a load balancer spreads connections; clients"
    " 0-1, 4-5, 8-9, ... send their POST /token to the other instance, so half the codes are redeemed at an"
    " instance that did not issue them (at 1 client, that client's every code)"
)


def scaling_configs(text: str) -> tuple[ScalingConfig, ...]:
    """--configs: a comma-separated list of SCALING_CONFIGS' keys, in the order given."""
    known = {config.key: config for config in SCALING_CONFIGS + EXTRA_SCALING_CONFIGS}
    keys = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [key for key in keys if key not in known]
    if unknown or not keys or len(set(keys)) != len(keys):
        raise argparse.ArgumentTypeError(f"configurations are distinct ones among {','.join(known)}")
    return tuple(known[key] for key in keys)


def instance_plan(index: int, instances: int) -> tuple[int, int]:
    """Where simulated client `index` sends its requests among `instances` behind one issuer, as a load
    balancer would: (the instance of its /authorize and sign-in, the instance of its POST /token).
    Clients are spread round-robin; every other group of `instances` clients sends its token request
    to the next instance, so half the codes are redeemed where they were not issued (see
    INSTANCE_PLAN_TEXT). Each instance gets an equal share of both kinds of request at an even number
    of clients."""
    if instances <= 1:
        return 0, 0
    home = index % instances
    crosses = (index // instances) % 2 == 0
    return home, (home + 1) % instances if crosses else home


def routed_clients(urls: Sequence[str], count: int) -> list[SimClient]:
    """SimClients (as sim_clients: account i, own loopback address) spread over the instances at `urls`
    by instance_plan; a client whose token request goes elsewhere has a second connection for it,
    sharing its cookie jar."""
    clients = []
    for index in range(count):
        home, token = instance_plan(index, len(urls))
        address = f"127.0.0.{2 + index % 250}"
        client = SimClient(
            LeanClient(urls[home], local_address=address), SIGN_IN_ACCOUNTS[index % len(SIGN_IN_ACCOUNTS)]
        )
        if token != home:
            client.token_http = LeanClient(urls[token], local_address=address)
            client.token_http.cookies = client.http.cookies
        clients.append(client)
    return clients


# Read before and after each timed part, in one statement on a connection of the benchmark's own:
# the next transaction id (every write transaction takes one, so the difference counts the commits
# that had to reach the disk), the WAL position in bytes, and the WAL syncs (fsync/fdatasync) the
# server reported (its statistics reach pg_stat_wal up to a second late: approximate).
DATABASE_COUNTERS = (
    "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint,"
    " (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint, (SELECT wal_sync FROM pg_stat_wal)"
)


def database_counters(connection: Any) -> "Callable[[], dict[str, float]]":
    """A probe for Contender.database_probe over an autocommit psycopg connection (cluster-wide counters:
    one configuration runs at a time)."""

    def probe() -> dict[str, float]:
        transactions, wal_bytes, wal_syncs = connection.execute(DATABASE_COUNTERS).fetchone()
        return {"transactions": transactions, "wal_bytes": wal_bytes, "wal_syncs": wal_syncs}

    return probe


def _fsync_ms(directory: Path, count: int = 50) -> dict[str, float | None]:
    """How long this disk takes to make a small write durable (write + fsync of one 4 KiB block), what
    each SQLite commit and each PostgreSQL WAL flush waits for at least."""
    samples = []
    path = directory / "fsync-probe"
    with path.open("wb") as file:
        for _ in range(count):
            file.seek(0)
            file.write(os.urandom(4096))
            file.flush()
            started = time.perf_counter()
            os.fsync(file.fileno())
            samples.append((time.perf_counter() - started) * 1000)
    path.unlink()
    return {"p50": _ms(percentile(samples, 50)), "p99": _ms(percentile(samples, 99))}


def _pg_support() -> Any:
    """server/tests/pg_support.py (a throwaway PostgreSQL server as an unprivileged user), by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("spalab_bench_pg_support", PG_SUPPORT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start_config(
    config: ScalingConfig,
    work: Path,
    spa_origin: str,
    levels: Sequence[int],
    postgres: Any,
    python: str | None,
    stack: contextlib.ExitStack,
) -> tuple[list["subprocess.Popen[str]"], Contender]:
    """Starts `config`'s instances (a PostgreSQL configuration on a database of its own on `postgres`,
    with a probe connection that `stack` closes); the second instance is configured with the first
    one's issuer, as instances behind one URL are."""
    database = probe = None
    if config.database == "postgresql":
        name = "bench_" + re.sub(r"[^a-z0-9]+", "_", config.key)
        with postgres.connect() as admin:
            admin.execute(f"CREATE DATABASE {name}")
        database = postgres.url(dbname=name)
        probe = database_counters(stack.enter_context(postgres.connect(dbname=name)))
    processes: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    try:
        for number in range(1, config.instances + 1):
            process, url = _start_spalab(
                work,
                spa_origin,
                python,
                config.workers,
                database=database,
                issuer=urls[0] if urls else None,
                name=f"{config.key}-{number}",
                env={"SPALAB_DB_POOL": str(config.pool)} if config.pool else None,
            )
            processes.append(process)
            urls.append(url)
    except BaseException:
        for process in processes:
            _stop(process)
        raise
    contender = Contender(
        SPALAB,
        Target(urls[0], spa_origin + "/"),
        processes[0].pid,
        extra_pids=tuple(process.pid for process in processes[1:]),
        database_pid=postgres.process.pid if database else None,
        database_probe=probe,
    )
    contender.clients = routed_clients(urls, max(levels))
    return processes, contender


async def _scale(
    contenders: dict[str, Contender], levels: Sequence[int], rounds: int, duration: float, warmup: float
) -> list[dict[str, Any]]:
    """Per round and level, every configuration in turn (the order reversed in even rounds): the
    configurations compared at one level ran minutes apart at most, under the same machine load."""
    phases: list[dict[str, Any]] = []
    try:
        for round_number in range(1, rounds + 1):
            order = list(contenders) if round_number % 2 else list(contenders)[::-1]
            for concurrency in levels:
                for key in order:
                    phase = await measure_row(contenders[key], SCALING_ROW, concurrency, duration, warmup)
                    phases.append({"round": round_number, "server": key, **phase})
                    print(
                        f"  round {round_number} {key:14} {concurrency:3} clients: {phase['per_s']:8.1f} flows/s"
                        f"  token p50 {phase.get('token_p50_ms')} p99 {phase.get('token_p99_ms')} ms"
                        f"  errors {phase['errors']}",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        await asyncio.gather(
            *(
                http.aclose()
                for contender in contenders.values()
                for client in contender.clients
                for http in (client.http, client.token_http)
                if http is not None
            )
        )
    return phases


def scaling_table(
    phases: Sequence[dict[str, Any]], configs: Sequence[ScalingConfig], levels: Sequence[int]
) -> list[dict[str, Any]]:
    """Per level and configuration: the summary pooled over the rounds, and its rate over the first
    configuration's at that level (SQLite ×1 by default)."""
    table = []
    for concurrency in levels:
        first = summarize(phases, configs[0].key, SCALING_ROW, concurrency) if configs else None
        for config in configs:
            summary = summarize(phases, config.key, SCALING_ROW, concurrency)
            cpu_ms = None
            if summary and summary["server_cpu_ms_per_unit"] is not None:
                cpu_ms = round(summary["server_cpu_ms_per_unit"] + (summary.get("database_cpu_ms_per_unit") or 0), 2)
            table.append(
                {
                    "concurrency": concurrency,
                    "config": config.key,
                    "label": config.label,
                    "processes": config.processes,
                    "summary": summary,
                    "cpu_ms_per_flow": cpu_ms,  # the provider's processes and the database server's
                    "vs_first": ratio(summary and summary["per_s"], first and first["per_s"]),
                }
            )
    return table


def format_scaling(results: dict[str, Any]) -> str:
    """The scaling part as plain text: the configurations side by side per level, then the details."""
    settings = results["settings"]
    machine = results.get("machine", {})
    fsync = machine.get("fsync_ms") or {}
    configs = [ScalingConfig(**c) for c in settings["configs"]]
    failed = results.get("failures", {})
    table = results["table"]
    lines = [
        "Backends and process counts: complete code + PKCE flows of signed-in clients (GET /authorize with the",
        f"  session cookie -> code -> POST /token), {settings['rounds']} round(s), the order alternated,"
        f" {settings['duration_s']:g} s per level after {settings['warmup_s']:g} s warm-up, pooled over the rounds.",
        f"  PostgreSQL {settings.get('postgres_version') or ''}: every commit flushed (fsync, synchronous_commit on),"
        f" a pool of {settings['db_pool']} connections per process unless the configuration says otherwise.",
        f"  ×2 instances: {INSTANCE_PLAN_TEXT}.",
        "",
        "flows/s, token p50 / p99 ms, server CPU % (provider + database; 100 % = one core):",
    ]

    def cell(entry: dict[str, Any] | None, config: ScalingConfig) -> str:
        summary = entry and entry["summary"]
        if not summary:
            return "FAILED" if config.key in failed or "run" in failed else "-"
        cpu = (summary["server_cpu_pct"] or 0) + (summary.get("database_cpu_pct") or 0)
        return (
            f"{_cell(summary['per_s'], 0)}, {_cell(summary.get('token_p50_ms'), 0)} / "
            f"{_cell(summary.get('token_p99_ms'), 0)}, {cpu:.0f} %"
        )

    levels = settings["levels"]
    wide = [
        [
            concurrency,
            *(
                cell(next((e for e in table if e["concurrency"] == concurrency and e["config"] == c.key), None), c)
                for c in configs
            ),
        ]
        for concurrency in levels
    ]
    lines += _table(["clients", *(c.label for c in configs)], wide)
    first = configs[0].label if configs else ""
    header = ["clients", "configuration", "flows/s", "token p50", "p99", "errors", "provider CPU %", "db CPU %"]
    header += ["load gen CPU %", "CPU ms/flow", "load gen ms/flow", "db commits/flow", "WAL syncs/s", f"× {first}"]
    rows = []
    for entry in table:
        summary = entry["summary"]
        if summary is None:
            failed_text = "FAILED" if entry["config"] in failed or "run" in failed else None
            rows.append([entry["concurrency"], entry["label"], failed_text] + [None] * 11)
            continue
        rows.append(
            [
                entry["concurrency"],
                entry["label"],
                summary["per_s"],
                summary.get("token_p50_ms"),
                summary.get("token_p99_ms"),
                summary["errors"],
                summary["server_cpu_pct"],
                summary.get("database_cpu_pct"),
                summary["client_cpu_pct"],
                entry["cpu_ms_per_flow"],
                summary.get("client_cpu_ms_per_unit"),
                summary.get("database_transactions_per_unit"),
                summary.get("database_wal_syncs_per_s"),
                entry["vs_first"],
            ]
        )
    lines += ["", *_table(header, rows)]
    lines += [
        "",
        "provider CPU %: all of a configuration's provider processes; db CPU %: the PostgreSQL server's (SQLite runs",
        "inside the provider); load gen CPU %: this benchmark's own process; CPU ms/flow: provider + database CPU",
        "time per flow; db commits/flow: PostgreSQL's write transactions per flow (each waits for its WAL to be",
        "flushed, several share a flush); WAL syncs/s: the flushes (from PostgreSQL's statistics, approximate).",
        f"This disk: write + fsync of 4 KiB p50 {fsync.get('p50')} ms, p99 {fsync.get('p99')} ms.",
        "Everything shares the machine's cores, and so does any other work on it:",
        f"Machine: {machine.get('cpu_count')} CPUs; 1-min load average {machine.get('loadavg_1m_before')}"
        f" / {machine.get('loadavg_1m_after')} before/after, CPU pressure (PSI some avg10)"
        f" {machine.get('cpu_pressure_avg10_before')} / {machine.get('cpu_pressure_avg10_after')} %"
        f" (per phase: {_pressure_range(results.get('phases', []))}).",
    ]
    for key, error in failed.items():
        lines.append(f"NOT MEASURED: {key}: {error}")
    errors = [
        f"  {p['server']} at {p['concurrency']} clients, round {p['round']}, {phase}{kind}: {count}"
        for p in results.get("phases", [])
        for phase, key in (("", "error_kinds"), ("warm-up, ", "warmup_error_kinds"))
        for kind, count in p[key].items()
    ]
    lines += [f"ERRORS: {results['errors_total']} — counted above:", *errors] if errors else ["Errors: none."]
    return "\n".join(lines)


def _pressure_range(phases: Sequence[dict[str, Any]]) -> str:
    values = [p["cpu_pressure_avg10_after"] for p in phases if p.get("cpu_pressure_avg10_after") is not None]
    return f"{min(values):g}-{max(values):g} %" if values else "not measured"


def _postgres_version(bindir: Path) -> str | None:
    try:
        output = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    found = re.search(r"\(PostgreSQL\) (\S+)", output.stdout)
    return found.group(1) if found else None


def measure_scaling(
    configs: Sequence[ScalingConfig] = SCALING_CONFIGS,
    levels: tuple[int, ...] = (1, 8, 64),
    *,
    rounds: int = 2,
    duration: float = 4.0,
    warmup: float = 0.5,
    spalab_python: str | None = None,
) -> dict[str, Any]:
    """Starts every configuration (PostgreSQL ones on a server of their own, started here and stopped
    at the end, one database per configuration), runs the flows at each level on each, stops them all.
    A configuration that fails to start reads FAILED (the reason under `failures`); the others are measured."""
    from harness import free_port

    spa_origin = f"http://localhost:{free_port()}"  # nothing listens there: redirects are not followed
    machine = _machine()
    started = time.perf_counter()
    failures: dict[str, str] = {}
    processes: list[subprocess.Popen[str]] = []
    contenders: dict[str, Contender] = {}
    phases: list[dict[str, Any]] = []
    postgres_version = None
    with tempfile.TemporaryDirectory(prefix="spalab-bench-scaling-") as work, contextlib.ExitStack() as stack:
        machine["fsync_ms"] = _fsync_ms(Path(work))
        postgres = None
        if any(config.database == "postgresql" for config in configs):
            try:
                postgres = stack.enter_context(_pg_support().running_postgres(BENCH_POSTGRES))
                postgres_version = _postgres_version(postgres.bindir)
            except Exception as exc:  # noqa: BLE001 - SQLite is still measured
                failures["postgresql"] = _describe(exc)
        try:
            for config in configs:
                if config.database == "postgresql" and postgres is None:
                    failures[config.key] = "PostgreSQL did not start (see postgresql)"
                    continue
                try:
                    print(f"  starting {config.label}", file=sys.stderr, flush=True)
                    started_processes, contender = _start_config(
                        config, Path(work), spa_origin, levels, postgres, spalab_python, stack
                    )
                except Exception as exc:  # noqa: BLE001 - the other configurations are still measured
                    failures[config.key] = _describe(exc)
                    continue
                processes += started_processes
                contenders[config.key] = contender
            if contenders:
                phases = asyncio.run(_scale(contenders, levels, rounds, duration, warmup))
        except Exception as exc:  # noqa: BLE001 - what was measured is kept
            failures["run"] = _describe(exc)
        finally:
            for process in processes:
                _stop(process)
    machine.update(loadavg_1m_after=_load(), cpu_pressure_avg10_after=_cpu_pressure())
    table = scaling_table(phases, configs, levels)
    errors = _drop_samples(phases)
    return {
        "benchmark": "provider scaling",
        "machine": machine,
        "settings": {
            "configs": [dataclasses.asdict(config) for config in configs],
            "levels": list(levels),
            "rounds": rounds,
            "duration_s": duration,
            "warmup_s": warmup,
            "unit": "complete code + PKCE flow of a signed-in client: GET /authorize (session cookie), POST /token",
            "instances": INSTANCE_PLAN_TEXT,
            "db_pool": os.environ.get("SPALAB_DB_POOL", "8"),
            "postgres_version": postgres_version,
            "postgres_settings": BENCH_POSTGRES,
            "sqlite": "synchronous=FULL (every commit synced), WAL",
            "accounts": f"one per client ({len(SIGN_IN_ACCOUNTS)}); Argon2id {CHEAP_ARGON2}",
            "percentiles": "nearest rank",
            "http": "HTTP/1.1 keep-alive; one connection per client and instance it uses",
            "spalab_python": spalab_python or sys.executable,
        },
        "table": table,
        "phases": phases,
        "failures": failures,
        "errors_total": errors,
        "total_seconds": round(time.perf_counter() - started, 1),
        "ok": not failures and errors == 0,
    }


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[-1] if text else '(no message)'}"


# --- command line -----------------------------------------------------------------------------


def _levels(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def _stop(process: "subprocess.Popen[str]") -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.provider", description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=_levels, default=(1, 8, 64), help="concurrent clients, e.g. 1,8,64")
    parser.add_argument("--duration", type=float, default=5.0, help="timed seconds per level (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per level (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds against the reference (default 2)")
    parser.add_argument(
        "--compare-duration", type=float, default=3.0, help="timed seconds per level against the reference (default 3)"
    )
    parser.add_argument(
        "--compare-warmup", type=float, default=0.5, help="warm-up seconds per level against the reference (0.5)"
    )
    parser.add_argument(
        "--rows", type=_rows, default=ROWS, help=f"rows against the reference (default {','.join(ROWS)})"
    )
    parser.add_argument(
        "--spalab-python",
        help="against the reference, run spalab's provider with this Python (e.g. another checkout's .venv/bin/python,"
        " to compare two versions with the reference's figures as the common yardstick)",
    )
    parser.add_argument(
        "--spalab-workers",
        type=int,
        default=1,
        help="against the reference, spalab provider --workers N (default 1: one process, like the reference)",
    )
    parser.add_argument(
        "--configs",
        type=scaling_configs,
        default=SCALING_CONFIGS,
        help="backends and process counts, in this order (default "
        f"{','.join(c.key for c in SCALING_CONFIGS)}; the first is the others' yardstick; also "
        f"{','.join(c.key for c in EXTRA_SCALING_CONFIGS)})",
    )
    parser.add_argument("--scaling-rounds", type=int, default=2, help="rounds of the configurations (default 2)")
    parser.add_argument(
        "--scaling-duration", type=float, default=4.0, help="timed seconds per level and configuration (default 4)"
    )
    parser.add_argument(
        "--scaling-warmup", type=float, default=0.5, help="warm-up seconds per level and configuration (0.5)"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--skip-reference", action="store_true", help="no comparison with the reference")
    which.add_argument("--reference-only", action="store_true", help="the comparison with the reference only")
    which.add_argument(
        "--scaling-only", action="store_true", help="the backends and process counts only (SQLite, PostgreSQL, ×2)"
    )
    which.add_argument(
        "--skip-scaling", action="store_true", help="no backends and process counts (SQLite ×1 only, as before)"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR / "provider.json", help="where to write the JSON")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    try:
        if not args.reference_only and not args.scaling_only:
            results = run_demo_figures(args.levels, args.duration, args.warmup)
            print(format_provider(results) if "error" not in results else f"Provider: NOT MEASURED: {results['error']}")
        if not args.reference_only and not args.skip_scaling:
            print("Backends and process counts:", file=sys.stderr, flush=True)
            scaling = measure_scaling(
                args.configs,
                args.levels,
                rounds=args.scaling_rounds,
                duration=args.scaling_duration,
                warmup=args.scaling_warmup,
                spalab_python=args.spalab_python,
            )
            results["scaling"] = scaling
            print("\n" + format_scaling(scaling), flush=True)
        if not args.skip_reference and not args.scaling_only:
            print("Against the reference:", file=sys.stderr, flush=True)
            comparison = compare_with_reference(
                args.levels,
                rounds=args.rounds,
                duration=args.compare_duration,
                warmup=args.compare_warmup,
                rows=args.rows,
                spalab_python=args.spalab_python,
                spalab_workers=args.spalab_workers,
            )
            results["vs_reference"] = comparison
            print("\n" + format_comparison(comparison))
    except KeyboardInterrupt:
        print("interrupted: the figures measured so far are saved", file=sys.stderr)
        results["interrupted"] = True
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    ok = results.get("ok", True) and all(results.get(part, {}).get("ok", True) for part in ("scaling", "vs_reference"))
    return 0 if ok and not results.get("interrupted") else 1


def run_demo_figures(levels: tuple[int, ...], duration: float, warmup: float) -> dict[str, Any]:
    """The flows and sign-in figures against `spalab serve` (the demo) on free ports; a failure to
    start or to sign in is reported as {"error": ...}, not raised."""
    from harness import start_demo  # e2e/ is on sys.path when run as `cd e2e && python -m bench.provider`

    with tempfile.TemporaryDirectory(prefix="spalab-bench-") as data_dir:
        try:
            demo = start_demo(Path(data_dir), config=bench_config())
        except Exception as exc:  # noqa: BLE001 - reported; the comparison still runs
            return {"error": f"{type(exc).__name__}: {exc}", "ok": False}
        try:
            return measure_provider(
                demo.issuer,
                levels,
                redirect_uri=demo.spa + "/",
                duration=duration,
                warmup=warmup,
                server_pid=demo.process.pid,
            )
        except Exception as exc:  # noqa: BLE001 - reported; the comparison still runs
            return {"error": f"{type(exc).__name__}: {exc}", "ok": False}
        finally:
            _stop(demo.process)


def _rows(text: str) -> tuple[str, ...]:
    rows = tuple(part for part in text.split(",") if part)
    unknown = [row for row in rows if row not in ROWS]
    if unknown or not rows:
        raise argparse.ArgumentTypeError(f"rows are among {','.join(ROWS)}")
    return rows


if __name__ == "__main__":
    sys.exit(main())
