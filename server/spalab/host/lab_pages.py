"""Lab-only pages on the SPA host, for the browser experiments in e2e/ (issue 4).

Unlike the SPA, these pages deliberately carry no Referrer-Policy and no CSP, so
that the lab can record what each engine does by default (one exception: E16's
silent-renewal callback receives codes, so it may be framed by its own origin only). They reflect nothing
from the request (no query or fragment value ever reaches the markup): their only
variable is the provider's origin, fixed when the app is built.
"""

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

PREFIX = "/lab/"  # every lab path starts here; nothing else on the SPA host does

# No Referrer-Policy on purpose: the engine's default policy is what E2 observes.
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>
"""

# E2: one request of each kind, same-origin and cross-origin (to the provider),
# each tagged with `via` so the request logs say which request carried what.
_REFERER_SOURCE = """
<p>spalab lab: a page <em>without</em> Referrer-Policy. Its URL may hold fake codes or tokens.</p>
<img alt="" src="/lab/referer/target?via=img-same">
<img alt="" src="{provider}/static/provider.css?via=img-cross">
<p><a id="link-same" href="/lab/referer/target?via=link-same">same-origin link</a></p>
<p><a id="link-cross" href="{provider}/static/provider.css?via=link-cross">cross-origin link</a></p>
<script>
fetch("/lab/referer/target?via=fetch-same");
fetch("{provider}/static/provider.css?via=fetch-cross", {{mode: "no-cors"}});
</script>
"""


# The "Lab" page: experiments that need no harness, run live in the visitor's own browser.
# Each link carries fake values only; /lab/live.js reports what this browser did with them.
_LIVE = """
<p>Two of the lab's experiments need no test harness: run them here, in this browser. The links carry
<strong>fake</strong> values only. The full matrix for Chromium, Firefox and WebKit is in the project's
lab report (<code>e2e/report/out/report.html</code> after <code>scripts/test</code>).</p>
<h2>E3: does a fragment follow a redirect?</h2>
<p>The link opens <code>/lab/bounce#access_token=FAKE…</code>, which answers <code>302</code> to
<code>/lab/landing</code> with no fragment in <code>Location</code>. RFC 9110 §10.2.2 says the browser
re-attaches the original fragment, so an implicit-flow token follows the user to the next page.</p>
<p><a id="run-e3" href="/lab/bounce#access_token=FAKE-LIVE-TOKEN&amp;state=FAKE">Run E3</a></p>
<h2>E10: does cleaning the address bar clean everything?</h2>
<p>The link opens a page loaded with <code>?code=FAKE…#access_token=FAKE…</code>, which calls
<code>history.replaceState</code> at once, as the SPA does, and then shows what a script can still read.</p>
<p><a id="run-e10" href="/lab/timeline?code=FAKE-LIVE-CODE#access_token=FAKE-LIVE-TOKEN">Run E10</a></p>
<h2>E14: what can a script injected into the page take?</h2>
<p>Each page below is the example app (or the JavaScript baseline) holding its tokens one way, with a
deliberately injected script: the attacker. Sign in (alice / wonderland), then press <em>Run the injected
script</em>: it reads what it can from storage, the page's globals, the tabs' channel and the app's own
traffic, and calls the API with what it took. <em>Start a flow of its own</em> shows what no way of
holding tokens stops: the script signs in for itself, silently, with the app's client.</p>
<ul id="run-e14">
<li><a href="/lab/storage/memory/">In memory, Pyodide</a></li>
<li><a href="/lab/storage/memory/mpy.html">In memory, MicroPython</a></li>
<li><a href="/lab/storage/session/">sessionStorage</a></li>
<li><a href="/lab/storage/shared/">Shared between tabs (BroadcastChannel)</a></li>
<li><a href="/lab/storage/dpop/">DPoP: tokens bound to a non-extractable key</a></li>
<li><a href="/lab/storage/worker/">In a Web Worker (the page never holds them)</a></li>
<li><a href="/lab/storage/baseline/">JavaScript baseline (oidc-client-ts, tokens in a closure)</a></li>
</ul>
<h2>E16: silent renewal across sites</h2>
<p>Open <a id="open-e16" href="/lab/silent">the silent-renewal page</a>: after one visible sign-in for the lab's
client (<code>lab-silent</code>) it sends a real <code>prompt=none</code> request in a hidden iframe or at the top
level, and shows what came back and how long it took.</p>
<p><a href="/">Back to the demo</a></p>
"""

# E16: silent renewal across sites. The page's only variables are fixed when the app is built: the
# provider's origin and the lab-silent client's redirect URI (on the SPA's configured origin, also
# when the page is opened on another origin: that is the unregistered framer of the experiment).
_SILENT = """
<p>The SPA's origin and the provider's are different <em>sites</em>. A <code>prompt=none</code>
authorization request (code + PKCE, with <code>state</code>) either comes back with a code, when the
provider sees its session cookie, or with <code>login_required</code>. Run it in a hidden iframe (the
provider's cookie is then a third-party cookie) and at the top level.</p>
<div id="silent" data-provider="{provider}" data-client-id="lab-silent" data-redirect-uri="{redirect_uri}">
<p>The provider needs a session and your approval for the lab's client once:
<button id="sign-in" type="button">Sign in and approve (visible)</button></p>
<p><button id="run-iframe" type="button">Run in a hidden iframe</button>
<button id="run-top" type="button">Run at the top level</button></p>
</div>
<p id="verdict" role="status">Choose one (this needs JavaScript).</p>
<pre id="result"></pre>
<p><a href="/lab/live">Lab</a></p>
<script src="/lab/silent.js"></script>
"""

_SILENT_CALLBACK = """
<p id="verdict" role="status">Reading the answer… (this needs JavaScript)</p>
<pre id="result"></pre>
<p><a href="/lab/silent">Back to the experiment</a></p>
<script src="/lab/silent.js"></script>
"""

# docs/SECURITY.md H7: the callback receives codes, so only a page of its own origin may frame it (in an
# engine that follows the provider's redirect whatever its frame-ancestors, this is what stops a foreign framer).
CALLBACK_HEADERS = {**HEADERS, "Content-Security-Policy": "frame-ancestors 'self'"}

# E16's probe cookies: name → Secure. SameSite=None needs Secure in some engines, and Secure may be refused on http.
PROBE_COOKIES = {"lab_probe_none_secure": True, "lab_probe_none": False}

_VERDICT = '<p id="verdict" role="status">Running… (this needs JavaScript)</p><p><a href="/lab/live">Lab</a></p>'

# The live experiments' script (static/lab-live.js): it writes with textContent only.
_LIVE_JS = Path(__file__).parent / "static" / "lab-live.js"
_SILENT_JS = Path(__file__).parent / "static" / "lab-silent.js"


def _page(title: str, body: str = "", headers: dict[str, str] = HEADERS) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), headers=headers)


def lab_routes(provider_origin: str, spa_origin: str = "http://localhost:8000") -> list[Route]:
    """The lab's routes, all under /lab/; `provider_origin` is the cross-origin target, `spa_origin` the
    SPA's configured origin (the lab-silent client's redirect URI is there)."""
    source_body = _REFERER_SOURCE.format(provider=html.escape(provider_origin, quote=True))
    silent_body = _SILENT.format(
        provider=html.escape(provider_origin, quote=True),
        redirect_uri=html.escape(spa_origin + PREFIX + "silent/callback", quote=True),
    )
    live_script = _LIVE_JS.read_bytes()
    silent_script = _SILENT_JS.read_bytes()

    async def referer_source(request: Request) -> Response:
        return _page("Referer source (no policy)", source_body)

    async def referer_target(request: Request) -> Response:
        return _page("Referer target")

    async def bounce(request: Request) -> Response:
        # E3: a redirect whose Location has no fragment (RFC 9110 §10.2.2 re-attaches the original one).
        return RedirectResponse("/lab/landing", status_code=302, headers=HEADERS)

    async def landing(request: Request) -> Response:
        return _page("Landing page after a redirect", _VERDICT + '<script src="/lab/live.js"></script>')

    async def timeline(request: Request) -> Response:
        return _page("A page that cleans its URL", _VERDICT + '<script src="/lab/live.js"></script>')

    async def live(request: Request) -> Response:
        return _page("spalab lab: run it in your browser", _LIVE)

    async def live_js(request: Request) -> Response:
        return Response(live_script, media_type="text/javascript", headers=HEADERS)

    async def silent(request: Request) -> Response:
        return _page("Silent renewal across sites (E16)", silent_body)

    async def silent_callback(request: Request) -> Response:
        return _page("Silent renewal: the answer", _SILENT_CALLBACK, CALLBACK_HEADERS)

    async def silent_probe(request: Request) -> Response:
        # E16: cookies that SameSite lets into a cross-site frame, so that what withholds them there is the
        # engine's third-party cookie policy. Opened on http://127.0.0.1:<port>, they also go to the provider
        # (cookies ignore ports); the provider's request log names the cookies each request carried.
        response = _page("Silent renewal: probe cookies set")
        for name, secure in PROBE_COOKIES.items():
            response.set_cookie(name, "1", path="/", httponly=True, samesite="none", secure=secure)
        return response

    async def silent_js(request: Request) -> Response:
        return Response(silent_script, media_type="text/javascript", headers=HEADERS)

    async def other_callback(request: Request) -> Response:
        # E8: the redirect URI of "another SPA" (lab-other-spa); its token stays in the fragment.
        return _page("Another SPA (lab)", "<p>The sign-in response is in this page's fragment.</p>")

    async def blank(request: Request) -> Response:
        # E5: served on an origin no client registered (http://127.0.0.1:<spa port>).
        return _page("A page on an unregistered origin")

    return [
        Route(PREFIX + "referer/source", referer_source),
        Route(PREFIX + "referer/target", referer_target),
        Route(PREFIX + "bounce", bounce),
        Route(PREFIX + "landing", landing),
        Route(PREFIX + "timeline", timeline),
        Route(PREFIX + "live", live),
        Route(PREFIX + "live.js", live_js),
        Route(PREFIX + "other-callback", other_callback),
        Route(PREFIX + "blank", blank),
        Route(PREFIX + "silent", silent),
        Route(PREFIX + "silent/callback", silent_callback),
        Route(PREFIX + "silent/probe-cookies", silent_probe),
        Route(PREFIX + "silent.js", silent_js),
    ]
