"""Where a warm redirect sign-in's milliseconds go: `cd e2e && python -m bench.trace`.

Signs alice in once (as the benchmark does), warms each variant with one round trip, then
does one more redirect round trip per app and engine and prints, for the document the browser
came back to (the callback page), every performance entry on its time line: navigation
phases, each resource fetched (start → end, bytes transferred; 0 = from the HTTP cache), the
interpreter's own progress events (PyScript's `py:progress` / `mpy:progress`, recorded by an
init script) and the app's marks (spalab:*). Times are ms since that document's navigation
start. A diagnostic, not a benchmark: one sample, printed and saved to out/trace.json.
"""

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from harness import start_demo
from playwright.sync_api import sync_playwright

from bench.browser import LAUNCH, _new_context, _sign_in_once, round_trip
from bench.provider import bench_config

OUT = Path(__file__).resolve().parent / "out" / "trace.json"

# Runs in every document before its own scripts: the interpreters' progress events, timed.
RECORD_PROGRESS = """
window.benchProgress = [];
for (const prefix of ["py", "mpy"]) {
    addEventListener(prefix + ":progress",
                     (event) => benchProgress.push([performance.now(), prefix + ": " + event.detail]));
}
for (const kind of ["py:ready", "mpy:ready", "py:done", "mpy:done"]) {
    addEventListener(kind, () => benchProgress.push([performance.now(), kind]));
}
"""
ENTRIES = """(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const rows = [];
    for (const key of ["fetchStart", "requestStart", "responseStart", "responseEnd", "domInteractive",
                       "domContentLoadedEventEnd", "loadEventEnd"]) rows.push([nav[key], "navigation " + key]);
    for (const e of performance.getEntriesByType("resource")) {
        const name = e.name.replace(location.origin, "").replace(/\\?.*/, "");
        rows.push([e.startTime, `fetch ${name} (${e.initiatorType}) until ${e.responseEnd.toFixed(0)}`
                   + ` = ${(e.responseEnd - e.startTime).toFixed(0)} ms, ${e.transferSize} B`]);
    }
    for (const e of performance.getEntriesByType("mark")) rows.push([e.startTime, "mark " + e.name]);
    for (const [t, what] of window.benchProgress || []) rows.push([t, what]);
    rows.sort((a, b) => a[0] - b[0]);
    return rows.map(([t, what]) => [Math.round(t), what]);
})()"""


def trace_callback(context: Any, app: str) -> list[list[Any]]:
    round_trip(context, app, "redirect")  # warm-up: caches filled
    page = context.new_page()
    try:
        page.goto("/baseline/" if app == "baseline" else f"/?runtime={'py' if app == 'pyodide' else 'mpy'}")
        page.wait_for_function("() => performance.getEntriesByName('spalab:ready').length")
        page.click("#signin" if app == "baseline" else "#signin-code")
        page.wait_for_function(
            "() => location.pathname === '/' || location.pathname === '/baseline/' ? "
            "(document.querySelector('#call-api') && !document.querySelector('#call-api').disabled "
            "&& (document.querySelector('#signed-in') ? !document.querySelector('#signed-in').hidden : true)"
            " && performance.getEntriesByType('navigation')[0].name.includes('code=')) : false",
            timeout=60_000,
        )
        page.wait_for_timeout(300)
        rows: list[list[Any]] = page.evaluate(ENTRIES)
        return rows
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__)
    parser.add_argument("--engines", default="chromium,firefox")
    parser.add_argument("--apps", default="pyodide,micropython,baseline")
    args = parser.parse_args()
    traces: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="spalab-trace-") as data_dir:
        demo = start_demo(Path(data_dir), config=bench_config())
        try:
            with sync_playwright() as playwright:
                for engine in args.engines.split(","):
                    browser = getattr(playwright, engine).launch(**LAUNCH[engine])
                    try:
                        context = _new_context(browser, demo)
                        context.add_init_script(RECORD_PROGRESS)
                        _sign_in_once(context, demo)
                        for app in args.apps.split(","):
                            rows = traces[f"{engine} {app}"] = trace_callback(context, app)
                            print(f"\n== {engine} {app}: the callback page, ms since its navigation start")
                            for t, what in rows:
                                print(f"{t:6d}  {what}")
                    finally:
                        browser.close()
        finally:
            demo.process.terminate()
            demo.process.wait()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(traces, indent=1))


if __name__ == "__main__":
    main()
