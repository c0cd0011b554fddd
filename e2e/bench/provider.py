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

Reading the figures: each flow makes five SQLite commits (grant, code; code
consumed, access token, refresh token), each an fsync run on the provider's event
loop, so one provider process serializes on the disk. At one client the token
latency also shows any TCP delayed-ACK stall (about 40 ms on Linux) when the
server's sockets lack TCP_NODELAY; compare with another JSON endpoint before
blaming the token endpoint.

Run: `cd e2e && ../.venv/bin/python -m bench.provider` (starts a demo on free
ports with a temporary data dir, prints a table, writes bench/out/provider.json).
"""

import argparse
import asyncio
import base64
import hashlib
import json
import math
import os
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

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

    def code_from(self, response: httpx.Response, query: dict[str, str]) -> str | None:
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


def _error_code(response: httpx.Response) -> str:
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
    """User + system CPU time of another process, from /proc (Linux); None elsewhere."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # Fields 14 and 15 of proc(5), counted after the ")" that ends the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    parser.add_argument("--out", type=Path, default=OUT_DIR / "provider.json", help="where to write the JSON")
    args = parser.parse_args(argv)
    from harness import start_demo  # e2e/ is on sys.path when run as `cd e2e && python -m bench.provider`

    with tempfile.TemporaryDirectory(prefix="spalab-bench-") as data_dir:
        demo = start_demo(Path(data_dir), config=bench_config())
        try:
            results = measure_provider(
                demo.issuer,
                args.levels,
                redirect_uri=demo.spa + "/",
                duration=args.duration,
                warmup=args.warmup,
                server_pid=demo.process.pid,
            )
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        finally:
            _stop(demo.process)
    print(format_provider(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
