"""Server-rendered pages (sign-in, consent, errors) with the headers that
pages taking credentials or consent must carry (docs/SECURITY.md P15)."""

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    auto_reload=False,  # the templates ship with the package: no stat() of the file at every page
)

# RFC 9700 §4.16: no framing (clickjacking); no Referer leaking the URL; no caching.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


# RFC 9700 §4.16 for the provider's redirects too: some engines may check a redirect's own framing headers.
NO_FRAMING = {"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY"}


def framing_headers(origins: tuple[str, ...]) -> dict[str, str]:
    """A redirect's anti-framing headers: none may frame it, or only `origins` (docs/SECURITY.md P36).
    X-Frame-Options cannot name origins (ALLOW-FROM is obsolete), so an allowed list is CSP only."""
    if not origins:
        return NO_FRAMING
    return {"Content-Security-Policy": "frame-ancestors " + " ".join(origins)}


def render(
    template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})


def error_page(title: str, detail: str, status_code: int = 400, headers: dict[str, str] | None = None) -> HTMLResponse:
    return render("error.html", status_code=status_code, headers=headers, title=title, detail=detail)
