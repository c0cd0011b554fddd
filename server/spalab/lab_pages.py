"""Lab-only pages on the SPA host, for the browser experiments in e2e/ (issue 4).

Unlike the SPA, these pages deliberately carry no Referrer-Policy and no CSP, so
that the lab can record what each engine does by default. They reflect nothing
from the request (no query or fragment value ever reaches the markup): their only
variable is the provider's origin, fixed when the app is built.
"""

import html

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


def _page(title: str, body: str = "") -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), headers=HEADERS)


def lab_routes(provider_origin: str) -> list[Route]:
    """The lab's routes, all under /lab/; `provider_origin` is the cross-origin target."""
    source_body = _REFERER_SOURCE.format(provider=html.escape(provider_origin, quote=True))

    async def referer_source(request: Request) -> Response:
        return _page("Referer source (no policy)", source_body)

    async def referer_target(request: Request) -> Response:
        return _page("Referer target")

    async def bounce(request: Request) -> Response:
        # E3: a redirect whose Location has no fragment (RFC 9110 §10.2.2 re-attaches the original one).
        return RedirectResponse("/lab/landing", status_code=302, headers=HEADERS)

    async def landing(request: Request) -> Response:
        return _page("Landing page after a redirect")

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
        Route(PREFIX + "other-callback", other_callback),
        Route(PREFIX + "blank", blank),
    ]
