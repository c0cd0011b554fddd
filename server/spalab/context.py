"""Per-app state shared by the provider's routes."""

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from .config import ProviderConfig
from .issuance import Issuer
from .requestlog import RequestLog
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

    def csrf_token(self, purpose: str, *bound_to: str) -> str:
        message = "|".join((purpose, *bound_to)).encode()
        return hmac.new(self.csrf_key, message, hashlib.sha256).hexdigest()

    def check_csrf(self, token: str | None, purpose: str, *bound_to: str) -> bool:
        if token is None or not all(bound_to):
            return False
        # SECURITY.md P22: compare bytes; compare_digest raises TypeError on non-ASCII str (a 500).
        return hmac.compare_digest(token.encode(), self.csrf_token(purpose, *bound_to).encode())


def provider_of(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


