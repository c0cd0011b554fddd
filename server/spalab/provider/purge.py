"""Keeps the database bounded (docs/SECURITY.md P28): Store.purge, run now and then.

The purge rides on requests rather than on a timer task: after a response has been
sent, the request that finds a purge due runs one in the thread pool. So it never
delays an answer, runs the same under uvicorn (lifespan off) and the test client,
follows the provider's clock (a test moving its clock moves the purge too), and runs
at most once every INTERVAL seconds, one at a time. No requests, no growth, no purge.
"""

import threading

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from .context import Clock
from .core import throttle
from .keys import retired_keys
from .store import Store

INTERVAL = 60


class Purger:
    """`key_grace`: how long a newer key must have been signing before the keys it replaced are unpublished
    (keys.retired_keys); None keeps every key."""

    def __init__(self, store: Store, clock: Clock, interval: int = INTERVAL, key_grace: int | None = None) -> None:
        self.store = store
        self.clock = clock
        self.interval = interval
        self.key_grace = key_grace
        self._next_at = 0  # the first request after a start purges what a previous run left
        self._running = False
        self._lock = threading.Lock()

    def claim(self) -> bool:
        """True for the one caller that should purge now; it must call run() next."""
        now = self.clock()
        with self._lock:
            if self._running or now < self._next_at:
                return False
            self._running, self._next_at = True, now + self.interval
            return True

    def run(self) -> int:
        try:
            now = self.clock()
            removed = self.store.purge(now, login_failures_before=now - throttle.WINDOW)
            if self.key_grace is not None:
                grace = self.key_grace
                removed += self.store.retire_signing_keys(lambda schedule: retired_keys(schedule, now, grace))
            return removed
        finally:
            with self._lock:
                self._running = False


class PurgeMiddleware:
    """Runs a due purge once the response is out, in the thread pool."""

    def __init__(self, app: ASGIApp, purger: Purger) -> None:
        self.app = app
        self.purger = purger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and self.purger.claim():
            await run_in_threadpool(self.purger.run)
