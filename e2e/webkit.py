"""WebKit through WebKitGTK's WebDriver (DESIGN.md "Facts measured"): MiniBrowser
in automation mode under a private Xvfb display, since its --headless hangs.

Each Selenium session launches its own MiniBrowser with ephemeral website data:
a fresh session is a fresh context (no cookies, no storage).
"""

import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.webkitgtk.options import Options
from selenium.webdriver.webkitgtk.service import Service

MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
WEBDRIVER = "/usr/bin/WebKitWebDriver"
SCREEN = "1280x900x24"


@contextmanager
def xvfb_display() -> Iterator[str]:
    """Starts Xvfb on a display number it picks itself (-displayfd), so parallel runs never collide."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", SCREEN, "-nolisten", "tcp"],
        pass_fds=[write_end],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        number = b""
        while not number.endswith(b"\n"):
            chunk = os.read(read_end, 16)
            if not chunk:
                raise RuntimeError("Xvfb exited before reporting its display")
            number += chunk
        yield ":" + number.decode().strip()
    finally:
        os.close(read_end)
        process.terminate()
        process.wait(timeout=10)


# Starting a session once hung for the whole test timeout on a loaded machine (the client
# waits on its socket with no deadline): a start that takes longer is abandoned and retried.
START_SECONDS = 90
START_ATTEMPTS = 2


def new_driver(display: str) -> webdriver.WebKitGTK:
    for _ in range(START_ATTEMPTS):
        service = Service(WEBDRIVER, env={**os.environ, "DISPLAY": display})
        started: list[webdriver.WebKitGTK] = []
        thread = threading.Thread(target=_start, args=(service, started), daemon=True)
        thread.start()
        thread.join(START_SECONDS)
        if started:
            return started[0]
        service.stop()  # ends WebKitWebDriver (and its MiniBrowser): the stuck call returns
    raise RuntimeError(f"WebKitWebDriver did not start a session in {START_ATTEMPTS} tries of {START_SECONDS} s")


def _start(service: Service, started: list[webdriver.WebKitGTK]) -> None:
    options = Options()
    options.binary_location = MINIBROWSER
    options.add_argument("--automation")
    driver = webdriver.WebKitGTK(options=options, service=service)
    driver.set_window_size(1100, 900)
    # A page or script that never finishes fails its test instead of holding the session.
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    started.append(driver)
