"""The last line of defence (SECURITY.md P22): an exception that no handler caught is
logged by its type only and answered with a readable 500, never a trace.

Starlette's ServerErrorMiddleware would answer too, but it then re-raises the exception
to the server, and uvicorn prints the whole traceback on stderr. This middleware sits
inside it, as the app's outermost layer, so nothing reaches it."""

import logging
from collections.abc import Callable

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
        started = [False]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # the one place that catches everything: see the module docstring
            logger.error("%s: unexpected %s on %s %r", self.server, type(exc).__name__, scope["method"], scope["path"][:200])
            # Once the status line is out, the connection can only be cut short (the server does that).
            if not started[0]:
                await self.answer(scope)(scope, receive, send)
