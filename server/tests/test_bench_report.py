"""The browser benchmark's bookkeeping (e2e/bench/report.py): a figure that failed is shown
as FAILED, listed with its error, and leaves every other figure and ratio intact."""

from types import ModuleType
from typing import Any

import bench_support
import pytest


@pytest.fixture(scope="module")
def report() -> ModuleType:
    return bench_support.load(bench_support.REPORT, "bench_report_under_test")


def _load(cold: float) -> dict[str, Any]:
    return {"cold_ms": cold, "warm_ms": cold / 2, "cold_kb_transferred": 10}


def _engine(**trips: Any) -> dict[str, Any]:
    return {
        "version": "1",
        "load": {"pyodide": _load(2000), "micropython": _load(400), "baseline": _load(100)},
        "sign_in": {},
        "round_trip": {
            "pyodide redirect": {"ms": 2000.0, "scrubbed_ms": 60.0},
            "pyodide popup": {"ms": 400.0, "scrubbed_ms": 30.0},
            "micropython redirect": {"ms": 600.0, "scrubbed_ms": 60.0},
            "micropython popup": {"ms": 420.0, "scrubbed_ms": 30.0},
            "baseline redirect": {"ms": 400.0, "scrubbed_ms": 110.0},
            **trips,
        },
    }


def test_a_complete_run_has_no_failures(report: ModuleType) -> None:
    results = {"chromium": _engine(), "firefox": _engine()}
    assert report.failures(results) == []
    text = report.format_browser(results)
    assert "FAILED" not in text
    assert "Every figure was measured." in text
    assert "pyodide redirect" in text and " 5.0 " in text  # 2000 / 400


def test_a_failed_variant_is_listed_and_the_others_stay(report: ModuleType) -> None:
    error = "Error: Page.evaluate: Execution context was destroyed, most likely because of a navigation"
    results = {
        "chromium": _engine(**{"micropython popup": {"error": error, "samples": []}}),
        "firefox": _engine(),
    }
    assert report.failures(results) == [
        {"engine": "chromium", "figure": "round trip micropython popup", "error": error}
    ]
    text = report.format_browser(results)
    row = next(line for line in text.splitlines() if line.startswith("micropython popup"))
    assert row.split()[2:5] == ["FAILED", "-", "FAILED"]  # chromium: ms, × baseline, scrubbed
    assert row.split()[5:] == ["420.0", "1.05", "30.0"]  # firefox untouched
    assert "NOT MEASURED: 1 figure(s)" in text and error in text


def test_loads_are_also_given_as_ratios_to_the_baselines_own(report: ModuleType) -> None:
    """Issue 15 sets the load targets as ratios to the baseline's load in the same run."""
    assert report.load_ratio({"warm_ms": 300.0}, {"warm_ms": 100.0}, "warm_ms") == 3.0
    assert report.load_ratio({"error": "x"}, {"warm_ms": 100.0}, "warm_ms") is None
    assert report.load_ratio({"warm_ms": 300.0}, None, "warm_ms") is None


def test_a_failed_baseline_leaves_no_ratio(report: ModuleType) -> None:
    trip = {"ms": 500.0}
    assert report.ratio(trip, {"ms": 250.0}) == 2.0
    assert report.ratio(trip, {"error": "x"}) is None
    assert report.ratio(trip, None) is None
    assert report.ratio({"error": "x"}, {"ms": 250.0}) is None


def test_an_engine_that_did_not_start_fails_every_figure(report: ModuleType) -> None:
    results = {"chromium": _engine(), "firefox": {"error": "Error: launch failed"}}
    assert report.failures(results) == [{"engine": "firefox", "figure": "browser", "error": "Error: launch failed"}]
    lines = report.format_browser(results).splitlines()
    assert next(line for line in lines if line.startswith("baseline ")).split()[-3:] == ["FAILED"] * 3


def test_a_failed_first_sign_in_is_listed(report: ModuleType) -> None:
    engine = _engine()
    engine["sign_in"] = {"error": "RuntimeError: pyodide: the sign-in stopped"}
    engine["round_trip"] = {key: {"error": "not measured: the first sign-in failed"} for key in engine["round_trip"]}
    figures = [f["figure"] for f in report.failures({"chromium": engine})]
    assert figures[0] == "first sign-in" and len(figures) == 6


def test_describe_keeps_the_first_line_only(report: ModuleType) -> None:
    error = RuntimeError("Timeout 60000ms exceeded.\nCall log:\n  - waiting for locator")
    assert report.describe(error) == "RuntimeError: Timeout 60000ms exceeded."
    assert report.describe(ValueError()) == "ValueError: (no message)"


def test_median_ignores_what_is_not_a_number(report: ModuleType) -> None:
    assert report.median([3, None, 1.0, 2]) == 2.0
    assert report.median([None, True]) is None
