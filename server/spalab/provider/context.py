"""Per-app state shared by the provider's routes."""

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from ..requestlog import RequestLog
from .config import ProviderConfig
from .dpop import DPoPShell
from .issuance import Issuer
from .store import Store

Clock = Callable[[], int]


def system_clock() -> int:
    return int(time.time())


@dataclass
class Provider:
    config: ProviderConfig
    store: Store
    issuer: Issuer
    clock: Clock
    request_log: RequestLog | None
    csrf_key: bytes
    cookie_suffix: str
    dpop: DPoPShell

    @property
    def secure_cookies(self) -> bool:
        return self.config.issuer.startswith("https:")

    def cookie_name(self, purpose: str) -> str:
        """docs/SECURITY.md P15/P24 (cookie scope): on https the `__Host-` prefix makes browsers refuse the
        cookie unless it is Secure, host-only and Path=/ (RFC 6265bis §4.1.3.2), so no subdomain or
        plain-http page can plant or overwrite it. Plain http (the loopback demo) cannot use the
        prefix, and cookies ignore ports: see docs/SECURITY.md on loopback cookies."""
        name = f"spalab_{purpose}_{self.cookie_suffix}"
        return "__Host-" + name if self.secure_cookies else name

    def csrf_token(self, purpose: str, *bound_to: str) -> str:
        message = "|".join((purpose, *bound_to)).encode()
        return hmac.new(self.csrf_key, message, hashlib.sha256).hexdigest()

    def check_csrf(self, token: str | None, purpose: str, *bound_to: str) -> bool:
        if token is None or not all(bound_to):
            return False
        # docs/SECURITY.md P22: compare bytes; compare_digest raises TypeError on non-ASCII str (a 500).
        return hmac.compare_digest(token.encode(), self.csrf_token(purpose, *bound_to).encode())


def provider_of(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider
