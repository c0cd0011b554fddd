"""A stand-in for the browser, so the package's shell (spalab_auth.auth) runs under pytest on
CPython: `js` (sessionStorage, the address bar, BroadcastChannel, Web Locks), pyscript.ffi and
pyodide.ffi. Several Auth objects of one test are the app's tabs: their channel messages wait
in `page.messages` until `page.deliver()`, as a browser delivers them later, in another task.
Nothing reaches the network: a test sets `page.answer` to reply to browser.send.

`with browser_page() as page:` imports a fresh spalab_auth against the fakes and restores
sys.modules afterwards, so no other test sees them."""

import asyncio
import contextlib
import json
import os
import sys
import types
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from client_support import metadata_document

ORIGIN = "https://app.example.com"
_FAKED = ("js", "pyscript", "pyscript.ffi", "pyodide", "pyodide.ffi")


class _Object:
    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


class _SessionStorage:
    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def getItem(self, key: str) -> "str | None":  # noqa: N802 - the DOM's name
        return self.items.get(key)

    def setItem(self, key: str, value: str) -> None:  # noqa: N802
        self.items[key] = str(value)

    def removeItem(self, key: str) -> None:  # noqa: N802
        self.items.pop(key, None)

    @property
    def length(self) -> int:
        return len(self.items)

    def key(self, index: int) -> str:
        return list(self.items)[index]


class _Location:
    def __init__(self, href: str) -> None:
        self.href = self.pathname = self.search = self.hash = ""
        self.go(href)

    def go(self, href: str) -> None:
        self.href = ORIGIN + href if href.startswith("/") else href
        rest, _, fragment = self.href[len(ORIGIN) :].partition("#")
        path, _, query = rest.partition("?")
        self.pathname = path or "/"
        self.search = "?" + query if query else ""
        self.hash = "#" + fragment if fragment else ""

    def assign(self, url: str) -> None:
        raise AssertionError("the page left for " + url)


def _url(url: str) -> _Object:
    """The WHATWG URL parts the package reads: origin and pathname."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = "" if parts.port in (None, {"http": 80, "https": 443}[parts.scheme.lower()]) else ":" + str(parts.port)
    return _Object(origin=parts.scheme.lower() + "://" + (parts.hostname or "") + port, pathname=parts.path or "/")


class FakeDPoPKey:
    """browser.DPoPKey's stand-in: a real ECDSA P-256 key (cryptography), signing as WebCrypto does (R || S)."""

    made = 0

    def __init__(self, name: str) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec
        from joserfc.jwk import ECKey

        self.name, self.persistent, self.discarded = name, True, False
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.jwk = ECKey.import_key(self.private.public_key()).as_dict(private=False)
        FakeDPoPKey.made += 1

    async def current(self) -> tuple[Any, dict[str, Any]]:
        return self.private, self.jwk

    in_page = True

    async def renew(self) -> None:
        pass  # the tests that look at the key compare what it signed with its jwk: one key per page

    async def sign(self, pair: Any, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(pair.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def forget(self) -> None:
        pass

    async def discard(self) -> None:
        self.discarded = True


class _Promise:
    """A JS Promise as far as the package uses one: new(executor), then awaited."""

    def __init__(self) -> None:
        self.value: Any = None
        self.settled = asyncio.Event()

    @classmethod
    def new(cls, executor: Callable[[Any, Any], None]) -> "_Promise":
        promise = cls()
        executor(promise.resolve, promise.resolve)
        return promise

    def resolve(self, value: Any = None) -> None:
        if not self.settled.is_set():
            self.value = value
            self.settled.set()

    def __await__(self) -> Any:
        yield from self.settled.wait().__await__()
        return self.value


class FakeWorker:
    """The token worker (spalab_auth/worker.js) as the page sees it: JSON messages in, JSON answers
    out, each a little later. `page.worker_reply(message)` answers (a dict, without the id); the
    messages wait in `page.worker_messages`. worker.js itself runs in e2e/test_lab_worker.py."""

    def __init__(self, page: "FakePage", url: str) -> None:
        self.page, self.url = page, url
        self.onmessage: Any = None
        self.onerror: Any = None
        page.workers.append(self)

    def postMessage(self, text: str) -> None:  # noqa: N802 - the DOM's name
        message = json.loads(text)
        self.page.worker_messages.append(message)
        reply = self.page.worker_reply(message)
        answer = json.dumps({**reply, "id": message["id"]})
        asyncio.get_running_loop().call_later(0.01, lambda: self.onmessage(_Object(data=answer)))


class FakePage:
    def __init__(self, href: str) -> None:
        self.location = _Location(href)
        self.storage = _SessionStorage()
        self.channels: list[Any] = []
        self.messages: list[tuple[Any, str]] = []
        self.requests: list[Any] = []
        self.answer: Callable[[Any], Any] | None = None
        self.module = types.ModuleType("spalab_auth")
        self.workers: list[FakeWorker] = []
        self.worker_messages: list[dict[str, Any]] = []
        self.worker_reply: Callable[[dict[str, Any]], dict[str, Any]] = lambda message: {"refused": "bad_message"}
        self.real_dpop_key: Any = None

    def deliver(self) -> None:
        """Hands every posted message to the other tabs' channels, in order."""
        while self.messages:
            channel, data = self.messages.pop(0)
            channel.onmessage(_Object(data=data))

    def js(self) -> types.ModuleType:
        page = self

        class BroadcastChannel:
            def __init__(self, name: str) -> None:
                self.name = name
                self.onmessage: Any = None
                page.channels.append(self)

            @classmethod
            def new(cls, name: str) -> "BroadcastChannel":
                return cls(name)

            def postMessage(self, data: str) -> None:  # noqa: N802
                for other in page.channels:
                    if other is not self and other.name == self.name and other.onmessage is not None:
                        page.messages.append((other, data))

        module = types.ModuleType("js")
        history = _Object(replaceState=lambda state, title, url: self.location.go(url))
        module.__dict__.update(
            window=_Object(location=self.location),
            history=history,
            sessionStorage=self.storage,
            BroadcastChannel=BroadcastChannel,
            navigator=_Object(locks=_Object(request=lambda name, granted: None)),
            performance=_Object(mark=lambda name: None),
            Promise=_Promise,
            URL=_Object(new=_url),
            Worker=_Object(new=lambda url: FakeWorker(self, url)),
            setTimeout=lambda callback, milliseconds: None,
            encodeURIComponent=lambda value: urllib.parse.quote(value, safe=""),
        )
        return module

    def auth(self, storage: str = "shared", refresher: bool = True, dpop: bool = False, **options: Any) -> Any:
        """An Auth of this app in a new tab; ``refresher``: it holds the Web Lock."""
        tab = self.module.Auth(
            metadata_document()["issuer"],
            "spalab-spa",
            ORIGIN + "/",
            "openid",
            storage=storage,
            post_logout_redirect_uri=ORIGIN + "/",
            dpop=dpop,
            **options,
        )
        tab.refresher = refresher
        return tab

    def tokens(self, number: int, lifetime: float = 3600, token_type: str = "Bearer") -> Any:
        core, now = self.module.core, self.module.browser.now()
        return core.TokenSet("at" + str(number), token_type, now, now + lifetime, ["openid"], "rt" + str(number))


def token_answer(number: int, token_type: str = "Bearer") -> Any:
    """What a token endpoint that rotates refresh tokens answers, the ``number``th time."""
    from spalab_auth.core import HttpResponse

    body = {"access_token": "at%d" % number, "token_type": token_type, "expires_in": 3600}
    body["refresh_token"] = "rt%d" % number
    return HttpResponse(200, {"content-type": "application/json"}, json.dumps(body))


def _ours(name: str) -> bool:
    return name in _FAKED or name == "spalab_auth" or name.startswith("spalab_auth.")


@contextlib.contextmanager
def browser_page(href: str = ORIGIN + "/") -> Iterator[FakePage]:
    saved = {name: module for name, module in sys.modules.items() if _ours(name)}
    for name in saved:
        del sys.modules[name]
    page = FakePage(href)
    ffi = types.ModuleType("pyscript.ffi")
    ffi.__dict__.update(create_proxy=lambda function: function, to_js=lambda value: value)
    pyscript = types.ModuleType("pyscript")
    pyscript.__dict__.update(ffi=ffi)
    pyodide_ffi = types.ModuleType("pyodide.ffi")
    pyodide_ffi.__dict__.update(JsException=type("JsException", (Exception,), {}))
    pyodide = types.ModuleType("pyodide")
    pyodide.__dict__.update(ffi=pyodide_ffi)
    sys.modules.update(
        {"js": page.js(), "pyscript": pyscript, "pyscript.ffi": ffi, "pyodide": pyodide, "pyodide.ffi": pyodide_ffi}
    )
    try:
        import spalab_auth

        page.module = spalab_auth
        metadata = spalab_auth.core.ProviderMetadata(metadata_document())

        async def discover(provider: Any) -> Any:
            return metadata

        async def keys(provider: Any) -> Any:
            return {"keys": []}

        async def send(request: Any) -> Any:
            page.requests.append(request)
            await asyncio.sleep(0.01)  # an answer comes later, after other tasks ran
            if page.answer is None:
                raise AssertionError("unexpected request to " + request.url)
            return page.answer(request)

        provider = spalab_auth.provider.Provider
        provider.discover = discover  # type: ignore[method-assign,assignment]
        provider.with_revocation = discover  # type: ignore[method-assign,assignment]
        provider.keys = keys  # type: ignore[method-assign,assignment]
        spalab_auth.browser.send = send
        page.real_dpop_key = spalab_auth.browser.DPoPKey  # for a test of its own bookkeeping
        spalab_auth.browser.DPoPKey = FakeDPoPKey  # type: ignore[misc,assignment]
        spalab_auth.browser.random_bytes = os.urandom  # type: ignore[assignment]
        yield page
    finally:
        for name in [name for name in sys.modules if _ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)
