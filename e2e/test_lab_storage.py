"""The lab, E14: what a script injected into the page can take under each way of holding tokens
(draft-ietf-oauth-browser-based-apps §5.1), in each engine.

The pages are the example app (the spalab-auth package) with one storage choice each, and the
oidc-client-ts baseline, every one carrying a deliberately injected script, /lab/attacker.js
(server/spalab/host/lab_storage.py; the same pages are the demo's live Lab). After the user has
signed in, the script tries each move: read the access and the refresh token (web storage,
IndexedDB, the page's globals and any interpreter memory they expose, the package's tab channel,
and the app's own traffic through a fetch wrapper that answers one API call with a fake 401 so
that the app refreshes in front of it), make an API request of its own with the page's
credentials, and run a flow of its own (code + PKCE, prompt=none, the app's client_id and
redirect URI). "Elsewhere" is this test process: an attacker's machine with what the script sent.

Each outcome is asserted against what docs/SECURITY.md says of that way of holding tokens: a
change in either (a defence that stops holding, or an attack that stops working) fails here.
"""

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from drivers import Browser
from harness import Demo
from spa_page import BOOT_TIMEOUT, authenticate
from test_package import SHORT_LIFETIME, last_seq, names, provider_saw, short_lived, sign_in

__all__ = ["short_lived"]  # the fixture, for pytest
pytestmark = pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")
Observe = Callable[..., None]

# test id → (page, the architectures table's column; a column's two runtimes share a cell)
PAGES = {
    "memory-pyodide": ("/lab/storage/memory/", "memory (Pyodide)"),
    "memory-micropython": ("/lab/storage/memory/mpy.html", "memory (MicroPython)"),
    "session-pyodide": ("/lab/storage/session/", "sessionStorage"),
    "session-micropython": ("/lab/storage/session/mpy.html", "sessionStorage"),
    "shared-pyodide": ("/lab/storage/shared/", "shared (BroadcastChannel)"),
    "shared-micropython": ("/lab/storage/shared/mpy.html", "shared (BroadcastChannel)"),
    "dpop-pyodide": ("/lab/storage/dpop/", "DPoP (non-extractable key)"),
    "dpop-micropython": ("/lab/storage/dpop/mpy.html", "DPoP (non-extractable key)"),
    "worker-pyodide": ("/lab/storage/worker/", "Web Worker"),
    "worker-micropython": ("/lab/storage/worker/mpy.html", "Web Worker"),
    "baseline": ("/lab/storage/baseline/", "JS closure (baseline)"),
}

S, X = "succeeded", "stopped"
# What docs/SECURITY.md ("A script in the page") says each move achieves; moves in lab.MOVES order:
# read the access token, read the refresh token, use a stolen token elsewhere, a flow of its own, proxy.
EXPECTED = {
    "memory (Pyodide)": (S, S, S, S, S),
    "memory (MicroPython)": (S, S, S, S, S),
    "sessionStorage": (S, S, S, S, S),
    "shared (BroadcastChannel)": (S, S, S, S, S),
    # The key signs for the script while the page is open (E11), but nothing taken away works.
    "DPoP (non-extractable key)": (S, S, X, S, S),
    # oidc-client-ts keeps the refresh token in a closure and does not refresh on a 401: a late
    # script sees only what the app sends (its next renewal, ~1 min before expiry, would pass the wrapper).
    "JS closure (baseline)": (S, X, S, S, S),
    # The tokens never reach the page (docs/SECURITY.md C12): nothing to read or take away; the
    # script still reaches the worker (wrapping postMessage) and has it call the API.
    "Web Worker": (X, X, X, S, S),
}
MOVES = (
    "read the access token",
    "read the refresh token",
    "use a stolen token elsewhere",
    "start a fresh flow of its own",
    "proxy an API call through the page",
)
SPEC = "draft-ietf-oauth-browser-based-apps §5.1; docs/SECURITY.md, accepted risks: a script in the page"


def sign_in_baseline(browser: Browser, url: str) -> None:
    browser.goto(url)
    browser.wait_enabled("#signin", BOOT_TIMEOUT)
    browser.click("#signin")
    browser.wait_visible("#username")
    authenticate(browser)
    browser.wait_text("#who", "Signed in", BOOT_TIMEOUT)


def note(browser: Browser, key: str) -> Any:
    """The attacker's note in sessionStorage (None while absent, or while the page is navigating)."""
    try:
        text = browser.evaluate(f"sessionStorage.getItem('spalab-lab:attacker:{key}')")
    except Exception:  # noqa: BLE001 - an evaluate during a navigation, in any driver
        return None
    return json.loads(text) if text else None


def attack(browser: Browser) -> dict[str, Any]:
    """Runs the injected script's moves in the page; its report (a scan of a MicroPython heap takes a
    while in WebKit, past WebDriver's script timeout, so it is read back from the script's note)."""
    browser.evaluate("void window.__spalabAttacker.start()")
    try:
        browser.wait_for(lambda: note(browser, "run") is not None, "the injected script's report", 90)
    except AssertionError as error:
        raise AssertionError(f"{error}; phases done (ms): {note(browser, 'progress')}") from None
    report: dict[str, Any] = note(browser, "run")
    assert "error" not in report, report
    return report


def elsewhere(url: str, scheme: str, token: str) -> int:
    return httpx.get(url, headers={"Authorization": f"{scheme} {token}"}, timeout=10).status_code


@pytest.mark.parametrize("variant", list(PAGES))
def test_what_an_injected_script_takes(browser_page: Browser, demo: Demo, observe: Observe, variant: str) -> None:
    path, architecture = PAGES[variant]
    url = demo.spa + path
    if variant == "baseline":
        sign_in_baseline(browser_page, url)
    else:
        sign_in(browser_page, url)

    report = attack(browser_page)
    where = report["where"]
    access, refresh, proxy = report["access_token"], report["refresh_token"], report["proxy"]
    api = report["proxy"]["url"]
    used = elsewhere(api, report["scheme"], access) if access else None  # None: nothing to use

    # A flow of its own: the page leaves for /authorize and comes back; the script redeems the code.
    browser_page.evaluate("void window.__spalabAttacker.startFlow()")
    browser_page.wait_for(lambda: note(browser_page, "flow-result") is not None, "the attacker's own flow")
    flow = note(browser_page, "flow-result")
    own = elsewhere(api, "Bearer", flow["access_token"]) if flow.get("access_token") else None

    interpreter = (
        f"interpreter memory exposed: {', '.join(report['heaps'])}"
        if report["heaps"]
        else f"no interpreter reachable from window ({len(report['globals'])} non-standard globals)"
    )
    results = {
        "read the access token": (
            S if access else X,
            f"from: {'; '.join(where['access_token']) or 'nowhere'} ({interpreter}; "
            f"the script's phases in ms: {report.get('ms')})",
        ),
        "read the refresh token": (
            S if refresh else X,
            f"from: {'; '.join(where['refresh_token']) or 'nowhere'}"
            + (f" (the fake 401 made the app refresh: {report['traffic']['token_answers']} token answer seen)")
            * bool(report["traffic"]["faked"] and report["traffic"]["token_answers"]),
        ),
        "use a stolen token elsewhere": (
            S if used == 200 else X,
            f"the {report['scheme']} access token sent from outside the browser → {used}"
            if access
            else "nothing to send: the script read no token",
        ),
        "start a fresh flow of its own": (
            S if own == 200 else X,
            f"prompt=none with the app's client_id: back in {flow.get('ms_to_callback')} ms, "
            f"code redeemed → {flow.get('status')} {flow.get('token_type') or flow.get('error')}; "
            f"its token at the API → {own}",
        ),
        "proxy an API call through the page": (
            S if proxy["status"] == 200 else X,
            f"{proxy.get('how', '')}: GET {api.rsplit('/', 1)[-1]} → {proxy['status']}",
        ),
    }
    failures = []
    for move, expected in zip(MOVES, EXPECTED[architecture], strict=True):
        result, observed = results[move]
        runtime = " (MicroPython)" if path.endswith("mpy.html") and "MicroPython" not in architecture else ""
        observe(
            "E14",
            f"{architecture}{runtime}: {move}",
            f"{result}: {observed}",
            f"the attacker's move {'succeeds' if expected == S else 'is stopped'} "
            f"({'the threat model accepts it' if expected == S else 'a defence'})",
            SPEC,
            result == expected,
            move=move,
            architecture=architecture,
            attacker=result,
        )
        if result != expected:
            failures.append(f"{move}: {result}, expected {expected} ({observed})")
    assert not failures, failures


# --- E17: a stolen refresh token against rotation with reuse detection ----------------------------


def refresh_elsewhere(demo: Demo, refresh_token: str) -> tuple[int, dict[str, Any]]:
    grant = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "spa-demo"}
    response = httpx.post(demo.issuer + "/token", data=grant, timeout=10)
    return response.status_code, response.json()


def app_refreshes(demo: Demo, since: int) -> list[dict[str, Any]]:
    """Refresh grants after `since`, from the provider's request log (the attacker's from this process too)."""
    return [e for e in provider_saw(demo, "/token", since) if names(e, "form").get("grant_type") == "refresh_token"]


@pytest.mark.parametrize("order", ["attacker first", "app first"])
def test_a_stolen_refresh_token_is_caught_by_rotation(
    browser_page: Browser, short_lived: Demo, observe: Observe, order: str
) -> None:
    """The app (tokens in memory, Pyodide) refreshes every SHORT_LIFETIME / 2 s; the injected script
    has just copied its newest refresh token. Whoever presents it second presents a spent token: the
    provider revokes the whole family, for both (RFC 9700 §4.14.2)."""
    browser_page.base_url = short_lived.spa  # authenticate() knows the app by its origin
    sign_in(browser_page, short_lived.spa + PAGES["memory-pyodide"][0])
    stolen = attack(browser_page)["refresh_token"]
    theft, before = time.monotonic(), last_seq(short_lived)
    api = short_lived.issuer + "/api/me"

    def app_refresh() -> dict[str, Any] | None:
        theirs = [e for e in app_refreshes(short_lived, before) if e["status"] != 200 or order == "app first"]
        return theirs[0] if theirs else None

    if order == "attacker first":
        first_status, first = refresh_elsewhere(short_lived, stolen)
        attacker_tokens = (first.get("access_token", ""), first.get("refresh_token", ""))
        # The app's next scheduled refresh presents the token the attacker has just spent.
        browser_page.wait_for(lambda: app_refresh() is not None, "the app's next refresh", 2 * SHORT_LIFETIME)
        caught = app_refresh()
        assert caught is not None
        detected = time.monotonic() - theft
        steps = (
            f"the attacker refreshes at once → {first_status}; "
            f"the app's next refresh {detected:.1f} s after the theft → {caught['status']}"
        )
    else:
        browser_page.wait_for(lambda: app_refresh() is not None, "the app's next refresh", 2 * SHORT_LIFETIME)
        app_done = app_refresh()
        assert app_done is not None
        first_status, first = refresh_elsewhere(short_lived, stolen)
        attacker_tokens = ("", "")
        detected = time.monotonic() - theft
        steps = (
            f"the app refreshes first → {app_done['status']}; "
            f"the attacker's refresh {detected:.1f} s after the theft → {first_status} {first.get('error', '')}"
        )
    # The app finds out at its next refresh at the latest: signed out, and the user is told.
    browser_page.wait_visible("#sign-in", 2 * SHORT_LIFETIME)
    shown = browser_page.text("#out")
    attacker_refresh = refresh_elsewhere(short_lived, attacker_tokens[1])[0] if attacker_tokens[1] else None
    attacker_api = elsewhere(api, "Bearer", attacker_tokens[0]) if attacker_tokens[0] else None
    observed = f"{steps}; then the app signed out (showing {shown[:90]!r})" + (
        f"; the attacker's new refresh token → {attacker_refresh}, its access token → {attacker_api}"
        if attacker_tokens[0]
        else ""
    )
    both_lose = "session has ended" in shown and (
        (first_status == 200 and attacker_refresh == 400 and attacker_api == 401)
        if order == "attacker first"
        else first_status == 400 and first.get("error") == "invalid_grant"
    )
    observe(
        "E17",
        f"A stolen refresh token, {order}",
        observed,
        "the second presentation of a refresh token is reuse: the provider revokes the family, and the app and "
        "the attacker both lose their tokens; the attacker's window closes at the app's next refresh",
        "RFC 9700 §4.14.2; OAuth 2.1 §4.3.1; docs/SECURITY.md P12",
        both_lose,
    )
    assert both_lose, observed
