"""Pyodide pages restore the host's memory snapshot (issue 15; server/spalab/host/snapshot.py), in
Chromium, Firefox and WebKitGTK: that they do from the second visit on, that each visit still draws its
own random numbers, that a script in the page cannot leave a snapshot of its own for the next visit, and
that a snapshot which cannot be restored costs only the time, not the page."""

import functools
import json
from typing import Any

import pytest
from bench.browser import SNAPSHOT_CACHED
from drivers import Browser, PlaywrightBrowser, journey
from harness import Demo
from playwright.sync_api import Route
from spa_page import BOOT_TIMEOUT, open_app, sign_in

pytestmark = pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")

RESTORED = "spalab:pyodide-restored"  # the loader's mark (server/spalab/host/static/pyodide-loader.mjs)


def marks(browser: Browser) -> list[str]:
    return list(browser.evaluate("performance.getEntriesByType('mark').map((mark) => mark.name)"))


def snapshot_fetches(browser: Browser) -> list[str]:
    return [
        url
        for url in browser.evaluate("performance.getEntriesByType('resource').map((entry) => entry.name)")
        if "/pyodide-snapshot?" in url
    ]


def run_python(browser: Browser, code: str) -> str:
    """Runs `code` in the page's interpreter, as PyScript runs a <script type="py"> added to the page,
    and returns what it left in `result`."""
    script = f"import js\n{code}\njs.document.documentElement.dataset.pythonResult = str(result)\n"
    browser.evaluate(f"""(() => {{
        delete document.documentElement.dataset.pythonResult;
        const script = document.createElement("script");
        script.type = "py";
        script.textContent = {json.dumps(script)};
        document.body.append(script);
    }})()""")
    browser.wait_for(
        lambda: browser.evaluate("document.documentElement.dataset.pythonResult !== undefined"),
        "the page's Python to run",
        BOOT_TIMEOUT,
    )
    return str(browser.evaluate("document.documentElement.dataset.pythonResult"))


def wait_for_the_download(browser: Browser) -> None:
    """A first visit starts Pyodide as before and downloads the snapshot once idle, for the next visit:
    waits until the HTTP cache holds it (as the loader asks: "only-if-cached"), as the benchmark does."""
    browser.wait_for(lambda: browser.evaluate_async(SNAPSHOT_CACHED), "the snapshot in the HTTP cache", BOOT_TIMEOUT)


@journey(
    "pyodide-snapshot",
    "Pyodide restored from the host's snapshot",
    "a first visit starts Pyodide and downloads the snapshot; later ones restore it, each with its own random numbers",
    "issue 15; docs/SECURITY.md H8",
)
def test_later_visits_restore_the_hosts_snapshot_and_each_draws_its_own_numbers(
    browser_page: Browser, demo: Demo
) -> None:
    """A first visit starts the interpreter (no 5 MB more before the page is usable) and then downloads
    the host's snapshot; the next visits restore it from the HTTP cache, and the random module is reseeded
    after each restore: two visits restoring one snapshot draw different numbers (without the reseed both
    would draw the number the host's interpreter would have drawn next)."""
    open_app(browser_page)
    if browser_page.engine != "webkit":  # WebKitGTK's WebDriver sessions share one HTTP cache
        assert RESTORED not in marks(browser_page), marks(browser_page)
    wait_for_the_download(browser_page)
    draws = []
    for _ in range(2):
        open_app(browser_page)
        assert RESTORED in marks(browser_page), marks(browser_page)
        draws.append(run_python(browser_page, "import random\nresult = random.random()"))
    assert draws[0] != draws[1], draws
    browser_page.observed = "started, then restored on two visits; two different random draws"


def test_a_script_in_the_page_cannot_leave_a_snapshot_for_the_next_visit(browser_page: Browser, demo: Demo) -> None:
    """A snapshot is the interpreter's code and memory; the one the page restores comes from the host,
    through the HTTP cache. A script in the page stores its own bytes wherever a page could keep one (the
    Cache API under the snapshot's URL, IndexedDB, localStorage): the next visit still restores the host's
    snapshot, and signs in. (The experiment that kept a snapshot in the Cache API ran such a script's
    Python on every later visit: README, "A memory snapshot of Pyodide".)"""
    open_app(browser_page)
    wait_for_the_download(browser_page)
    url = snapshot_fetches(browser_page)[0]
    browser_page.evaluate_async(
        """async (url) => {
            const forged = new Uint8Array(1 << 16).fill(0x41);
            for (const name of ["spalab-pyodide-snapshot", "pyodide", "default"]) {
                const cache = await caches.open(name);
                await cache.put(url, new Response(forged));
                await cache.put(new URL(url).pathname, new Response(forged));
            }
            localStorage.setItem("spalab:pyodide-snapshot", "forged");
            await new Promise((done, failed) => {
                const opened = indexedDB.open("spalab-pyodide-snapshot", 1);
                opened.onupgradeneeded = () => opened.result.createObjectStore("snapshots");
                opened.onerror = () => failed(opened.error);
                opened.onsuccess = () => {
                    const write = opened.result.transaction("snapshots", "readwrite");
                    write.objectStore("snapshots").put(forged, url);
                    write.oncomplete = () => { opened.result.close(); done(); };
                    write.onerror = () => failed(write.error);
                };
            });
        }""",
        url,
    )
    sign_in(browser_page)
    assert RESTORED in marks(browser_page), marks(browser_page)


def test_a_script_in_the_page_cannot_register_a_service_worker(browser_page: Browser, demo: Demo) -> None:
    """docs/SECURITY.md H9: a service worker is the other way a script could outlast its page and answer
    later visits (the snapshot's download among them). The host serves no script as one: the Pyodide
    loader, a module that evaluates in a service worker's scope and sits at the root, registers for the
    whole origin without that refusal (checked in Chromium and Firefox), and is refused with it."""
    open_app(browser_page)
    outcome = browser_page.evaluate_async(
        """async () => {
            const loader = performance.getEntriesByType("resource").map((entry) => entry.name)
                .find((name) => name.includes("/pyodide-loader.mjs"));
            try {
                const registration = await navigator.serviceWorker.register(loader, {type: "module"});
                await registration.unregister();
                return "registered for " + registration.scope;
            } catch (error) {
                return "refused: " + error;
            }
        }"""
    )
    assert str(outcome).startswith("refused"), outcome
    browser_page.observed = str(outcome)[:120]


def answer_with(answer: dict[str, Any], route: Route) -> None:
    route.fulfill(**answer)


BROKEN = {"missing": {"status": 404, "body": "no"}, "foreign": {"status": 200, "body": b"\x00snp" + bytes(4096)}}


@pytest.mark.engines("chromium", "firefox")
@pytest.mark.parametrize("kind", BROKEN)
def test_a_snapshot_that_cannot_be_restored_leaves_a_working_page(browser_page: Browser, demo: Demo, kind: str) -> None:
    """A snapshot that is missing or is not this Pyodide's (another build, cut short) makes the loader
    start Pyodide as before: the page signs in, only later. The answer is replaced in the browser
    (Playwright's routing, which also answers the loader's "only-if-cached" request, as the HTTP cache
    would; WebKitGTK's WebDriver has none)."""
    assert isinstance(browser_page, PlaywrightBrowser)
    browser_page.page.route("**/pyodide-snapshot?*", functools.partial(answer_with, BROKEN[kind]))
    sign_in(browser_page)
    assert RESTORED not in marks(browser_page)
    assert snapshot_fetches(browser_page)


# What a page's Python reports about spalab_auth's modules: each one's compiled file, read where the import
# system looks for it (its header's flags: 1 = the host's unchecked-hash .pyc; an import that compiles the
# source writes a timestamp-based one, 0, in its place), and where its code says it comes from.
BYTECODE_REPORT = """
import importlib.util, json, sys
flags, files = set(), set()
for name, module in list(sys.modules.items()):
    if name.startswith("spalab_auth") and getattr(module, "__file__", None):
        try:
            with open(importlib.util.cache_from_source(module.__file__), "rb") as pyc:
                flags.add(int.from_bytes(pyc.read(8)[4:], "little"))
        except OSError:
            flags.add(-1)  # none: compiled in the page and not written
        files.add(module.__file__ == module.__spec__.origin and module.__file__.startswith(sys.prefix))
import spalab_auth.core.pkce as pkce
result = json.dumps([sorted(flags), sorted(files), pkce.code_challenge_s256.__code__.co_filename == pkce.__file__])
"""


@journey(
    "pyodide-bytecode",
    "spalab-auth imported from the host's bytecode",
    "every module of the package is imported from the .pyc the host compiled, not compiled in the page",
    "issue 15",
)
def test_the_package_is_imported_from_the_hosts_bytecode(browser_page: Browser, demo: Demo) -> None:
    """The Pyodide page installs the wheel the host compiled for the pinned Pyodide (host/bytecode.py) and
    imports each of the package's modules from its .pyc, whose code names the module's installed path (a
    traceback reads as without it)."""
    open_app(browser_page)
    flags, files, named = json.loads(run_python(browser_page, BYTECODE_REPORT))
    assert flags == [1] and files == [True] and named, (flags, files, named)
    browser_page.observed = "every spalab_auth module from the host's .pyc"
