"""Browser benchmark: what a visitor waits for, in Chromium and Firefox (Playwright).

Variants: the Python SPA on Pyodide and on MicroPython, each signing in by redirect
and by popup, and a plain-JavaScript baseline on oidc-client-ts (web/baseline/,
redirect, the same provider and API).

What is measured, per engine and variant (medians of `runs` repetitions):

- **load → ready, cold and warm**: from navigation start to the app's
  `performance.mark("spalab:ready")` (sign-in button usable), read in the page, so no
  driver overhead is included. Cold: a fresh browser context (empty HTTP cache).
  Warm: the same page loaded again in that context, once the cold visit's network is
  idle (Playwright's "networkidle": no request for 500 ms) and, on a Pyodide page, the
  snapshot it downloads for the next visit is in the HTTP cache. With it, the bytes the cold
  visit transferred by then (`transferSize` of the document and every resource, as the
  engine reports them), what it downloads after it is ready included (Pyodide's memory
  snapshot, for the next visit), and their decoded size.
- **round trip, click → API data shown**: wall time measured by the driver from
  the sign-in click to the API's answer on screen, clicking "Call API" as soon as
  the signed-in panel shows. The app page is loaded and ready before the click,
  the visitor is already signed in at the provider and consent is remembered,
  so no form is shown: this is the machine's share of a sign-in (redirects,
  booting the interpreter again after a redirect, token exchange, checks, API).
- **URL scrubbed**: time from the first byte of the callback response to the
  `spalab:url-scrubbed` mark, i.e. how long the code or tokens sat in the address bar.
- **first sign-in** (not a figure): alice signs in once per engine, by redirect, through the
  provider's login and consent pages, so the round trips above meet neither; the app page
  it starts from stays until the network is idle, so what a first visit downloads for the
  next one (Pyodide's snapshot) is in the HTTP cache, as for a returning visitor.

How the driver follows the pages: a redirect sign-in replaces the document several times
(app -> provider -> app, plus the login and consent forms), and a `page.evaluate` that lands
on a document being replaced fails with "Execution context was destroyed". So nothing here
evaluates in a page that may be leaving: every wait is a `wait_for_function` (Playwright runs
it again in the new document after a navigation) whose predicate returns a primitive value
(read without a second call into the page), and the page that is about to be left is tagged
first (`window.benchLeft`), so the next step waits for a *new* document instead of reading
the old one. The remaining `page.evaluate`s read a page that has settled (booted, result on
screen); if one fails, the page navigated when it should not have: a real failure.

A figure that fails is recorded with its error (bench/report.py) and the run goes on with the
next one; nothing is retried.
"""

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from harness import CHROMIUM_ARGS, Demo
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from bench.report import APPS, VARIANTS, describe, median

RUNTIME = {"pyodide": "py", "micropython": "mpy"}
LAUNCH: dict[str, dict[str, Any]] = {
    "chromium": {"executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS},
    "firefox": {"executable_path": "/usr/bin/firefox-esr", "channel": "moz-firefox"},
}
TIMEOUT_MS = 60_000

# Truthy (a number) once the app has booted; a primitive, so reading it needs no second call into the page.
READY_MS = "() => performance.getEntriesByName('spalab:ready')[0]?.startTime ?? null"
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
# Where a sign-in stands, in a document the driver has not acted on yet: "login" or "consent"
# (the provider's forms; "login: <alert>" when the form came back with an error), "provider:
# <text>" (any other provider page, once loaded: an error page), "app" (back in an app page that
# has booted), "error: <message>" (the page the driver left showed an error instead of leaving),
# or null (still on the page it left, or loading).
WHERE = """(issuer) => {
    const text = (element) => (element?.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 300);
    if (window.benchLeft) {
        const message = document.querySelector("#message");
        return message && !message.hidden && text(message) ? "error: " + text(message) : null;
    }
    if (location.origin === issuer) {
        if (document.readyState !== "complete") return null;
        const alert = text(document.querySelector("[role=alert]"));
        if (document.querySelector("#username")) return alert ? "login: " + alert : "login";
        if (document.querySelector("button[name=decision]")) return "consent";
        return "provider: " + (text(document.querySelector("main")) || text(document.body) || document.title);
    }
    return performance.getEntriesByName("spalab:ready").length ? "app" : null;
}"""
# The app shows an error (its #message box) or the state `done` asks for: a string, or null while waiting.
OUTCOME = """([done]) => {
    const message = document.querySelector("#message");
    if (message && !message.hidden && message.textContent.trim()) return "error: " + message.textContent.trim();
    const signedIn = document.querySelector("#signed-in"), callApi = document.querySelector("#call-api");
    const ok = {
        "signed-in": signedIn ? !signedIn.hidden : callApi && !callApi.disabled,
        "api-result": document.querySelector("#api-result")?.textContent.includes("White Rabbit"),
    }[done];
    return ok ? "ok" : null;
}"""


def app_url(app: str) -> str:
    return "/baseline/" if app == "baseline" else f"/?runtime={RUNTIME[app]}"


def _wait_value(page: Page, predicate: str, arg: Any = None) -> Any:
    """Waits until `predicate` (a JS function returning a primitive) is truthy in the page's
    current document, across navigations, and returns that value."""
    return page.wait_for_function(predicate, arg=arg, timeout=TIMEOUT_MS).json_value()


def _ready(page: Page) -> float:
    return float(_wait_value(page, READY_MS))


def _leave(page: Page, action: Callable[[], None]) -> None:
    """Tags this (settled) document, then does what makes the page leave it: the next
    `_wait_value(WHERE)` then waits for the document that replaces it."""
    page.evaluate("window.benchLeft = true")
    action()


def _new_context(browser: Browser, demo: Demo) -> BrowserContext:
    context = browser.new_context(base_url=demo.spa)
    context.set_default_timeout(TIMEOUT_MS)
    return context


# Pyodide's snapshot, which the host's loader downloads once the first visit is idle: true once the HTTP
# cache holds it (as the loader asks on the next visit) and the download's resource timing entry is there
# (Firefox adds it after the body is cached: reading the page's bytes between the two missed 5 MB), or when
# this page has no such loader or restored the snapshot itself (nothing to download).
SNAPSHOT_CACHED = """async () => {
    const entries = performance.getEntriesByType("resource");
    if (!entries.some((entry) => entry.name.includes("/pyodide-loader.mjs"))) return true;
    if (performance.getEntriesByName("spalab:pyodide-restored").length) return true;
    const downloads = entries.filter((entry) => entry.name.includes("/pyodide-snapshot?"));
    const download = downloads.find((entry) => entry.encodedBodySize > 0);
    if (!download) return false;
    const cached = await fetch(download.name, {cache: "only-if-cached", mode: "same-origin"}).catch(() => null);
    return Boolean(cached && cached.ok);
}"""


def _wait_for_later_downloads(page: Page) -> None:
    """Until the page's network is idle and the snapshot a Pyodide page downloads for the next visit is
    in the HTTP cache (a page that does not restore one has nothing to wait for)."""
    page.wait_for_load_state("networkidle")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not page.evaluate(SNAPSHOT_CACHED):
        if time.monotonic() > deadline:
            raise TimeoutError("Pyodide's snapshot did not reach the HTTP cache")
        time.sleep(0.1)


def measure_load(browser: Browser, demo: Demo, app: str) -> dict[str, Any]:
    context = _new_context(browser, demo)
    try:
        page = context.new_page()
        page.goto(app_url(app))
        cold = _ready(page)
        # What the first visit downloads once it is ready (Pyodide's snapshot, for the next visit) counts
        # in its bytes, and the warm visit comes once that is done, as a later visit would.
        _wait_for_later_downloads(page)
        sizes = page.evaluate(TRANSFER)  # booted: the page stays
        page.goto(app_url(app))
        warm = _ready(page)
        return {"cold_ms": cold, "warm_ms": warm, **sizes}
    finally:
        context.close()


def _sign_in_once(context: BrowserContext, demo: Demo) -> dict[str, Any]:
    """Signs alice in at the provider and remembers her consent for both clients (either may
    be remembered already: the provider then answers at once), by redirect, following each
    page the provider shows; any page it does not expect fails with what that page says."""
    page = context.new_page()
    try:
        for app, button in (("pyodide", "#signin-code"), ("baseline", "#signin")):
            page.goto(app_url(app))
            _ready(page)
            # The round trips measure a returning visitor: what a first visit downloads once it is ready
            # (Pyodide's snapshot) is in the HTTP cache, as after any visit that lasted a few seconds.
            _wait_for_later_downloads(page)
            _leave(page, partial(page.click, button))
            shown: list[str] = []
            while True:
                where = str(_wait_value(page, WHERE, demo.issuer))
                kind = where.partition(":")[0]
                if kind in shown or where.startswith("login:"):  # a form again: the last answer was refused
                    raise RuntimeError(f"{app}: the provider showed {where!r} after {shown} (at {page.url})")
                shown.append(kind)
                if kind == "login":
                    page.fill("#username", "alice")
                    page.fill("#password", "wonderland")
                    _leave(page, lambda: page.get_by_role("button", name="Sign in").click())
                elif kind == "consent":
                    _leave(page, lambda: page.get_by_role("button", name="Allow").click())
                elif kind == "app":
                    break
                else:
                    raise RuntimeError(f"{app}: the sign-in stopped at {page.url}: {where}")
            outcome = str(_wait_value(page, OUTCOME, ["signed-in"]))
            if outcome != "ok":
                raise RuntimeError(f"{app}: back in the app but not signed in: {outcome}")
        return {}
    finally:
        page.close()


def round_trip(context: BrowserContext, app: str, mode: str) -> dict[str, Any]:
    page = context.new_page()
    try:
        page.goto(app_url(app))
        _ready(page)
        signin = "#signin" if app == "baseline" else "#signin-code"
        if app != "baseline":
            page.check(f'input[name="signin-window"][value="{mode}"]')
        started = time.perf_counter()
        page.click(signin)
        # By redirect the page is replaced on the way: waited for in whichever document is current.
        outcome = _wait_value(page, OUTCOME, ["signed-in"])
        if outcome != "ok":
            raise RuntimeError(f"sign-in failed in the app: {outcome}")
        page.click("#call-api")
        outcome = _wait_value(page, OUTCOME, ["api-result"])
        seconds = time.perf_counter() - started
        if outcome != "ok":
            raise RuntimeError(f"API call failed in the app: {outcome}")
        scrubbed = page.evaluate(SCRUB_POPUP if mode == "popup" else SCRUB_REDIRECT)  # result shown: page settled
        return {"ms": seconds * 1000, "scrubbed_ms": scrubbed}
    finally:
        for open_page in context.pages:  # this one, and a popup a failed sign-in left open
            open_page.close()


def _samples(runs: int, sample: Callable[[], dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """`runs` samples, stopping at the first failure: (the samples taken, that failure or None)."""
    samples: list[dict[str, Any]] = []
    try:
        for _ in range(runs):
            samples.append(sample())
    except Exception as error:  # noqa: BLE001 - recorded with the figure; the run goes on with the next
        return samples, describe(error)
    return samples, None


def measure_engine(
    playwright: Playwright,
    engine: str,
    demo: Demo,
    runs: int,
    progress: Callable[[str], None],
    apps: tuple[str, ...] = APPS,
) -> dict[str, Any]:
    """`apps` limits the figures to some of pyodide, micropython and baseline (the baseline is
    needed for the × baseline column). Never raises for a figure that fails: that figure gets
    an "error" (bench/report.py) and the others are still measured."""
    try:
        browser = getattr(playwright, engine).launch(**LAUNCH[engine])
    except Exception as launch_error:  # noqa: BLE001 - this engine has no figures; the next one may
        progress(f"{engine}: FAILED to start: {describe(launch_error)}")
        return {"error": describe(launch_error)}
    try:
        results: dict[str, Any] = {"version": browser.version, "load": {}, "sign_in": {}, "round_trip": {}}
        for app in apps:
            samples, failure = _samples(runs, partial(measure_load, browser, demo, app))
            if failure:
                results["load"][app] = {"error": failure, "samples": samples}
                progress(f"{engine}: {app} load FAILED: {failure}")
                continue
            results["load"][app] = figure = {
                "cold_ms": median([s["cold_ms"] for s in samples]),
                "warm_ms": median([s["warm_ms"] for s in samples]),
                "cold_kb_transferred": round(samples[0]["transferred"] / 1024),
                "decoded_kb": round(samples[0]["decoded"] / 1024),
                "requests": samples[0]["requests"],
                "samples": samples,
            }
            progress(f"{engine}: {app} load cold {figure['cold_ms']} ms, warm {figure['warm_ms']} ms")
        contexts: list[BrowserContext] = []

        def sign_in() -> dict[str, Any]:
            contexts.append(_new_context(browser, demo))
            return _sign_in_once(contexts[0], demo)

        try:
            _, sign_in_failure = _samples(1, sign_in)
            if sign_in_failure:
                results["sign_in"] = {"error": sign_in_failure}
                progress(f"{engine}: first sign-in FAILED: {sign_in_failure}")
            for app, mode in (v for v in VARIANTS if v[0] in apps):
                key = f"{app} {mode}"
                if sign_in_failure:
                    results["round_trip"][key] = {"error": "not measured: the first sign-in failed"}
                    continue
                # The first trip is a warm-up (caches filled, discovery and keys served once), not counted.
                samples, failure = _samples(runs + 1, partial(round_trip, contexts[0], app, mode))
                samples = samples[1:]
                if failure:
                    results["round_trip"][key] = {"error": failure, "samples": samples}
                    progress(f"{engine}: {key} round trip FAILED: {failure}")
                    continue
                results["round_trip"][key] = figure = {
                    "ms": median([s["ms"] for s in samples]),
                    "scrubbed_ms": median([s["scrubbed_ms"] for s in samples]),
                    "samples": samples,
                }
                progress(f"{engine}: {key} round trip {figure['ms']} ms")
        finally:
            for context in contexts:
                _quietly(context.close, f"{engine}: closing the browser context", progress)
        return results
    finally:
        _quietly(browser.close, f"{engine}: closing the browser", progress)


def _quietly(close: Callable[[], None], what: str, progress: Callable[[str], None]) -> None:
    """Closing after a browser crashed may fail too; the figures already say what failed."""
    try:
        close()
    except Exception as error:  # noqa: BLE001
        progress(f"{what} failed: {describe(error)}")
