"""The demo's sign-in: spalab_auth.Auth does every step; this module tells them on the
timeline (narration.py) as the package's events arrive, and adds what only the demo shows:
what each server saw, and whether the API still takes a token after sign-out.

Per-sign-in state and tokens live where the package keeps them (sessionStorage for the
transaction; tokens in memory unless the visitor chooses sessionStorage or "shared" on the
sign-in page, or the page's settings say "token_storage": "sessionStorage"; never
localStorage: docs/SECURITY.md C7).
"""

import asyncio

from spalab_auth import Auth, Event, NotSignedIn, browser
from spalab_auth.core import (
    ConfigurationError,
    OAuthClientError,
    StateMismatch,
    build_api_request,
    parse_api_response,
)
from spalab_auth.explain import SignOutReport

from .narration import FLOW_NAMES, Narrator
from .request_log import RequestLogs
from .timeline import add_checks, shown

try:  # for static checkers only; MicroPython has no typing module
    from typing import Any
except ImportError:
    pass

__all__ = ["FLOW_NAMES", "SpaApp"]

# Where the tokens are kept (the sign-in page's choice, kept in this tab's sessionStorage), told on
# the timeline's token step.
KEPT = {
    "memory": "in this page's memory (Python objects): gone at a reload",
    "session": "in this tab's sessionStorage: a reload keeps them, and any script in the page reads them",
    "shared": "in memory, handed to this app's other tabs over a BroadcastChannel (storage 'shared')",
}

# The package's events that leave a performance mark, for e2e/bench/trace.py.
TRACED = ("callback", "callback_checks", "token_request", "tokens", "signed_in", "api_request")

# The pages the redirect part of a sign-in passes through, on each server.
FRONT_CHANNEL = ("/", "/popup-callback.html", "/authorize", "/login", "/consent")


class SpaApp:
    def __init__(self, settings: "dict[str, Any]") -> None:
        self.storage = browser.Storage("spalab:")
        chosen = self.storage.get("storage")
        default = "session" if settings.get("token_storage") == "sessionStorage" else "memory"
        self.auth = Auth(
            str(settings.get("issuer", "")),
            str(settings.get("client_id", "")),
            str(settings.get("redirect_uri", "")),
            str(settings.get("scope", "openid")),
            popup_redirect_uri=settings.get("popup_redirect_uri"),
            storage=chosen if chosen in KEPT else default,
            # The demo shows every sign-in step by step: a reload starts signed out, as the page says.
            restore=False,
            allow_implicit=True,
            # The sign-in page's DPoP switch, kept across the redirect (the code exchange needs it).
            dpop=self.storage.get("dpop") == "1",
        )
        self.api_base = str(settings.get("api_base", ""))
        self.narrator = Narrator(self.storage)
        self.request_logs = RequestLogs(settings.get("request_logs") or {}, self.storage)
        self.keep = self.auth.storage == "session"
        self.pending = None  # type: dict[str, Any] | None
        self.phase = ""
        self.last_api_step = None  # type: dict[str, Any] | None
        self.refresh_request = None  # type: Any
        self.sign_out_step = None  # type: dict[str, Any] | None
        self.proof = None  # type: dict[str, Any] | None  # the DPoP proof the next request carries
        self.marking = None  # type: Any  # the request logs' mark, read ahead of the next sign-in
        self.auth.on(self.narrate)

    @property
    def popup_available(self) -> bool:
        return self.auth.popup_client is not None

    # --- the package's events, told on the timeline ----------------------------------------

    def narrate(self, event: Event) -> "Any":
        kind, data, narrator = event.type, event.data, self.narrator
        if kind in TRACED:
            browser.mark("spalab:" + kind)  # where a sign-in's time goes (e2e/bench/trace.py)
        if kind == "discovery":
            narrator.discovery(data["issuer"])
        elif kind == "authorization_request":
            narrator.authorization_request(data["transaction"], data["url"], data["popup"])
            return self._marked()  # awaited by the package before the page leaves
        elif kind == "callback":
            self.phase = ""
            narrator.redirect_back(data["url"], data["via"])
            self.show_server_views(FRONT_CHANNEL)
        elif kind == "callback_checks":
            narrator.response_checks(data["checks"])
            self.phase = "implicit" if data["response_type"] != "code" else ""
        elif kind == "dpop_proof":
            self.proof = data
        elif kind == "token_request":
            self.pending = narrator.token_request(data["request"], self._take_proof())
        elif kind == "tokens":
            self._tokens(data)
        elif kind == "userinfo":
            narrator.userinfo(data["endpoint"], data["profile"])
        elif kind == "api_request":
            self.last_api_step = narrator.api_call(
                data["request"], data["response"], data["access_token"], self._take_proof()
            )
        elif kind == "dpop_nonce":
            narrator.dpop_nonce(data["server"])
        elif kind == "refresh_request":
            self.refresh_request = data["request"]
            self.proof = None
        elif kind == "refreshed" and self.refresh_request is not None:
            narrator.refreshed(self.refresh_request, data["old"], data["tokens"])
        elif kind == "revocation" and self.sign_out_step is not None:
            token, hint, outcome = data["token"], data["hint"], data["outcome"]
            line = ["not revoked " + hint if outcome else "revoked " + hint, outcome or shown(hint, token)]
            self.sign_out_step["kv"].append(line)
        elif kind == "error":
            self._failed(data["error"])
            self.premark()
        elif kind == "signed_out":
            self.premark()
        narrator.save()
        return None

    def premark(self) -> None:
        """Reads where the servers' logs stand while the visitor is still choosing, so that a sign-in
        leaves for the provider at once rather than after two round trips to the logs."""
        if self.request_logs.urls and self.auth.tokens is None:
            self.marking = asyncio.create_task(self.request_logs.mark())

    async def _marked(self) -> None:
        marking, self.marking = self.marking, None
        if marking is None:
            await self.request_logs.mark()
        else:
            await marking  # done long ago, as a rule

    def _take_proof(self) -> "dict[str, Any] | None":
        proof, self.proof = self.proof, None
        return proof

    def _tokens(self, data: "dict[str, Any]") -> None:
        tokens = data["tokens"]
        if data["response_type"] == "code" and self.pending is not None:
            self.narrator.tokens_received(self.pending, tokens)
            self.pending["kv"].append(["kept", KEPT[self.auth.storage]])
            self.pending = None
            self.show_server_views(("/token",))
        else:
            step = self.narrator.implicit_checks()
            add_checks(step, tokens.checks[data.get("callback_checks", 0) :])

    def _failed(self, error: OAuthClientError) -> None:
        """Marks the step that was running failed, with the checks the error carries."""
        if isinstance(error, StateMismatch) and error.reason == "unknown_state":
            self.narrator.unknown_state()
        elif self.pending is not None:
            add_checks(self.pending, error.checks or [("token response", "failed")])
            self.pending["status"] = "fail"
            self.pending = None
        elif self.phase == "implicit":  # the tokens of an implicit response failed their checks
            step = self.narrator.implicit_checks()
            add_checks(step, error.checks)
            step["status"] = "fail"
        self.phase = ""

    # --- what the page asks for -------------------------------------------------------------

    async def start(self) -> None:
        """At start-up: finishes a redirect sign-in (boot.js captured and cleaned the URL)."""
        await self.auth.start()

    async def sign_in(self, response_type: str, response_mode: str, popup: bool = False, dpop: bool = False) -> None:
        """Redirects this page to the provider or, with `popup`, signs in in a popup window
        while this page stays booted (the package opens it first, while the click counts).
        `dpop`: bind the tokens to this browser's non-extractable key (RFC 9449)."""
        self.auth.dpop = dpop
        self.storage.set("dpop", "1" if dpop else "0")
        self.narrator.timeline.clear()
        implicit = None if response_type == "code" else response_type
        await self.auth.sign_in(popup, response_mode, None, implicit)

    def show_server_views(self, paths: "tuple[str, ...]") -> None:
        """Adds a "What the servers saw" step here, in its place on the timeline; its entries
        are read later by load_server_views, off the sign-in's critical path."""
        if self.request_logs.urls:
            self.request_logs.expect(self.narrator.servers_saw(), paths)

    async def load_server_views(self) -> bool:
        """Fills the pending "What the servers saw" steps; returns whether there were any."""
        if not await self.request_logs.load():
            return False
        self.narrator.save()
        return True

    async def _api_url(self, path: str) -> str:
        # Against another provider the one protected resource we know is its userinfo endpoint.
        if self.api_base:
            return self.api_base + path
        endpoint = (await self.auth.metadata()).userinfo_endpoint
        if not endpoint:
            raise ConfigurationError("no api_base and no userinfo endpoint", reason="no_api")
        return endpoint

    async def call_api(self, path: str = "/contacts") -> object:
        response = await self.auth.fetch(await self._api_url(path))
        step = self.last_api_step
        if step is None:
            return parse_api_response(response)
        with self.narrator.failure_recorded(step):
            data = parse_api_response(response)
        step["status"] = "ok"
        self.narrator.save()
        return data

    async def refresh(self) -> None:
        await self.auth.refresh()

    async def sign_out(self) -> SignOutReport:
        """The package drops the tokens, then revokes them; the demo then shows whether the API
        still accepts the old access token, where there is an API to ask. The provider session
        stays (end_session=False): the demo's next sign-in shows the consent it remembers."""
        tokens = self.auth.tokens
        if tokens is None:
            raise NotSignedIn("no tokens")
        self.sign_out_step = step = self.narrator.step("Sign out", "info", "Signing out.")
        try:
            report = await self.auth.sign_out(end_session=False)
        finally:
            self.sign_out_step = None
        if self.auth.provider.second_lookup:
            step["kv"].insert(0, ["RFC 8414 metadata", self.auth.provider.second_lookup])
        if tokens.token_type == "DPoP":
            step["kv"].append(["API with the old access token", "not asked: DPoP-bound, and its key is deleted"])
            self.narrator.signed_out(step, report)
            return report
        try:
            after = await browser.send(build_api_request(await self._api_url("/me"), tokens.access_token))
        except (ConfigurationError, browser.NetworkError):
            step["kv"].append(["API with the old access token", "not checked (no API this page can reach)"])
        else:
            report.api_status = after.status
            step["kv"].append(["API with the old access token", "HTTP " + str(after.status)])
        self.narrator.signed_out(step, report)
        return report
