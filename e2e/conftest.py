"""End-to-end fixtures: the real servers, started through the README's CLI on
free loopback ports, and the Debian browsers (Chromium, Firefox ESR over
WebDriver BiDi) driven by Playwright. A fresh browser context per test."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import CHROMIUM_ARGS, ROOT, Demo, start_demo


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = start_demo(tmp_path_factory.mktemp("demo-data"))
    yield running
    running.process.terminate()
    running.process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], browser_name: str) -> dict[str, Any]:
    """DESIGN.md: Debian's browsers, not Playwright's downloads."""
    if browser_name == "chromium":
        return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}
    if browser_name == "firefox":
        return {**browser_type_launch_args, "executable_path": "/usr/bin/firefox-esr", "channel": "moz-firefox"}
    raise pytest.UsageError(f"{browser_name}: WebKit runs through WebKitGTK's WebDriver, see e2e/webkit.py")


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any], demo: Demo) -> dict[str, Any]:
    return {**browser_context_args, "base_url": demo.spa, "viewport": {"width": 1100, "height": 900}}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engines(*names): run this test in these browser engines only")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks e2e tests; a test marked engines(...) is not collected for the other engines (deselected,
    not skipped: it was never meant to run there)."""
    kept, dropped = [], []
    for item in items:
        if Path(str(item.fspath)).is_relative_to(ROOT / "e2e"):
            item.add_marker(pytest.mark.e2e)
        marker = item.get_closest_marker("engines")
        params = getattr(item, "callspec", None)
        engine = params.params.get("journey_engine") if params is not None else None
        (dropped if marker is not None and engine is not None and engine not in marker.args else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Every run writes the lab's findings (e2e/report/out/results.json and report.html)."""
    from lab import write_report

    path = write_report()
    if path is not None:
        print(f"\nspalab lab report: {path}")


# --- Journeys in all three engines (e2e/drivers.py, e2e/webkit.py) ---------------------
# Journeys ask for `browser_page`, not pytest-playwright's `page`: it is parametrized over
# Chromium and Firefox (Playwright, launched here with the Debian browsers as above) and
# WebKitGTK (Selenium under a private Xvfb). Session-scoped parameters make pytest run one
# engine's journeys together and close that browser before starting the next.

JOURNEY_ENGINES = ("chromium", "firefox", "webkit")
JOURNEY_LAUNCH: dict[str, dict[str, Any]] = {
    "chromium": {"executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS},
    "firefox": {"executable_path": "/usr/bin/firefox-esr", "channel": "moz-firefox"},
}
JOURNEY_VIEWPORT = {"width": 1100, "height": 900}


@pytest.fixture(scope="session", params=JOURNEY_ENGINES)
def journey_engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def open_browser(journey_engine: str, demo: Demo, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of fresh browser contexts (Playwright) or sessions (WebKitGTK) for one engine."""
    from drivers import PlaywrightBrowser, SeleniumBrowser, write_timings
    from webkit import new_driver, xvfb_display

    if journey_engine == "webkit":
        with xvfb_display() as display:
            yield lambda: SeleniumBrowser(new_driver(display), "webkit", demo.spa)
        write_timings(Path(request.config.getoption("--output")))
        return
    # pytest-playwright's session-wide Playwright (one per thread is allowed); asking for it
    # does not trigger the plugin's --browser parametrization, only `page`/`browser` do.
    launched = getattr(request.getfixturevalue("playwright"), journey_engine).launch(**JOURNEY_LAUNCH[journey_engine])

    def new_page() -> PlaywrightBrowser:
        context = launched.new_context(base_url=demo.spa, viewport=JOURNEY_VIEWPORT)  # type: ignore[arg-type]
        return PlaywrightBrowser(context.new_page(), journey_engine, launched.version, demo.spa)

    yield new_page
    launched.close()
    write_timings(Path(request.config.getoption("--output")))


@pytest.fixture
def browser_page(open_browser: Any, request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Iterator[Any]:
    """A fresh context/session per test; on failure a screenshot lands in test-results/ (--output)."""
    from drivers import record_journey, record_timing

    started = time.monotonic()
    browser = open_browser()
    record_timing(browser.engine, "session start", time.monotonic() - started)
    yield browser
    call = getattr(request.node, "rep_call", None)
    try:
        if call is None or call.failed:
            folder = Path(pytestconfig.getoption("--output")) / _slug(request.node.nodeid)
            folder.mkdir(parents=True, exist_ok=True)
            browser.screenshot(folder / "test-failed-1.png")
    finally:
        browser.close()
        if call is not None:
            params = request.node.callspec.params if hasattr(request.node, "callspec") else {}
            record_journey(request.function, params, browser, call)


@pytest.fixture(params=["py", "mpy"])
def runtime(request: pytest.FixtureRequest, browser_page: Any) -> str:
    """The SPA's Python runtime for the test: Pyodide ("py") and MicroPython ("mpy")."""
    browser_page.runtime = str(request.param)
    return str(browser_page.runtime)


def _slug(nodeid: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in nodeid).strip("-")[:200]


@pytest.fixture
def observe(browser_page: Any) -> Callable[..., None]:
    """Records a lab observation (e2e/lab.py) for this test's engine."""
    from lab import record

    def _observe(
        experiment: str,
        title: str,
        observed: str,
        expected: str,
        spec: str,
        passed: bool,
        recorded: bool = False,
        **table: str,
    ) -> None:
        """`recorded`: engine behaviour no spec pins down, shown as "recorded" in the report, not ✓.
        `table`: move=, architecture=, attacker= for the architectures table (lab.MOVES, lab.ARCHITECTURES)."""
        record(
            experiment,
            title,
            browser_page.engine,
            browser_page.version,
            observed,
            expected,
            spec,
            passed,
            recorded,
            **table,
        )

    return _observe
