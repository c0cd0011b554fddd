"""One small browser interface over Playwright and Selenium, so every journey
runs unchanged in Chromium, Firefox (Playwright) and WebKitGTK (Selenium).

Adapters implement a handful of primitives (goto, url, click, fill, is_visible,
text, evaluate, ...); the waits are written once, here, by polling those
primitives, so both drivers wait the same way and a test never sleeps.
"""

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from selenium.common.exceptions import (
    NoSuchElementException,
    NoSuchWindowException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

DEFAULT_TIMEOUT = 30.0
POLL = 0.1


class Browser:
    """A fresh browser context (Playwright) or session (Selenium) showing one tab."""

    engine = ""
    version = ""
    base_url = ""  # the SPA's origin: relative URLs in goto() are resolved against it
    runtime = "py"  # the SPA's Python runtime: "py" (Pyodide) or "mpy" (MicroPython)
    observed = ""  # what the journey saw, in a few words, for the lab report

    # --- primitives, one implementation per driver -----------------------------------

    def goto(self, url: str) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        raise NotImplementedError

    def click(self, css: str) -> None:
        raise NotImplementedError

    def click_button(self, name: str) -> None:
        """Clicks the button whose visible text is exactly `name`."""
        raise NotImplementedError

    def fill(self, css: str, text: str) -> None:
        raise NotImplementedError

    def is_visible(self, css: str) -> bool:
        raise NotImplementedError

    def is_enabled(self, css: str) -> bool:
        raise NotImplementedError

    def text(self, css: str) -> str:
        raise NotImplementedError

    def attr(self, css: str, name: str) -> str | None:
        raise NotImplementedError

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        raise NotImplementedError

    def reload(self) -> None:
        raise NotImplementedError

    def back(self) -> None:
        raise NotImplementedError

    def forward(self) -> None:
        raise NotImplementedError

    def evaluate_async(self, function: str, argument: Any = None) -> Any:
        """Awaits `function` (JavaScript source of an async function of one argument) in the page."""
        raise NotImplementedError

    def clear_cookies(self) -> None:
        """Forgets the cookies of the current page's site (Playwright: of every site)."""
        raise NotImplementedError

    def screenshot(self, path: Path) -> None:
        raise NotImplementedError

    @contextmanager
    def popup(self, opener_action: Callable[[], None]) -> Iterator[None]:
        """Runs `opener_action` (e.g. a click) that opens a popup, and drives the popup inside
        the block; afterwards the opener is driven again, whether or not the popup closed."""
        raise NotImplementedError
        yield

    def closed(self) -> bool:
        """Whether the window being driven has closed (a popup that closed itself)."""
        raise NotImplementedError

    def open_tab(self, url: str) -> Any:
        """Opens `url` in a new tab of the same context/session (same cookies and origin
        storage); returns a handle for in_tab(). The current tab stays the one acted on."""
        raise NotImplementedError

    @contextmanager
    def in_tab(self, handle: Any) -> Iterator[None]:
        """Acts on the tab `handle` inside the block, then on the current one again."""
        raise NotImplementedError
        yield

    def close_window(self) -> None:
        """Closes the window being driven, as a user closing a popup would."""
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        raise NotImplementedError

    # --- built on the primitives ------------------------------------------------------

    def check(self, css: str) -> None:
        """Selects a radio button or ticks a checkbox (a no-op when it already is)."""
        if not self.evaluate(f"document.querySelector({css!r})?.checked === true"):
            self.click(css)

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (WebDriverException, LookupError):
                pass  # the page is navigating or the element is not there yet
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.engine}: timed out after {timeout} s waiting for {what} (at {self.url})")
            self.pause(POLL)

    def wait_visible(self, css: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.wait_for(lambda: self.is_visible(css), f"{css} to be visible", timeout)

    def wait_hidden(self, css: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.wait_for(lambda: not self.is_visible(css), f"{css} to be hidden", timeout)

    def wait_enabled(self, css: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.wait_for(lambda: self.is_enabled(css), f"{css} to be enabled", timeout)

    def wait_text(self, css: str, part: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.wait_for(lambda: part in self.text(css), f"{css} to contain {part!r}", timeout)

    def wait_url(self, predicate: Callable[[str], bool], what: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.wait_for(lambda: predicate(self.url), f"the URL to be {what}", timeout)


class PlaywrightBrowser(Browser):
    def __init__(self, page: Page, engine: str, version: str, base_url: str) -> None:
        self.page, self.engine, self.version, self.base_url = page, engine, version, base_url
        page.set_default_timeout(DEFAULT_TIMEOUT * 1000)

    def goto(self, url: str) -> None:
        try:
            self.page.goto(url if "://" in url else self.base_url + url)
        except PlaywrightError as error:
            # Firefox over BiDi at times reports the server's own redirect (302 from /authorize
            # to /login) as a second navigation interrupting the first: the page still arrives.
            if "is interrupted by another navigation" not in str(error):
                raise
            self.page.wait_for_load_state()

    @property
    def url(self) -> str:
        return self.page.url

    def click(self, css: str) -> None:
        self.page.click(css)

    def click_button(self, name: str) -> None:
        self.page.get_by_role("button", name=name, exact=True).click()

    def fill(self, css: str, text: str) -> None:
        self.page.fill(css, text)

    def is_visible(self, css: str) -> bool:
        return self.page.is_visible(css)

    def is_enabled(self, css: str) -> bool:
        return self.page.locator(css).count() > 0 and self.page.is_enabled(css)

    def text(self, css: str) -> str:
        if self.page.locator(css).count() == 0:
            raise LookupError(css)
        return self.page.inner_text(css)

    def attr(self, css: str, name: str) -> str | None:
        return self.page.get_attribute(css, name)

    def evaluate(self, expression: str) -> Any:
        try:
            return self.page.evaluate(expression)
        except PlaywrightError as error:
            if "Execution context was destroyed" in str(error):  # as WebDriver's: wait_for retries it
                raise LookupError(f"{self.engine}: the page navigated during the script") from error
            raise

    def reload(self) -> None:
        self.page.reload()

    def back(self) -> None:
        self.page.go_back()

    def forward(self) -> None:
        self.page.go_forward()

    def evaluate_async(self, function: str, argument: Any = None) -> Any:
        return self.page.evaluate(function, argument)

    def clear_cookies(self) -> None:
        self.page.context.clear_cookies()

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=str(path), full_page=True)

    @contextmanager
    def popup(self, opener_action: Callable[[], None]) -> Iterator[None]:
        opener = self.page
        with opener.expect_popup() as info:
            opener_action()
        self.page = info.value
        self.page.set_default_timeout(DEFAULT_TIMEOUT * 1000)
        try:
            yield
        finally:
            self.page = opener

    def closed(self) -> bool:
        return self.page.is_closed()

    def open_tab(self, url: str) -> Any:
        page = self.page.context.new_page()
        page.set_default_timeout(DEFAULT_TIMEOUT * 1000)
        page.goto(url if "://" in url else self.base_url + url)
        return page

    @contextmanager
    def in_tab(self, handle: Any) -> Iterator[None]:
        current, self.page = self.page, handle
        try:
            yield
        finally:
            self.page = current

    def close_window(self) -> None:
        self.page.close()

    def close(self) -> None:
        self.page.context.close()

    def pause(self, seconds: float) -> None:
        # The sync API only takes in events (page.url, navigations) while inside a Playwright call.
        try:
            self.page.wait_for_timeout(seconds * 1000)
        except PlaywrightError:
            if not self.page.is_closed():
                raise  # anything but a popup that closed itself while we waited


class SeleniumBrowser(Browser):
    def __init__(self, driver: WebDriver, engine: str, base_url: str) -> None:
        self.driver, self.engine, self.base_url = driver, engine, base_url
        self.version = str(driver.capabilities.get("browserVersion", ""))

    def _find(self, css: str) -> WebElement:
        try:
            return self.driver.find_element(By.CSS_SELECTOR, css)
        except NoSuchElementException:
            raise LookupError(css) from None

    def _act(self, find: Callable[[], WebElement], what: str, action: Callable[[WebElement], None]) -> None:
        """WebDriver does not wait for actionability the way Playwright does: wait, then act."""
        found: list[WebElement] = []

        def ready() -> bool:
            found[:] = [find()]
            return found[0].is_displayed() and found[0].is_enabled()

        self.wait_for(ready, f"{what} to be visible and enabled")
        try:
            action(found[0])
        except StaleElementReferenceException:
            action(find())

    def goto(self, url: str) -> None:
        self.driver.get(url if "://" in url else self.base_url + url)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    def click(self, css: str) -> None:
        self._act(lambda: self._find(css), css, _click)

    def click_button(self, name: str) -> None:
        def find() -> WebElement:
            for element in self.driver.find_elements(By.TAG_NAME, "button"):
                if element.text.strip() == name:
                    return element
            raise LookupError(name)

        self._act(find, f"button {name!r}", _click)

    def fill(self, css: str, text: str) -> None:
        def type_in(element: WebElement) -> None:
            element.clear()
            element.send_keys(text)

        self._act(lambda: self._find(css), css, type_in)

    def is_visible(self, css: str) -> bool:
        elements = self.driver.find_elements(By.CSS_SELECTOR, css)
        return bool(elements) and elements[0].is_displayed()

    def is_enabled(self, css: str) -> bool:
        elements = self.driver.find_elements(By.CSS_SELECTOR, css)
        return bool(elements) and elements[0].is_enabled()

    def text(self, css: str) -> str:
        return str(self._find(css).text)

    def attr(self, css: str, name: str) -> str | None:
        value = self._find(css).get_attribute(name)
        return None if value is None else str(value)

    def evaluate(self, expression: str) -> Any:
        return self.driver.execute_script(f"return ({expression});")

    def reload(self) -> None:
        self.driver.refresh()

    def back(self) -> None:
        self.driver.back()

    def forward(self) -> None:
        self.driver.forward()

    def evaluate_async(self, function: str, argument: Any = None) -> Any:
        script = (
            "const done = arguments[arguments.length - 1];"
            f"({function})(arguments[0]).then(done, e => done({{error: String(e)}}));"
        )
        return self.driver.execute_async_script(script, argument)

    def clear_cookies(self) -> None:
        self.driver.delete_all_cookies()

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))

    @contextmanager
    def popup(self, opener_action: Callable[[], None]) -> Iterator[None]:
        opener = self.driver.current_window_handle
        before = set(self.driver.window_handles)
        opener_action()
        new: list[str] = []

        def opened() -> bool:
            new[:] = [h for h in self.driver.window_handles if h not in before]
            return bool(new)

        self.wait_for(opened, "a popup window")
        self.driver.switch_to.window(new[0])
        try:
            yield
        finally:
            self.driver.switch_to.window(opener)

    def open_tab(self, url: str) -> Any:
        current = self.driver.current_window_handle
        self.driver.switch_to.new_window("tab")
        handle = self.driver.current_window_handle
        self.goto(url)
        self.driver.switch_to.window(current)
        return handle

    @contextmanager
    def in_tab(self, handle: Any) -> Iterator[None]:
        current = self.driver.current_window_handle
        self.driver.switch_to.window(handle)
        try:
            yield
        finally:
            self.driver.switch_to.window(current)

    def closed(self) -> bool:
        try:
            return self.driver.current_window_handle not in self.driver.window_handles
        except NoSuchWindowException:
            return True

    def close_window(self) -> None:
        self.driver.close()

    def close(self) -> None:
        self.driver.quit()


def _click(element: WebElement) -> None:
    try:
        element.click()
    except NoSuchWindowException:
        pass  # the click closed this window: a popup that finished its job


# --- what the journeys measured, and the journeys × engines matrix in the lab report -----

TIMINGS: dict[str, dict[str, list[float]]] = {}


def record_timing(engine: str, what: str, seconds: float) -> None:
    TIMINGS.setdefault(engine, {}).setdefault(what, []).append(round(seconds, 2))


def write_timings(out_dir: Path) -> None:
    """test-results/journey-timings.json: every session start and Pyodide boot, per engine."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        engine: {
            what: {"n": len(v), "median": sorted(v)[len(v) // 2], "min": min(v), "max": max(v)}
            for what, v in kinds.items()
        }
        for engine, kinds in TIMINGS.items()
    }
    (out_dir / "journey-timings.json").write_text(json.dumps({"summary": summary, "all": TIMINGS}, indent=2))


class Journey:
    """What a journey test promises, for the lab report's journeys × engines rows."""

    def __init__(self, name: str, title: str, expected: str, spec: str) -> None:
        self.name, self.title, self.expected, self.spec = name, title, expected, spec


def journey(name: str, title: str, expected: str, spec: str) -> Callable[[Any], Any]:
    def mark(test: Any) -> Any:
        test.journey = Journey(name, title, expected, spec)
        return test

    return mark


def record_journey(test: Any, params: dict[str, Any], browser: Browser, call: Any) -> None:
    """Records the test's outcome as lab observation "J:<name>" for this engine;
    name and title may use the test's parameters ("sign-in {flow}")."""
    from lab import record

    meta = getattr(test, "journey", None)
    if meta is None or call.skipped:
        return
    if call.passed:
        observed = browser.observed or "as expected"
    else:
        crash = getattr(call.longrepr, "reprcrash", None)
        first_line = (crash.message if crash else str(call.longrepr)).strip().splitlines()[0]
        observed = "failed: " + first_line[:200]
    name, title = meta.name.format(**params), meta.title.format(**params)
    if params.get("runtime") == "mpy":
        name, title = name + " [mpy]", title + " — MicroPython"
    record(f"J:{name}", title, browser.engine, browser.version, observed, meta.expected, meta.spec, call.passed)
