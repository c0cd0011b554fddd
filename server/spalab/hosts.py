"""Which `Host` each server answers for (docs/SECURITY.md P24: DNS rebinding).

A rebinding page on attacker.example has its name re-resolved to 127.0.0.1 and then
talks to our loopback servers as "same origin": the browser still sends
`Host: attacker.example[:port]`. Answering only the host names we serve keeps such a
page from reading the request logs or driving the sign-in form.

Host *names* are compared, ports are not: a rebinding request names the attacker's
host whatever port it names, and the connection already arrived on our socket, so the
port adds no protection; checking it would only refuse harmless port forwarding.
IP literals and "localhost" cannot be rebound, hence always safe to answer.
"""

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

logger = logging.getLogger("spalab.hosts")

LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})

# (path, status, readable text) → the refusal, so each server answers in its own kind of body.
Refusal = Callable[[str, int, str], Response]

# RFC 9110 §7.2: Host = uri-host [ ":" port ]; uri-host an IP literal or a reg-name (RFC 3986 §3.2.2).
_HOST = re.compile(r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]*)?")


def host_name(value: str) -> str | None:
    """The host name in a `Host` value or URL authority, lowercase, an IPv6 address
    in brackets and canonical ("[::1]"); None when the value is malformed."""
    match = _HOST.fullmatch(value)
    if match is None:
        return None
    name = match["name"].lower()
    if not name.startswith("["):
        return name
    try:
        return f"[{ipaddress.IPv6Address(name[1:-1]).compressed}]"
    except ValueError:
        return None


def origin_of(url: str) -> str:
    """The origin (scheme://host[:port], RFC 6454 §4) of an absolute URL, lower-cased. Raises ValueError
    for a URL that cannot be split (an unclosed IPv6 bracket)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def issuer_host(issuer: str) -> str | None:
    """The host name of the issuer URL (what clients and browsers put in Host)."""
    return host_name(urlsplit(issuer).netloc.rpartition("@")[2])


def provider_hosts(issuer: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The issuer's host, the loopback names the provider listens on, and the operator's extras."""
    named = issuer_host(issuer)
    return LOOPBACK | {h for h in (named, *map(host_name, extra)) if h is not None}


def plain_refusal(path: str, status_code: int, text: str) -> Response:
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return PlainTextResponse(text + "\n", status_code=status_code, headers=headers)


class TrustedHosts:
    """Refuses any request whose `Host` names no host in `hosts`, before anything else runs.

    Unlike Starlette's TrustedHostMiddleware: 421 for a host we do not serve (400 only for a
    malformed or missing one), IPv6 literals compared canonically, and no www-redirect."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str], refusal: Refusal = plain_refusal) -> None:
        self.app = app
        self.hosts = frozenset(hosts)
        self.refusal = refusal
        self.listed = ", ".join(sorted(self.hosts))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        values = [value.decode("latin-1") for key, value in scope["headers"] if key == b"host"]
        name = host_name(values[0]) if len(values) == 1 else None
        if name in self.hosts:
            await self.app(scope, receive, send)
            return
        logger.warning(
            "refused %s %s: Host %s",
            scope.get("method", "WEBSOCKET"),
            scope["path"],
            "malformed or missing" if name is None else "not served here",
        )
        if scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)
        elif name is None:
            # RFC 9110 §7.4: no Host, several, or an invalid one is a 400.
            text = "The request needs exactly one valid Host header."
            await self.refusal(scope["path"], 400, text)(scope, receive, send)
        else:
            # RFC 9110 §7.4, §15.5.20: a Host this server does not answer for is a 421 (its value is not echoed).
            text = f"This server answers only for these host names: {self.listed}."
            await self.refusal(scope["path"], 421, text)(scope, receive, send)
