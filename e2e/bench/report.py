"""The browser benchmark's bookkeeping, free of Playwright so it can be tested on its own
(server/tests/test_bench_report.py): medians, failures recorded per figure, the tables.

A figure that could not be measured is a dict with an "error" (and the samples taken before
it failed), never a missing key: the run goes on, the table says FAILED, and `failures()`
lists every such figure for the printout and the JSON."""

import statistics
from typing import Any

VARIANTS = (
    ("pyodide", "redirect"),
    ("pyodide", "popup"),
    ("micropython", "redirect"),
    ("micropython", "popup"),
    ("baseline", "redirect"),
)
APPS = ("pyodide", "micropython", "baseline")
FAILED = "FAILED"


def median(values: list[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return round(statistics.median(numbers), 1) if numbers else None


def describe(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message (Playwright appends
    a multi-line call log, kept out of the tables; the JSON has the first line too)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else '(no message)'}"


def failures(browser: dict[str, Any]) -> list[dict[str, str]]:
    """Every figure of `browser` (engine -> results, as measure_engine returns them) that was not
    measured: [{"engine", "figure", "error"}], in the order they were attempted."""
    found = []
    for engine, results in browser.items():
        if "error" in results:
            found.append({"engine": engine, "figure": "browser", "error": results["error"]})
        for app, figure in results.get("load", {}).items():
            if "error" in figure:
                found.append({"engine": engine, "figure": f"load {app}", "error": figure["error"]})
        if "error" in results.get("sign_in", {}):
            found.append({"engine": engine, "figure": "first sign-in", "error": results["sign_in"]["error"]})
        for key, figure in results.get("round_trip", {}).items():
            if "error" in figure:
                found.append({"engine": engine, "figure": f"round trip {key}", "error": figure["error"]})
    return found


def _figure(engine: dict[str, Any], part: str, key: str) -> dict[str, Any] | None:
    """One figure of one engine ("load"/"round_trip", app or variant); an engine that could not
    run at all has every figure failed."""
    if "error" in engine:
        return {"error": engine["error"]}
    figure: dict[str, Any] | None = engine.get(part, {}).get(key)
    return figure


def _cell(figure: dict[str, Any] | None, key: str) -> Any:
    if figure is None:
        return None
    return FAILED if "error" in figure else figure.get(key)


def ratio(trip: dict[str, Any] | None, baseline: dict[str, Any] | None) -> float | None:
    """A round trip × the baseline's, when both were measured."""
    ms = trip.get("ms") if trip and "error" not in trip else None
    base = baseline.get("ms") if baseline and "error" not in baseline else None
    return round(ms / base, 2) if isinstance(ms, (int, float)) and isinstance(base, (int, float)) and base else None


def load_ratio(load: dict[str, Any] | None, baseline: dict[str, Any] | None, key: str) -> float | None:
    """A load time ("cold_ms" or "warm_ms") × the baseline's own, when both were measured."""
    return ratio({"ms": load.get(key)} if load else None, {"ms": baseline.get(key)} if baseline else None)


def format_browser(results: dict[str, Any], apps: tuple[str, ...] = APPS) -> str:
    """The tables; a figure that failed reads FAILED, and the failures are listed below them."""
    engines = list(results)
    lines = ["Page load → app ready (ms, median; cold = empty cache) and bytes of a cold visit"]
    header = ["app"] + [f"{e} {k}" for e in engines for k in ("cold", "warm", "KB")]
    rows = [
        [app]
        + [
            _cell(_figure(results[e], "load", app), k)
            for e in engines
            for k in ("cold_ms", "warm_ms", "cold_kb_transferred")
        ]
        for app in APPS
        if app in apps
    ]
    lines += _table(header, rows)
    lines += ["", "Page load → app ready × the baseline's own load in the same run (cold, warm)"]
    header = ["app"] + [f"{e} {k} ×" for e in engines for k in ("cold", "warm")]
    rows = [
        [app]
        + [
            load_ratio(_figure(results[e], "load", app), _figure(results[e], "load", "baseline"), k)
            for e in engines
            for k in ("cold_ms", "warm_ms")
        ]
        for app in APPS
        if app in apps and app != "baseline"
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
        row: list[Any] = [f"{app} {mode}"]
        for e in engines:
            trip = _figure(results[e], "round_trip", f"{app} {mode}")
            baseline = _figure(results[e], "round_trip", "baseline redirect")
            row += [_cell(trip, "ms"), ratio(trip, baseline), _cell(trip, "scrubbed_ms")]
        rows.append(row)
    lines += _table(header, rows)
    lines.append("")
    found = failures(results)
    if not found:
        lines.append("Every figure was measured.")
    else:
        lines.append(f"NOT MEASURED: {len(found)} figure(s) failed; every other figure above is complete:")
        lines += [f"  {f['engine']}, {f['figure']}: {f['error']}" for f in found]
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
