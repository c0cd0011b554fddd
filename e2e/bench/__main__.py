"""`cd e2e && python -m bench` (or scripts/bench): the speed figures of issue 5, side by
side in Chromium and Firefox, printed as tables and saved to e2e/bench/out/bench.json.

A benchmark, not a test: nothing is asserted; the targets are printed next to the figures.
See bench/browser.py and bench/provider.py for exactly what each figure measures."""

import argparse
import json
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from harness import start_demo
from playwright.sync_api import sync_playwright

from bench.browser import APPS, format_browser, measure_engine
from bench.provider import format_provider, measure_provider

OUT = Path(__file__).resolve().parent / "out" / "bench.json"
TARGETS = """Targets (issue 5; reported, not asserted): round trip in Chromium within 1.2x the baseline for
MicroPython redirect and both popup variants, within 3x for Pyodide redirect; URL scrubbed within
100 ms of the callback navigation in every variant."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="repetitions per figure (median; default 5)")
    parser.add_argument("--engines", default="chromium,firefox", help="comma-separated (default chromium,firefox)")
    parser.add_argument("--apps", default=",".join(APPS), help=f"comma-separated subset of {','.join(APPS)}")
    parser.add_argument("--skip-provider", action="store_true", help="browser figures only")
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    apps = tuple(a for a in args.apps.split(",") if a)
    unknown = set(apps) - set(APPS)
    if unknown:
        parser.error(f"unknown app(s) {sorted(unknown)}: choose from {', '.join(APPS)}")
    with tempfile.TemporaryDirectory(prefix="spalab-bench-") as data_dir:
        demo = start_demo(Path(data_dir))
        try:
            results: dict[str, object] = {
                "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "platform": platform.platform(),
                "runs": args.runs,
            }
            with sync_playwright() as playwright:
                browser = {
                    e: measure_engine(playwright, e, demo, args.runs, lambda line: print(line, file=sys.stderr), apps)
                    for e in engines
                }
            results["browser"] = browser
            print()
            print(format_browser(browser))
            if not args.skip_provider:
                provider = measure_provider(demo.issuer, redirect_uri=demo.spa + "/", server_pid=demo.process.pid)
                results["provider"] = provider
                print()
                print(format_provider(provider))
            print()
            print(TARGETS)
        finally:
            demo.process.terminate()
            demo.process.wait(timeout=10)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"\nsaved {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
