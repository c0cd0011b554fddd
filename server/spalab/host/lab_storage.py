"""The lab's injected-script pages (issue 12, experiment E14): the example app (web/example/)
and the JavaScript baseline (web/baseline/), each with one way of holding tokens and a
deliberately injected script, /lab/attacker.js: the attacker.

Unlike the other lab pages, these carry the SPA's own policies (CSP, Referrer-Policy): the
experiment is what a script that got into a well-configured page can take. The injected script
is same-origin, as a compromised dependency or a stored XSS would be, so the CSP lets it run.

/lab/storage/<variant>/ serves the example app's page (Pyodide; mpy.html: MicroPython) with the
variant's Auth settings in its config (app.example_settings with VARIANTS over it; app.py builds
/lab/storage/<variant>/pyscript.json and mpy.json); /lab/storage/baseline/ serves the oidc-client-ts
baseline. Nothing from the request reaches the markup: the variant is checked against VARIANTS and
the pages are fixed bytes.
"""

from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

PREFIX = "/lab/storage/"

# Variant → the example app's Auth settings it changes (storage, DPoP).
VARIANTS: dict[str, dict[str, object]] = {
    "memory": {"storage": "memory", "dpop": False},
    "session": {"storage": "session", "dpop": False},
    "shared": {"storage": "shared", "dpop": False},
    "dpop": {"storage": "shared", "dpop": True},
    "worker": {"storage": "worker", "dpop": False},  # worker_url and api_origins: app.example_settings
}
BASELINE = "baseline"

HEADERS = {"Cache-Control": "no-store"}

_ATTACKER_JS = Path(__file__).parent / "static" / "lab-attacker.js"

# Injected first in <head>, before the app's own scripts, so that it also sees the page load
# (a flow of its own comes back to this page); the panel shows what it took.
_TAG = '<script src="/lab/attacker.js"></script>\n'
_PANEL = """<section id="attacker">
<hr>
<h2>The injected script (spalab lab)</h2>
<p>This page carries a deliberately injected script: the attacker. Sign in, then run it to see what it
can take from this way of holding tokens. It talks only to this page's own servers.</p>
<button id="attacker-run" type="button">Run the injected script</button>
<button id="attacker-flow" type="button">Start a flow of its own</button>
<pre id="attacker-out" aria-live="polite"></pre>
</section>
"""


def inject(page: bytes) -> bytes:
    """The page with the attacker's script first in <head> and its panel last in <body>."""
    text = page.decode()
    charset = '<meta charset="utf-8">'
    head = text.index(charset) + len(charset) if charset in text else text.index("<head>") + len("<head>")
    body = text.rindex("</body>")
    return (text[:head] + "\n" + _TAG + text[head:body] + _PANEL + text[body:]).encode()


def storage_routes(web_dir: Path, rewrite: Callable[[bytes], bytes]) -> list[Route]:
    """The variants' pages and main.py, and the attacker's script; empty without web/example/.
    `rewrite`: the pinned packages' versioned URLs (vendor.VendorURLs), as for every page."""
    example = web_dir / "example"
    if not (example / "index.html").is_file():
        return []
    pages = {
        "": rewrite(inject((example / "index.html").read_bytes())),
        "mpy.html": rewrite(inject((example / "mpy.html").read_bytes())),
    }
    baseline = rewrite(inject((web_dir / "baseline" / "index.html").read_bytes()))
    attacker = _ATTACKER_JS.read_bytes()

    async def page(request: Request) -> Response:
        variant, name = request.path_params["variant"], request.path_params.get("page", "")
        if variant == BASELINE and name == "":
            return Response(baseline, media_type="text/html", headers=HEADERS)
        if variant not in VARIANTS or name not in pages:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(pages[name], media_type="text/html", headers=HEADERS)

    async def main_py(request: Request) -> Response:
        if request.path_params["variant"] not in VARIANTS:
            return PlainTextResponse("Not Found", status_code=404)
        # Read per request, like the rest of web/: an edit to the example shows at once.
        return Response((example / "main.py").read_bytes(), media_type="text/x-python", headers=HEADERS)

    async def attacker_js(request: Request) -> Response:
        return Response(attacker, media_type="text/javascript", headers=HEADERS)

    return [
        Route("/lab/attacker.js", attacker_js),
        Route(PREFIX + "{variant}/", page),
        Route(PREFIX + "{variant}/main.py", main_py),
        Route(PREFIX + "{variant}/{page}", page),
    ]
