"""The last line of defence (docs/SECURITY.md P22): an exception that no handler caught is
logged by its type only and answered with a readable 500, never a trace.

Starlette's ServerErrorMiddleware would answer too, but it then re-raises the exception
to the server, and uvicorn prints the whole traceback on stderr. This middleware sits
inside it, as the app's outermost layer, so nothing reaches it."""

import logging
from collections.abc import Callable

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("spalab.unexpected")

Answer = Callable[[Scope], Response]


class CatchUnexpected:
    """`answer` builds the 500 (a page or JSON, as the path calls for)."""

    def __init__(self, app: ASGIApp, server: str, answer: Answer) -> None:
        self.app = app
        self.server = server
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, lost = [False], [False]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
            try:
                await send(message)
            except Exception:
                # The server cannot send: the client left, or the server already answered a request
                # it found malformed (uvicorn's 400 after a broken body). Not a bug of ours.
                lost[0] = True
                raise

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            self._gone(scope, "the client left before its request was read")
        except Exception as exc:  # the one place that catches everything: see the module docstring
            if lost[0]:
                self._gone(scope, "the connection could no longer carry the answer")
                return
            logger.error(
                "%s: unexpected %s on %s %r", self.server, type(exc).__name__, scope["method"], scope["path"][:200]
            )
            # Once the status line is out, the connection can only be cut short (the server does that).
            if not started[0]:
                await self.answer(scope)(scope, receive, send)

    def _gone(self, scope: Scope, why: str) -> None:
        logger.info("%s: %s %r: %s", self.server, scope["method"], scope["path"][:200], why)
