"""The demo SPA's entry point: wires the page's events to spa.signin.SpaApp.

The flows live in the spalab_auth package (Auth); spa/ tells them on the timeline.
Errors from any step are caught here, in one place, and shown in the page.
"""

import asyncio

from pyscript import config, when

from spa import ui
from spa.signin import FLOW_NAMES, SpaApp
from spalab_auth import browser
from spalab_auth.core import OAuthClientError, TokenSet
from spalab_auth.explain import explain
from spalab_auth.runtime import pretty_json

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any, Awaitable, Callable
except ImportError:
    pass

browser.mark("spalab:imported")  # the app's modules and the package are loaded (bench/trace.py reads it)
settings = config.get("spalab", {})
app = SpaApp(settings)
auth = app.auth
STORAGE_NOTES = {
    "memory": "Tokens are kept in memory only: reloading the page signs you out.",
    "session": "Tokens are kept in this tab's sessionStorage: they survive a reload of this tab, "
    "and any script in the page can read them.",
    "shared": "Tokens are kept in memory and shared with this app's other tabs (BroadcastChannel): "
    "a new tab is signed in at once, and so is any script in the page that asks like one.",
}


def render() -> None:
    ui.timeline(app.narrator.timeline.steps)
    tokens, user = auth.tokens, auth.user
    if tokens is None or user is None:
        ui.signed_out(STORAGE_NOTES[auth.storage])
        return
    subject = str(user.claims.get("sub", "unknown"))
    who = str(user.claims.get("name", subject)) + " (" + subject + ")"
    shown = [("access_token", tokens.access_token)]
    if tokens.refresh_token:
        shown.append(("refresh_token", tokens.refresh_token))
    if tokens.id_token:
        shown.append(("id_token", tokens.id_token))
    ui.signed_in(
        who,
        FLOW_NAMES.get(auth.response_type, auth.response_type) + (" + DPoP" if tokens.token_type == "DPoP" else ""),
        tokens.scopes,
        expiry_text(tokens),
        shown,
        bool(tokens.refresh_token),
    )


def expiry_text(tokens: TokenSet) -> str:
    left = tokens.expires_in(browser.now())
    if left is None:
        return "unknown (no expires_in)"
    return "expired" if left <= 0 else "in " + str(left // 60) + " min " + str(left % 60) + " s"


async def guarded(action: "Callable[..., Awaitable[Any]]", *args: object) -> "Any":
    ui.message("")
    try:
        return await action(*args)
    except OAuthClientError as error:  # every failure of the package, the network's and the popup's too
        ui.message(explain(error))
    except Exception as error:  # noqa: BLE001 - last resort: a bug must show in the page, not only the console
        ui.message("Unexpected error in the app (" + type(error).__name__ + "). Details are in the browser console.")
        raise
    finally:
        render()
        booted()  # ready the moment the page shows where it stands, not after the server logs below
        # What the servers saw is read after the result is on screen, then the timeline is redrawn.
        if await app.load_server_views():
            ui.timeline(app.narrator.timeline.steps)
    return None


async def sign_in(response_type: str, response_mode: str) -> None:
    """Redirect sign-in, or popup sign-in (the package opens the popup first, while the click still counts)."""
    popup = ui.chosen("signin-window") == "popup"
    await app.sign_in(response_type, response_mode, popup, response_type == "code" and ui.checked("dpop"))


@when("click", "#signin-code")
async def sign_in_code(event: object) -> None:
    await guarded(sign_in, "code", ui.chosen("response-mode"))


@when("click", "#signin-implicit")
async def sign_in_implicit(event: object) -> None:
    await guarded(sign_in, ui.chosen("implicit-type"), "fragment")


@when("click", "#call-api")
async def call_api(event: object) -> None:
    data = await guarded(app.call_api)
    if data is not None:
        ui.api_result(pretty_json(data))


@when("click", "#refresh")
async def refresh(event: object) -> None:
    await guarded(app.refresh)


@when("click", "#sign-out")
async def sign_out(event: object) -> None:
    report = await guarded(app.sign_out)
    ui.api_result("")
    if report is not None:
        ui.message(report.message(), "info")


@when("click", "#tokens")
def reveal(event: "Any") -> None:
    if str(event.target.tagName) == "BUTTON":
        ui.toggle_reveal(event.target)


@when("change", "#token-storage")
def choose_storage(event: "Any") -> None:
    """Where the tokens are kept is fixed when the page starts: the choice is kept, the page reloads."""
    app.storage.set("storage", str(event.target.value))
    ui.reload()


@when("click", "#clear-timeline")
def clear_timeline(event: object) -> None:
    app.narrator.clear()
    render()


def on_session_change(event: "Any") -> None:
    """Signed out in another tab, or refreshed in the background: the page shows it at once."""
    if event.type in ("signed_out", "refreshed"):
        render()


_booted = []  # type: list[bool]


def booted() -> None:
    """The buttons work from here on (once per page load; the benchmark reads the mark). A page
    left before this point and brought back from the back/forward cache would otherwise wait
    for server-log fetches that navigation cut off."""
    if not _booted:
        _booted.append(True)
        ui.ready(True)
        browser.mark("spalab:ready")


async def boot() -> None:
    ui.popup_available(app.popup_available)
    ui.set_checked("dpop", auth.dpop)
    ui.set_chosen("token-storage", auth.storage)
    auth.on(on_session_change)
    await guarded(app.start)  # finishes a redirect sign-in that boot.js captured and scrubbed
    app.premark()  # signed out: where the servers' logs stand, read before the visitor clicks


asyncio.create_task(boot())
