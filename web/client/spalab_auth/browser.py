"""The browser's I/O for the client core: fetch, randomness, clock, storage, WebCrypto
signature checks, the address bar, Web Locks and BroadcastChannel. Thin wrappers, no
OAuth logic; with runtime.py, the only modules of the package that touch `js`.
"""

import json
import time

import js

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

from .core import (
    ConfigurationError,
    HttpRequest,
    HttpResponse,
    OAuthClientError,
    SignatureInput,
    find_callback_states,
)
from .runtime import JsException, bytes_from_js, bytes_to_js, create_proxy, js_object


class NetworkError(OAuthClientError):
    """fetch failed: the server is down, unreachable, or CORS refused the response."""

    code = "network_error"

    def __init__(self, url: str) -> None:
        super().__init__("could not reach " + url, reason="unreachable")
        self.url = url


class PopupError(OAuthClientError):
    """The popup sign-in could not finish. reason: "blocked" (never opened), "closed" (by the visitor),
    "unanswered" (the provider cut the link to the popup with Cross-Origin-Opener-Policy, and no answer
    came while the sign-in could still finish) or "superseded" (a newer sign-in took its place)."""

    code = "popup_error"

    def __init__(self, reason: str) -> None:
        super().__init__("popup " + reason, reason=reason)
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


def open_popup() -> "Any":
    """Opens the sign-in popup (the package's popup.js) at once, while the click still counts as a user
    gesture. ConfigurationError (reason "no_popup_script") when the page has not loaded popup.js."""
    plumbing = getattr(js.window, "spalabPopup", None)
    if plumbing is None:
        raise ConfigurationError("popup sign-in needs the package's popup.js on the page", reason="no_popup_script")
    popup = plumbing.open()
    if popup.blocked:
        raise PopupError("blocked")
    return popup


def popup_navigate(popup: "Any", url: str) -> None:
    popup.navigate(url)


async def popup_callback(popup: "Any") -> str:
    """Waits for popup-callback.html to hand back its URL (PopupError if it cannot come: popup.js says why)."""
    try:
        return str(await popup.wait())
    except JsException:
        reason = str(popup.outcome or "")
        raise PopupError(reason if reason in ("unanswered", "superseded") else "closed") from None


def mark(name: str) -> None:
    """A performance mark (the benchmark reads "spalab:ready" to time boot)."""
    js.performance.mark(name)


def navigate(url: str) -> None:
    js.window.location.assign(url)


# --- the address bar ------------------------------------------------------------------

# Where Auth keeps its transactions: sessionStorage keys "spalab_auth:<client_id>:tx:<state>".
TRANSACTIONS = "spalab_auth:"
_captured = []  # type: list[str]


def capture_callback() -> None:  # docs/SECURITY.md C15
    """Takes an authorization response out of the address bar at once (history.replaceState),
    so the code or tokens do not sit there while the app starts; take_callback_url() hands
    it over. Runs when the package is imported. Only a response to a sign-in this tab started
    is taken (its state names a pending transaction): an app's own ?state=…&code=… and a
    link someone else crafted stay where they are. A page with an earlier scrub script
    (window.spalabTakeCallback, e.g. the demo's boot.js) has already done this."""
    location = js.window.location
    pending = [key for key in Storage(TRANSACTIONS).keys() if ":tx:" in key]
    try:
        states = find_callback_states(str(location.href))
    except OAuthClientError:  # malformed percent-encoding: not a response of ours
        return
    if any(key.endswith(":tx:" + state) for key in pending for state in states):
        _captured.append(str(location.href))
        js.history.replaceState(None, "", str(location.pathname))


def take_callback_url() -> "str | None":
    """The redirect callback captured (and scrubbed from the address bar) before the app's
    code ran; None when this page load carried no authorization response. Read once."""
    if _captured:
        return _captured.pop()
    early = getattr(js.window, "spalabTakeCallback", None)
    if early is None:
        return None
    url = early()
    return url if isinstance(url, str) else None


def current_url() -> str:
    return str(js.window.location.href)


def replace_url(url: str) -> None:
    """Changes the address bar without a navigation or a history entry."""
    js.history.replaceState(None, "", url)


# --- other tabs ---------------------------------------------------------------------------


def has_web_locks() -> bool:
    """The Web Locks API exists in secure contexts (https, localhost) of current engines."""
    try:
        return bool(js.navigator.locks)
    except AttributeError:
        return False


def hold_lock(name: str, granted: "Any") -> None:
    """Asks for the Web Lock `name` and keeps it for as long as this page lives; `granted()`
    runs once the lock is ours (at once if no other tab holds it). Leader election: of all
    tabs asking, exactly one holds it, and the next one gets it when that tab closes."""

    def on_grant(lock: "Any") -> "Any":
        granted()
        return js.Promise.new(create_proxy(lambda resolve, reject: None))  # never settles

    js.navigator.locks.request(name, create_proxy(on_grant))


class Channel:
    """A BroadcastChannel between this app's tabs (same origin only, by construction).
    Messages are JSON objects; `listener(message)` gets the others' messages, not its own."""

    def __init__(self, name: str, listener: "Any") -> None:
        self._channel = None  # type: Any
        try:
            self._channel = js.BroadcastChannel.new(name)
        except (AttributeError, JsException):
            return  # no BroadcastChannel: tabs stay independent

        def on_message(event: "Any") -> None:
            try:
                message = json.loads(str(event.data))
            except ValueError:
                return
            if isinstance(message, dict):
                listener(message)

        self._channel.onmessage = create_proxy(on_message)

    def post(self, message: "dict[str, Any]") -> None:
        if self._channel is not None:
            self._channel.postMessage(json.dumps(message))


# --- the DPoP key ---------------------------------------------------------------------------

_KEY_DB, _KEY_STORE = "spalab_auth", "dpop_keys"
_EC_P256 = {"name": "ECDSA", "namedCurve": "P-256"}
_ES256 = {"name": "ECDSA", "hash": "SHA-256"}


class DPoPKeyError(OAuthClientError):
    """WebCrypto could not make or use the DPoP key (no crypto.subtle outside a secure context,
    or the engine refused): no proof can be signed, so no DPoP-bound token can be used."""

    code = "dpop_key_unavailable"


def _settled(request: "Any") -> "Any":
    """An IndexedDB request as a Promise of its result (IDBRequest predates promises)."""

    def executor(resolve: "Any", reject: "Any") -> None:
        request.onsuccess = create_proxy(lambda event: resolve(request.result))
        request.onerror = create_proxy(lambda event: reject(request.error))

    return js.Promise.new(create_proxy(executor))


def _committed(store: "Any") -> "Any":
    """A write's transaction as a Promise: resolved once it is committed (a request's success comes
    before that, and WebKit drops an uncommitted write when the page navigates away right after)."""
    transaction = store.transaction

    def executor(resolve: "Any", reject: "Any") -> None:
        transaction.oncomplete = create_proxy(lambda event: resolve(True))
        transaction.onabort = create_proxy(lambda event: reject(transaction.error))

    return js.Promise.new(create_proxy(executor))


async def _key_store(mode: str) -> "Any":
    opening = js.indexedDB.open(_KEY_DB, 1)

    def upgrade(event: "Any") -> None:
        opening.result.createObjectStore(_KEY_STORE)

    opening.onupgradeneeded = create_proxy(upgrade)
    database = await _settled(opening)
    # A later version of this database opened in another tab: let it upgrade rather than block.
    database.onversionchange = create_proxy(lambda event: database.close())
    return database.transaction(_KEY_STORE, mode).objectStore(_KEY_STORE)


def normalized_url(url: str) -> str:
    """The URL as the browser sends the request (lower-case scheme and host, no default port, a path
    of at least "/", dots resolved), without query and fragment: a DPoP proof's htu (RFC 9449 §4.2)."""
    parsed = js.URL.new(url)
    return str(parsed.origin) + str(parsed.pathname)


def origin_of(url: str) -> str:
    """The URL's origin as the browser computes it (RFC 6454): whose DPoP nonce a resource's is."""
    return str(js.URL.new(url).origin)


class DPoPKey:
    """docs/SECURITY.md C11: an ECDSA P-256 key pair made by WebCrypto with extractable=false, so
    no script (ours, a library's, an injected one) can ever read the private key out; it can only
    ask this page to sign with it. Kept in IndexedDB under `name` (structured clone keeps a
    CryptoKey non-extractable), so a reload signs with the same key and the tokens bound to it
    stay usable; each new session makes its own (renew). Without IndexedDB the key lives as long as
    the page (`persistent` is False)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pair = None  # type: Any
        self._jwk = None  # type: dict[str, Any] | None
        self._generation = 0  # bumped by forget(): a load that was under way then is not kept
        self.persistent = False

    async def current(self) -> "tuple[Any, dict[str, Any]]":
        """(key pair, public JWK): the stored key, or a new one (stored unless another tab stored
        one first: then that one). The pair that signs is the one whose JWK goes in the proof."""
        if self._pair is not None and self._jwk is not None:
            return self._pair, self._jwk
        generation = self._generation
        try:
            pair = await self._stored()
            if pair is None:
                pair = await js.crypto.subtle.generateKey(js_object(_EC_P256), False, js_object(["sign", "verify"]))
                if not await self._store(pair):
                    stored = await self._stored()  # another tab's, stored first
                    # IndexedDB answered but kept nothing (full, say): this key lives as long as the page.
                    self.persistent = stored is not None
                    pair = stored or pair
            exported = await js.crypto.subtle.exportKey("jwk", pair.publicKey)
        except (JsException, AttributeError, TypeError):
            raise DPoPKeyError("WebCrypto cannot make or read the DPoP key", reason="no_webcrypto") from None
        jwk = json.loads(str(js.JSON.stringify(exported)))
        if generation == self._generation:
            self._pair, self._jwk = pair, jwk
        return pair, jwk

    @property
    def in_page(self) -> bool:
        """Whether this page holds a key pair already: one it made (renew), or its session's."""
        return self._pair is not None

    async def renew(self) -> None:
        """A new key for a new session, stored in place of whatever IndexedDB holds under `name` (put): a
        key pair a script of this origin left there once, keeping its private half, never signs for a later
        session (docs/SECURITY.md C11; an attacker's review)."""
        self.forget()
        generation = self._generation
        try:
            pair = await js.crypto.subtle.generateKey(js_object(_EC_P256), False, js_object(["sign", "verify"]))
            self.persistent = await self._store(pair, replace=True)
            exported = await js.crypto.subtle.exportKey("jwk", pair.publicKey)
        except (JsException, AttributeError, TypeError):
            raise DPoPKeyError("WebCrypto cannot make the DPoP key", reason="no_webcrypto") from None
        if generation == self._generation:
            self._pair, self._jwk = pair, json.loads(str(js.JSON.stringify(exported)))

    async def sign(self, pair: "Any", data: bytes) -> bytes:
        """ECDSA P-256 / SHA-256 over `data` with `pair`: WebCrypto returns the raw R || S a JWS wants."""
        try:
            signature = await js.crypto.subtle.sign(js_object(_ES256), pair.privateKey, bytes_to_js(data))
        except (JsException, AttributeError, TypeError):
            raise DPoPKeyError("WebCrypto refused to sign with the DPoP key", reason="sign_failed") from None
        return bytes_from_js(js.Uint8Array.new(signature))

    def forget(self) -> None:
        """Drops the key from this page (it is read again, or made, at the next use)."""
        self._pair, self._jwk = None, None
        self._generation += 1

    async def discard(self) -> None:
        """Deletes the key for good: tokens bound to it become useless everywhere."""
        self.forget()
        try:
            store = await _key_store("readwrite")
            store.delete(self.name)
            await _committed(store)
        except (JsException, AttributeError, TypeError):
            pass

    async def _stored(self) -> "Any":
        try:
            pair = await _settled((await _key_store("readonly")).get(self.name))
        except (JsException, AttributeError, TypeError):
            self.persistent = False
            return None  # no IndexedDB here (or it refused): the key lives as long as the page
        self.persistent = True
        if pair is None or not hasattr(pair, "privateKey"):
            return None
        return pair

    async def _store(self, pair: "Any", replace: bool = False) -> bool:
        """add(), not put(): of two tabs making a key at once, the first stored wins; put() to `replace`."""
        try:
            store = await _key_store("readwrite")
            (store.put if replace else store.add)(pair, self.name)
            await _committed(store)
        except (JsException, AttributeError, TypeError):
            return False
        return True


# --- the token worker (Auth(storage="worker")) -----------------------------------------------


class WorkerError(OAuthClientError):
    """The token worker refused a request or could not be reached. ``reason``: "origin_not_allowed"
    (the URL is not on the allow-list), "not_signed_in" (it holds no tokens), "unavailable" (it did
    not start: a wrong worker_url, or the CSP's worker-src), "bad_message", "bad_header" (a header the
    page may not set), "bad_settings" (its URL's settings are not usable), "bad_answer" (a malformed reply)."""

    code = "worker_error"


# How long a call to the worker may take: a token request or an API call through it, and the start.
WORKER_SECONDS = 30.0


class TokenWorker:
    """The dedicated Web Worker (spalab_auth/worker.js) that holds this page's tokens. Where it may
    send them is fixed by the query of its URL when it starts (`settings`: token_endpoint,
    revocation_endpoint, client_id, origin …); messages are JSON text, each answered once by id."""

    def __init__(self, url: str, settings: "list[tuple[str, str]]") -> None:
        query = "&".join(_encode(name) + "=" + _encode(value) for name, value in settings)
        self._waiting = {}  # type: dict[int, Any]  # id -> the resolve() of the Promise its caller awaits
        self._next = 0
        self.broken = False
        try:
            self._worker = js.Worker.new(url + ("&" if "?" in url else "?") + query)
        except (JsException, AttributeError, TypeError):
            self._worker = None
            self.broken = True
            return
        self._worker.onmessage = create_proxy(self._on_message)
        self._worker.onerror = create_proxy(self._on_error)

    def _on_message(self, event: "Any") -> None:
        try:
            answer = json.loads(str(event.data))
        except ValueError:
            return
        number = answer.get("id") if isinstance(answer, dict) else None
        if isinstance(number, int):
            self._settle(number, str(event.data))

    def _on_error(self, event: "Any") -> None:
        """The worker script did not load or threw: every call waiting now fails."""
        self.broken = True
        for number in list(self._waiting):
            self._settle(number, "")

    def _settle(self, number: int, text: str) -> None:
        resolve = self._waiting.pop(number, None)
        if resolve is not None:
            resolve(text)

    async def call(self, kind: str, **fields: "Any") -> "dict[str, Any]":
        """Sends {id, type, …}; the worker's answer, checked for shape; WorkerError or NetworkError.
        Awaits a JS Promise, not an asyncio.Event: MicroPython's asyncio.wait_for fails in a
        PyScript event handler (measured: "TopLevelCoro has no attribute throw")."""
        if self.broken or self._worker is None:
            raise WorkerError("the token worker is not running", reason="unavailable")
        self._next += 1
        number = self._next
        message = dict(fields)
        message.update({"id": number, "type": kind})

        def executor(resolve: "Any", reject: "Any") -> None:
            self._waiting[number] = resolve

        promise = js.Promise.new(create_proxy(executor))
        self._worker.postMessage(json.dumps(message))
        js.setTimeout(create_proxy(lambda: self._settle(number, "")), WORKER_SECONDS * 1000)
        try:
            answer = json.loads(str(await promise) or "null")
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise WorkerError("the token worker did not answer", reason="unavailable")
        if isinstance(answer.get("network_error"), str):
            raise NetworkError(answer["network_error"])
        if isinstance(answer.get("refused"), str):
            raise WorkerError("the token worker refused: " + answer["refused"], reason=answer["refused"])
        return answer

    async def send(self, kind: str, **fields: "Any") -> "tuple[HttpResponse, str | None]":
        """A call answered with an HTTP response (status, headers, body), and the at_hash of the
        access token it brought (OIDC Core §3.2.2.9), computed by the worker, or None."""
        answer = await self.call(kind, **fields)
        status, headers, body = answer.get("status"), answer.get("headers"), answer.get("body")
        if not isinstance(status, int) or not isinstance(headers, dict) or not isinstance(body, str):
            raise WorkerError("the token worker's answer is malformed", reason="bad_answer")
        response = HttpResponse(status, {str(k): str(v) for k, v in headers.items()}, body)
        at_hash = answer.get("at_hash")
        return response, at_hash if isinstance(at_hash, str) else None


def _encode(value: str) -> str:
    return str(js.encodeURIComponent(value))
