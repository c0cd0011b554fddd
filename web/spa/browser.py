"""The browser's I/O for the client core: fetch, randomness, clock, storage and
WebCrypto signature checks. The only module of the SPA (with main.py and ui.py)
that touches `js` — everything here is a thin wrapper, no OAuth logic.
"""

import json
import time

import js

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

from oauth_client import HttpRequest, HttpResponse, SignatureInput

from .runtime import JsException, bytes_from_js, bytes_to_js, js_object


class NetworkError(Exception):
    """fetch failed: the server is down, unreachable, or CORS refused the response."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class PopupError(Exception):
    """The popup sign-in could not finish: "blocked" (never opened) or "closed" (by the user)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.popup_reason = reason


async def send(request: HttpRequest) -> HttpResponse:
    """Sends an HttpRequest built by the core, with CORS and no cookies or Referer."""
    options = {
        "method": request.method,
        "headers": request.headers,
        "mode": "cors",
        "credentials": "omit",
        "cache": "no-store",
        "referrerPolicy": "no-referrer",
    }
    if request.body is not None:
        options["body"] = request.body
    try:
        response = await js.fetch(request.url, js_object(options))
        body = await response.text()
    except JsException:
        raise NetworkError(request.url) from None
    headers = {}
    for pair in response.headers.entries():
        headers[str(pair[0])] = str(pair[1])
    return HttpResponse(int(response.status), headers, str(body))


async def get_json(url: str) -> object:
    """A plain GET for the demo's request logs (not part of the OAuth flow)."""
    try:
        response = await js.fetch(url, js_object({"mode": "cors", "credentials": "omit", "cache": "no-store"}))
        if not response.ok:
            return None
        text = await response.text()
    except JsException:
        return None
    try:
        return json.loads(str(text))
    except ValueError:
        return None


def random_bytes(count: int) -> bytes:
    """crypto.getRandomValues: the browser's CSPRNG."""
    array = js.Uint8Array.new(count)
    js.crypto.getRandomValues(array)
    return bytes_from_js(array)


def now() -> float:
    """Seconds since the epoch. Not Date.now(): MicroPython hands a JS integer over
    through 32 bits, so its 1.8e12 ms arrive wrapped (measured: -45081776).
    time.time() reads the same browser clock on both interpreters."""
    return time.time()


_IMPORT = {
    "RS256": {"name": "RSASSA-PKCS1-v1_5", "hash": "SHA-256"},
    "PS256": {"name": "RSA-PSS", "hash": "SHA-256"},
    "ES256": {"name": "ECDSA", "namedCurve": "P-256"},
}
_VERIFY = {
    "RS256": {"name": "RSASSA-PKCS1-v1_5"},
    "PS256": {"name": "RSA-PSS", "saltLength": 32},
    "ES256": {"name": "ECDSA", "hash": "SHA-256"},
}


async def webcrypto_verify(item: SignatureInput) -> bool:
    """The public-key math the core leaves to the platform (RFC 7515 §5.2)."""
    try:
        key = await js.crypto.subtle.importKey(
            "jwk", js_object(item.jwk), js_object(_IMPORT[item.alg]), False, js_object(["verify"])
        )
        ok = await js.crypto.subtle.verify(
            js_object(_VERIFY[item.alg]), key, bytes_to_js(item.signature), bytes_to_js(item.signing_input)
        )
    except JsException:
        return False
    return bool(ok)


class Storage:
    """sessionStorage under one prefix; never localStorage (docs/SECURITY.md C7)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def get(self, key: str) -> "str | None":
        value = js.sessionStorage.getItem(self.prefix + key)
        # A missing key is JS null: Pyodide 314 hands it over as jsnull, MicroPython as None.
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str) -> None:
        js.sessionStorage.setItem(self.prefix + key, value)

    def remove(self, key: str) -> None:
        js.sessionStorage.removeItem(self.prefix + key)

    def keys(self) -> "list[str]":
        found = []
        for index in range(js.sessionStorage.length):
            name = str(js.sessionStorage.key(index))
            if name.startswith(self.prefix):
                found.append(name[len(self.prefix) :])
        return found


def take_callback_url() -> "str | None":
    """The redirect callback boot.js captured (and scrubbed from the address bar) before
    the interpreter started; None when this page load carried no authorization response.
    Taking it forgets it, so it is read once."""
    url = js.window.spalabTakeCallback()
    return url if isinstance(url, str) else None


def open_popup() -> "Any":
    """Opens the sign-in popup (web/popup.js) at once, while the click still counts as a user gesture."""
    popup = js.window.spalabPopup.open()
    if popup.blocked:
        raise PopupError("blocked")
    return popup


def popup_navigate(popup: "Any", url: str) -> None:
    popup.navigate(url)


async def popup_callback(popup: "Any") -> str:
    """Waits for popup-callback.html to hand back its URL (PopupError if the popup closes first)."""
    try:
        return str(await popup.wait())
    except JsException:
        raise PopupError("closed") from None


def mark(name: str) -> None:
    """A performance mark (the benchmark reads "spalab:ready" to time boot)."""
    js.performance.mark(name)


def navigate(url: str) -> None:
    js.window.location.assign(url)
