"""Browser benchmark: what a visitor waits for, in Chromium and Firefox (Playwright).

Variants: the Python SPA on Pyodide and on MicroPython, each signing in by redirect
and by popup, and a plain-JavaScript baseline on oidc-client-ts (web/baseline/,
redirect, the same provider and API).

What is measured, per engine and variant (medians of `runs` repetitions):

- **load → ready, cold and warm**: from navigation start to the app's
  `performance.mark("spalab:ready")` (sign-in button usable), read in the page, so no
  driver overhead is included. Cold: a fresh browser context (empty HTTP cache).
  Warm: the same page loaded again in that context. With it, the bytes the cold
  load transferred (`transferSize` of the document and every resource, as the
  engine reports them) and their decoded size.
- **round trip, click → API data shown**: wall time measured by the driver from
  the sign-in click to the API's answer on screen, clicking "Call API" as soon as
  the signed-in panel shows. The app page is loaded and ready before the click,
  the visitor is already signed in at the provider and consent is remembered,
  so no form is shown: this is the machine's share of a sign-in (redirects,
  booting the interpreter again after a redirect, token exchange, checks, API).
- **URL scrubbed**: time from the first byte of the callback response to the
  `spalab:url-scrubbed` mark, i.e. how long the code or tokens sat in the address bar.
"""

import statistics
import time
from collections.abc import Callable
from typing import Any

from harness import CHROMIUM_ARGS, Demo
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

VARIANTS = (
    ("pyodide", "redirect"),
    ("pyodide", "popup"),
    ("micropython", "redirect"),
    ("micropython", "popup"),
    ("baseline", "redirect"),
)
APPS = ("pyodide", "micropython", "baseline")
RUNTIME = {"pyodide": "py", "micropython": "mpy"}
LAUNCH: dict[str, dict[str, Any]] = {
    "chromium": {"executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS},
    "firefox": {"executable_path": "/usr/bin/firefox-esr", "channel": "moz-firefox"},
}
TIMEOUT_MS = 60_000

READY_MS = "performance.getEntriesByName('spalab:ready')[0]?.startTime ?? null"
TRANSFER = """(() => {
    const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
    return {transferred: entries.reduce((n, e) => n + (e.transferSize || 0), 0),
            decoded: entries.reduce((n, e) => n + (e.decodedBodySize || 0), 0), requests: entries.length};
})()"""
SCRUB_REDIRECT = """(() => {
    const mark = performance.getEntriesByName("spalab:url-scrubbed")[0];
    const nav = performance.getEntriesByType("navigation")[0];
    return mark && nav ? mark.startTime - nav.responseStart : null;
})()"""
SCRUB_POPUP = "performance.getEntriesByName('spalab:popup-callback').at(-1)?.detail?.scrubbedMs ?? null"


def app_url(app: str) -> str:
    return "/baseline/" if app == "baseline" else f"/?runtime={RUNTIME[app]}"


def _ready(page: Page) -> float:
    page.wait_for_function(f"({READY_MS}) !== null", timeout=TIMEOUT_MS)
    return float(page.evaluate(READY_MS))


def measure_load(browser: Browser, demo: Demo, app: str) -> dict[str, Any]:
    context = browser.new_context(base_url=demo.spa)
    try:
        page = context.new_page()
        page.goto(app_url(app))
        cold = _ready(page)
        sizes = page.evaluate(TRANSFER)
        page.goto(app_url(app))
        warm = _ready(page)
        return {"cold_ms": cold, "warm_ms": warm, **sizes}
    finally:
        context.close()


def _sign_in_once(context: BrowserContext, demo: Demo) -> None:
    """Signs alice in at the provider and remembers her consent for both clients (either may
    be remembered already: the provider then answers at once)."""
    page = context.new_page()
    for app, button in (("pyodide", "#signin-code"), ("baseline", "#signin")):
        page.goto(app_url(app))
        _ready(page)
        page.evaluate("window.benchBefore = true")
        page.click(button)
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            if page.url.startswith(demo.issuer):
                if page.is_visible("#username"):
                    page.fill("#username", "alice")
                    page.fill("#password", "wonderland")
                    page.get_by_role("button", name="Sign in").click()
                elif page.is_visible("button[name=decision]"):
                    page.get_by_role("button", name="Allow").click()
            elif page.evaluate(f"!window.benchBefore && ({READY_MS}) !== null"):
                break  # back in the app, a new page, booted
            page.wait_for_timeout(100)
        else:
            raise RuntimeError(f"{app}: the first sign-in did not finish (at {page.url})")
    page.close()


def round_trip(context: BrowserContext, app: str, mode: str) -> dict[str, Any]:
    page = context.new_page()
    try:
        page.goto(app_url(app))
        _ready(page)
        signin, signed_in = ("#signin", "#call-api:enabled") if app == "baseline" else ("#signin-code", "#signed-in")
        if app != "baseline":
            page.check(f'input[name="signin-window"][value="{mode}"]')
        started = time.perf_counter()
        page.click(signin)
        page.wait_for_selector(signed_in, state="visible", timeout=TIMEOUT_MS)
        page.click("#call-api")
        page.wait_for_function(
            "document.querySelector('#api-result')?.textContent.includes('White Rabbit')", timeout=TIMEOUT_MS
        )
        seconds = time.perf_counter() - started
        scrubbed = page.evaluate(SCRUB_POPUP if mode == "popup" else SCRUB_REDIRECT)
        return {"ms": seconds * 1000, "scrubbed_ms": scrubbed}
    finally:
        page.close()


def median(values: list[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return round(statistics.median(numbers), 1) if numbers else None


def measure_engine(
    playwright: Playwright,
    engine: str,
    demo: Demo,
    runs: int,
    progress: Callable[[str], None],
    apps: tuple[str, ...] = APPS,
) -> dict[str, Any]:
    """`apps` limits the figures to some of pyodide, micropython and baseline (the baseline is
    needed for the × baseline column)."""
    browser = getattr(playwright, engine).launch(**LAUNCH[engine])
    try:
        loads: dict[str, Any] = {}
        for app in apps:
            samples = [measure_load(browser, demo, app) for _ in range(runs)]
            loads[app] = {
                "cold_ms": median([s["cold_ms"] for s in samples]),
                "warm_ms": median([s["warm_ms"] for s in samples]),
                "cold_kb_transferred": round(samples[0]["transferred"] / 1024),
                "decoded_kb": round(samples[0]["decoded"] / 1024),
                "requests": samples[0]["requests"],
                "samples": samples,
            }
            progress(f"{engine}: {app} load cold {loads[app]['cold_ms']} ms, warm {loads[app]['warm_ms']} ms")
        context = browser.new_context(base_url=demo.spa)
        try:
            _sign_in_once(context, demo)
            trips: dict[str, Any] = {}
            for app, mode in (v for v in VARIANTS if v[0] in apps):
                round_trip(context, app, mode)  # warm-up: caches filled, discovery and keys served once
                samples = [round_trip(context, app, mode) for _ in range(runs)]
                trips[f"{app} {mode}"] = {
                    "ms": median([s["ms"] for s in samples]),
                    "scrubbed_ms": median([s["scrubbed_ms"] for s in samples]),
                    "samples": samples,
                }
                progress(f"{engine}: {app} {mode} round trip {trips[f'{app} {mode}']['ms']} ms")
        finally:
            context.close()
        return {"version": browser.version, "load": loads, "round_trip": trips}
    finally:
        browser.close()


def format_browser(results: dict[str, Any]) -> str:
    engines = list(results)
    apps = [app for app in APPS if all(app in results[e]["load"] for e in engines)]
    lines = ["Page load → app ready (ms, median; cold = empty cache) and bytes of a cold visit"]
    header = ["app"] + [f"{e} {k}" for e in engines for k in ("cold", "warm", "KB")]
    rows = [
        [app] + [results[e]["load"][app][k] for e in engines for k in ("cold_ms", "warm_ms", "cold_kb_transferred")]
        for app in apps
    ]
    lines += _table(header, rows)
    lines += [
        "",
        "Sign-in round trip, click → API data shown (ms, median), and × the oidc-client-ts baseline;",
        "URL scrubbed = ms the code sat in the address bar after the callback's first byte",
    ]
    header = ["variant"] + [f"{e} {k}" for e in engines for k in ("ms", "× baseline", "scrubbed")]
    rows = []
    for app, mode in (v for v in VARIANTS if v[0] in apps):
        key = f"{app} {mode}"
        row: list[Any] = [key]
        for e in engines:
            baseline = results[e]["round_trip"].get("baseline redirect")
            trip, base = results[e]["round_trip"][key], baseline["ms"] if baseline else None
            row += [trip["ms"], round(trip["ms"] / base, 2) if base else None, trip["scrubbed_ms"]]
        rows.append(row)
    lines += _table(header, rows)
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
