"""What each server saw: one log line per request, and (in demo mode) a ring
buffer the SPA's timeline reads.

Parameter *names* are always recorded; values of codes and tokens only
truncated, passwords and secrets never (docs/SECURITY.md P21). The fragment of a URL
never reaches a server, so it can never appear here: that is the point.
"""

import itertools
import logging
import re
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# One line per request, on the console (`spalab provider --no-access-log` turns it off).
ACCESS_LOGGER = "spalab.access"
logger = logging.getLogger(ACCESS_LOGGER)

SECRET = {"password", "client_secret", "code_verifier", "csrf_token"}
TRUNCATED = {"code", "access_token", "id_token", "refresh_token", "token", "state", "nonce", "code_challenge"}
MAX_CAPTURE = 64 * 1024


def describe_params(raw: str) -> list[dict[str, str]]:
    """Names with safe values: secrets hidden, codes and tokens truncated."""
    described = []
    for name, value in parse_qsl(raw, keep_blank_values=True, errors="replace"):
        if name in SECRET:
            shown = "(hidden)"
        elif name in TRUNCATED:
            shown = masked(value)
        else:
            shown = value[:80]
        described.append({"name": name[:64], "value": shown})
    return described


def param_names(raw: str) -> list[str]:
    """The names describe_params would list, without decoding or masking any value."""
    names = []
    for pair in raw.split("&"):
        if pair:
            names.append(unquote(pair.partition("=")[0].replace("+", " "), errors="replace")[:64])
    return names


def _is_form(scope: Scope) -> bool:
    """Whether the request's body is a form (application/x-www-form-urlencoded), whose names are logged."""
    for key, value in scope["headers"]:
        if key == b"content-type":
            return b"urlencoded" in value
    return False


def sanitize_url(url: str) -> str:
    """A Referer with codes or tokens in its query keeps only truncated values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable)"
    query = "&".join(f"{p['name']}={p['value']}" for p in describe_params(parts.query))
    fragment = "#(fragment)" if parts.fragment else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "") + fragment


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,30}(?= )")


def auth_scheme(value: str) -> str:
    """The Authorization header's scheme only (RFC 9110 §11.4). A header that does not start with a
    token and a space could be a bare credential: none of it is kept (docs/SECURITY.md P21)."""
    match = _SCHEME.match(value)
    return match.group(0) if match else "(malformed)"


class RequestLog:
    def __init__(self, server: str, size: int = 500) -> None:
        self.server = server
        self.entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._seq = itertools.count(1)

    def add(self, entry: dict[str, Any]) -> None:
        entry["seq"] = next(self._seq)
        self.entries.append(entry)

    def since(self, seq: int) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["seq"] > seq]

    @property
    def last_seq(self) -> int:
        """The newest entry's number (0 when empty): a reader's mark for "only what comes next"."""
        return int(self.entries[-1]["seq"]) if self.entries else 0


def parse_since(values: list[str]) -> int | None:
    """The mark of a ?since=<entry number> query (0 when absent), or None when it is not one:
    a single value of ASCII digits ("²".isdigit() is true, but int() refuses it) and short
    enough to be an entry number (int() refuses strings of over 4,300 digits)."""
    if not values:
        return 0
    if len(values) > 1 or not re.fullmatch(r"[0-9]{1,18}", values[0]):
        return None
    return int(values[0])


class RequestLogMiddleware:
    """Records every HTTP request; keeps entries in `log` when one is given."""

    def __init__(self, app: ASGIApp, server: str, log: RequestLog | None, skip_prefix: str = "/_spalab/") -> None:
        self.app = app
        self.server = server
        self.log = log
        self.skip_prefix = skip_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip_prefix):
            await self.app(scope, receive, send)
            return
        if self.log is None and not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        # Only a form's body is read for its parameter names, and only the ring buffer keeps the status:
        # the provider alone (no ring) wraps neither receive nor send for other requests.
        form = _is_form(scope)
        body = bytearray()
        status = [0]

        async def tee_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < MAX_CAPTURE:
                body.extend(message.get("body", b"")[: MAX_CAPTURE - len(body)])
            return message

        async def record_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, tee_receive if form else receive, send if self.log is None else record_send)
        finally:
            self._record(scope, bytes(body), status[0])

    def _record(self, scope: Scope, body: bytes, status: int) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        form = body.decode("utf-8", "replace")
        logger.info(
            "%s %s %s query=[%s] form=[%s]",
            self.server,
            scope["method"],
            scope["path"],
            ",".join(param_names(query)),
            ",".join(param_names(form)),
        )
        if self.log is None:
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query_items, form_items = describe_params(query), describe_params(form)
        self.log.add(
            {
                "time": time.time(),
                "server": self.server,
                "method": scope["method"],
                "path": scope["path"],
                "query": query_items,
                "form": form_items,
                "origin": headers.get("origin"),
                "referer": sanitize_url(headers["referer"]) if "referer" in headers else None,
                "authorization": auth_scheme(headers["authorization"]) if "authorization" in headers else None,
                # RFC 9449: whether a DPoP proof came along; the proof itself is not kept (docs/SECURITY.md P21).
                "dpop": "dpop" in headers,
                # Which cookies came (lab E16: did a framed request carry the session?); never their values (P21).
                "cookies": cookie_names(headers.get("cookie", "")),
                "status": status,
            }
        )


def cookie_names(header: str) -> list[str]:
    """The names in a Cookie header (RFC 6265 §4.2), each once, in order; values are dropped."""
    names = (pair.partition("=")[0].strip()[:64] for pair in header.split(";"))
    return list(dict.fromkeys(n for n in names if n))[:20]


def masked(value: str | None, keep: int = 6) -> str:
    """Shows the first characters of a secret only (docs/SECURITY.md P21)."""
    if not value:
        return ""
    return value[:keep] + "…" if len(value) > keep else "…"
