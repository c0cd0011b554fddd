"""The SPA's sign-in orchestration: the client core's build/parse pairs, sent
with fetch, each step recorded on the timeline.

Per-sign-in state (state, code_verifier, nonce, response_mode) lives in
sessionStorage keyed by state and is deleted as soon as the callback uses it;
tokens live in memory unless the page is configured to keep them in
sessionStorage (an explicit opt-in; never localStorage: SECURITY.md C7).
"""

import json

from oauth_client import (
    ClientConfig,
    HttpRequest,
    InvalidIdToken,
    OAuthClientError,
    PrecomputedVerifier,
    StateMismatch,
    TokenSet,
    Transaction,
    build_api_request,
    build_authorization_url,
    build_code_exchange_request,
    build_discovery_request,
    build_refresh_request,
    build_revocation_request,
    decode_jwt,
    find_callback_states,
    implicit_signature_inputs,
    new_transaction,
    parse_api_response,
    parse_callback,
    parse_discovery_response,
    parse_refresh_response,
    parse_revocation_response,
    parse_token_response,
    signature_input,
    validate_implicit_response,
)

from . import browser
from .timeline import Timeline, add_checks, shown, url_parts

TX_PREFIX = "tx:"
LATEST = "9007199254740991"  # beyond any request-log entry number (2**53 - 1)
FLOW_NAMES = {"code": "Authorization code + PKCE", "token": "Implicit (legacy): token",
              "id_token token": "Implicit (legacy): id_token token"}  # fmt: skip


class SpaApp:
    def __init__(self, settings: "dict") -> None:
        self.client = ClientConfig.from_dict(settings)
        # Popup sign-in returns to a second registered redirect URI: a tiny page without Python.
        popup_uri = settings.get("popup_redirect_uri")
        self.popup_client = None
        if popup_uri:
            self.popup_client = ClientConfig(self.client.issuer, self.client.client_id, popup_uri, self.client.scope)
        self.api_base = settings.get("api_base", "")
        self.request_logs = settings.get("request_logs") or {}
        self.keep_tokens = settings.get("token_storage") == "sessionStorage"
        self.storage = browser.Storage("spalab:")
        self.timeline = Timeline.from_json(self.storage.get("timeline"))
        self.metadata = None
        self.jwks = None
        self.tokens = None  # type: TokenSet | None
        self.profile = {}  # type: dict
        self.response_type = ""
        self._pending_views = []  # type: list
        self._restore_tokens()

    # --- discovery and keys -----------------------------------------------------

    async def discover(self) -> None:
        if self.metadata is not None:
            return
        request = build_discovery_request(self.client.issuer)
        self.metadata = parse_discovery_response(self.client.issuer, await browser.send(request))

    async def keys(self) -> "dict":
        if self.jwks is None:
            response = await browser.send(HttpRequest("GET", self.metadata.jwks_uri, {"Accept": "application/json"}))
            self.jwks = json.loads(response.body) if response.status == 200 else {"keys": []}
        return self.jwks

    async def verifier_for(self, tokens: "list") -> PrecomputedVerifier:
        """WebCrypto is asynchronous: verify first, hand the core the answers."""
        verifier = PrecomputedVerifier()
        jwks = await self.keys()
        for token in tokens:
            checked = signature_input(decode_jwt(token, InvalidIdToken), jwks, error=InvalidIdToken)
            verifier.record(checked, await browser.webcrypto_verify(checked))
        return verifier

    # --- starting a sign-in -------------------------------------------------------

    async def start(self, response_type: str, response_mode: str, popup: object = None) -> None:
        """Redirects this page to the provider or, given an open `popup` (browser.open_popup),
        signs in there while this page stays booted, and finishes the sign-in here."""
        client = self.client if popup is None else self.popup_client
        self.timeline.clear()
        await self.discover()
        step = self.timeline.add("Discovery", "ok", "GET " + self.client.issuer + "/.well-known/openid-configuration", browser.now())
        add_checks(step, [("discovered issuer equals the configured one", "ok")])
        tx = new_transaction(client, response_type, response_mode, browser.random_bytes, browser.now())
        self.storage.set(TX_PREFIX + tx.state, tx.to_json())
        url = build_authorization_url(self.metadata, client, tx)
        where = "this page navigates" if popup is None else "a popup window opens"
        step = self.timeline.add("Authorization request", "info", FLOW_NAMES[response_type] + ": " + where
                                 + " to the provider's authorization endpoint.", browser.now())  # fmt: skip
        step["query"] = url_parts(url)[1]
        if tx.code_verifier:
            step["kv"].append(["code_verifier", shown("code_verifier", tx.code_verifier) + " — kept in this "
                               "tab's sessionStorage; sent later only to the token endpoint"])  # fmt: skip
        self.storage.set("marks", json.dumps(await self._log_marks()))
        self._save_timeline()
        if popup is None:
            browser.navigate(url)
            return
        browser.popup_navigate(popup, url)
        await self.keys()  # fetched while the visitor is at the provider, off the path after the callback
        await self.finish_callback(await browser.popup_callback(popup), "popup")

    def client_for(self, tx: Transaction) -> ClientConfig:
        """The registration the transaction was started with (redirect or popup)."""
        if self.popup_client is not None and tx.redirect_uri == self.popup_client.redirect_uri:
            return self.popup_client
        return self.client

    # --- the callback ---------------------------------------------------------------

    async def finish_callback(self, url: str, via: str = "redirect") -> None:
        """`via`: "redirect" (boot.js captured and cleaned the URL before Python started) or
        "popup" (popup-callback.html cleaned its own URL and handed it over)."""
        base, query, fragment = url_parts(url)
        if via == "popup":
            how = ("The provider sent the popup to " + base + "; that page cleaned its URL, handed it to this "
                   "page (postMessage, same origin only) and closed.")  # fmt: skip
        else:
            how = ("The provider sent the browser to " + base + ". The URL was cleaned with "
                   "history.replaceState before Python started (boot.js).")  # fmt: skip
        step = self.timeline.add("Redirect back to the app", "info", how, browser.now())
        step["query"], step["fragment"] = query, fragment
        self._save_timeline()
        tx = self._take_transaction(url)
        self.show_server_views(("/", "/popup-callback.html", "/authorize", "/login", "/consent"))
        await self.discover()
        try:
            result = parse_callback(url, tx, self.metadata, browser.now())
        finally:
            self._save_timeline()
        step = self.timeline.add("Response checks", "ok", "Checked before anything else in the response was used.",
                                 browser.now())  # fmt: skip
        add_checks(step, result.checks)
        if tx.response_type == "code":
            await self._exchange(tx, result.code, self.client_for(tx))
        else:
            await self._accept_implicit(tx, result)
        self._save_timeline()

    def _take_transaction(self, url: str) -> Transaction:
        """SECURITY.md C1/C3: the transaction is found by state and used at most once."""
        for state in find_callback_states(url):
            stored = self.storage.get(TX_PREFIX + state)
            if stored is not None:
                self.storage.remove(TX_PREFIX + state)
                return Transaction.from_json(stored)
        step = self.timeline.add("Response checks", "fail", "No sign-in started in this tab has this state.",
                                 browser.now())  # fmt: skip
        add_checks(step, [("state", "failed")])
        self._save_timeline()
        raise StateMismatch("no transaction for this state", reason="unknown_state", parameter="state",
                            checks=[("state", "failed")])  # fmt: skip

    async def _exchange(self, tx: Transaction, code: str, client: ClientConfig) -> None:
        request = build_code_exchange_request(self.metadata, client, tx, code)
        step = self.timeline.add("Token request (fetch with CORS)", "info", "POST " + request.url + " from this "
                                 "page's origin; the response is read by JavaScript, never put in a URL.",
                                 browser.now())  # fmt: skip
        step["kv"] = [[name, shown(name, value)] for name, value in _form_pairs(request.body)]
        response = await browser.send(request)
        verifier = await self.verifier_for(_id_tokens(response))
        try:
            tokens = parse_token_response(response, self.metadata, client, browser.now(), tx,
                                          await self.keys(), verifier)  # fmt: skip
        except OAuthClientError as error:  # recorded here, shown by the one handler in main.py
            add_checks(step, getattr(error, "checks", []) or [("token response", "failed")])
            raise
        step["status"] = "ok"
        step["kv"].append(["response", _summary(tokens)])
        add_checks(step, [("PKCE verifier accepted by the provider", "ok")] + tokens.checks)
        self.show_server_views(("/token",))
        self._signed_in(tokens, tx.response_type)

    async def _accept_implicit(self, tx: Transaction, result: object) -> None:
        jwks = await self.keys()
        verifier = PrecomputedVerifier()
        for checked in implicit_signature_inputs(result, jwks):
            verifier.record(checked, await browser.webcrypto_verify(checked))
        step = self.timeline.add("Token checks (implicit)", "ok", "The tokens arrived in the fragment: the app "
                                 "must prove they are its own.", browser.now())  # fmt: skip
        try:
            tokens = validate_implicit_response(result, self.metadata, self.client_for(tx), tx, browser.now(), jwks,
                                                verifier)  # fmt: skip
        except OAuthClientError as error:  # recorded here, shown by the one handler in main.py
            add_checks(step, getattr(error, "checks", []))
            raise
        add_checks(step, tokens.checks[len(result.checks):])
        self._signed_in(tokens, tx.response_type)
        if tokens.id_token_claims is None:
            await self._load_profile()

    # --- what the servers saw -------------------------------------------------------

    async def _log_marks(self) -> "dict":
        """Where each server's request log stands now: the timeline later shows what came after.
        Asking for entries after an unreachable number returns none, only "last_seq"."""
        marks = {}
        for server, url in self.request_logs.items():
            data = await browser.get_json(url + "?since=" + LATEST)
            marks[server] = data.get("last_seq", 0) if isinstance(data, dict) else 0
        return marks

    def show_server_views(self, paths: "tuple") -> None:
        """Adds a "What the servers saw" step here, in its place on the timeline; its entries
        are read later by load_server_views, off the sign-in's critical path."""
        if not self.request_logs:
            return
        step = self.timeline.add("What the servers saw", "info", "From each server's request log. The fragment "
                                 "is never sent to any server.", browser.now())  # fmt: skip
        self._pending_views.append((step, paths))

    async def load_server_views(self) -> bool:
        """Reads each server's request log once and fills the pending steps (in order, each
        with the requests to its paths not shown before). Returns whether anything was pending."""
        if not self._pending_views:
            return False
        pending, self._pending_views = self._pending_views, []
        marks = json.loads(self.storage.get("marks") or "{}")
        logs = {}
        for server, url in self.request_logs.items():
            data = await browser.get_json(url + "?since=" + str(marks.get(server, 0)))
            logs[server] = data.get("entries", []) if isinstance(data, dict) else None
        for step, paths in pending:
            seen = []
            for server, entries in logs.items():
                if entries is None:
                    step["servers"].append({"server": server, "text": "request log unavailable"})
                    continue
                for entry in entries:
                    if entry.get("seq", 0) > marks.get(server, 0) and entry.get("path") in paths:
                        seen.append((entry.get("time", 0), server, describe_entry(entry)))
                        marks[server] = entry["seq"]
            for _, server, text in sorted(seen):
                step["servers"].append({"server": server, "text": text})
        self.storage.set("marks", json.dumps(marks))
        self._save_timeline()
        return True

    # --- using the session ------------------------------------------------------------

    def _signed_in(self, tokens: TokenSet, response_type: str) -> None:
        self.tokens, self.response_type = tokens, response_type
        self.profile = tokens.id_token_claims or self.profile
        if self.keep_tokens:
            self.storage.set("tokens", json.dumps(_token_record(tokens, response_type)))

    async def _load_profile(self) -> None:
        """Without an id_token the app learns who signed in from userinfo (OIDC Core §5.3)."""
        if not self.metadata.userinfo_endpoint:
            return
        response = await browser.send(build_api_request(self.metadata.userinfo_endpoint, self.tokens.access_token))
        profile = parse_api_response(response)
        step = self.timeline.add("Userinfo", "ok", "GET " + self.metadata.userinfo_endpoint
                                 + ": no id_token in this flow, so the app asks who signed in.", browser.now())  # fmt: skip
        step["kv"].append(["sub", str(profile.get("sub")) if isinstance(profile, dict) else "?"])
        self.profile = profile if isinstance(profile, dict) else {}

    def _restore_tokens(self) -> None:
        record = self.storage.get("tokens") if self.keep_tokens else None
        if record:
            data = json.loads(record)
            self.tokens = TokenSet(data["access_token"], "Bearer", data["issued_at"], data["expires_at"],
                                   data["scopes"], data["refresh_token"], data["id_token"], data["claims"])  # fmt: skip
            self.response_type = data["response_type"]

    async def call_api(self, path: str = "/contacts") -> object:
        # Against another provider the one protected resource we know is its userinfo endpoint.
        url = self.api_base + path if self.api_base else self.metadata.userinfo_endpoint
        request = build_api_request(url, self.tokens.access_token)
        response = await browser.send(request)
        step = self.timeline.add("API call", "info", "GET " + request.url + " with Authorization: Bearer "
                                 + shown("access_token", self.tokens.access_token), browser.now())  # fmt: skip
        step["kv"].append(["status", str(response.status)])
        try:
            data = parse_api_response(response)
        except OAuthClientError:  # marked here, shown by the one handler in main.py
            step["status"] = "fail"
            self._save_timeline()
            raise
        step["status"] = "ok"
        self._save_timeline()
        return data

    async def refresh(self) -> None:
        old = self.tokens
        request = build_refresh_request(self.metadata, self.client, old.refresh_token)
        response = await browser.send(request)
        verifier = await self.verifier_for(_id_tokens(response))
        tokens = parse_refresh_response(response, self.metadata, self.client, old, browser.now(),
                                        await self.keys(), verifier)  # fmt: skip
        step = self.timeline.add("Refresh (rotation)", "ok", "POST " + request.url + " with grant_type=refresh_token.",
                                 browser.now())  # fmt: skip
        step["kv"] = [["old refresh_token", shown("refresh_token", old.refresh_token)],
                      ["new refresh_token", shown("refresh_token", tokens.refresh_token or "")],
                      ["rotated", "yes" if tokens.refresh_token != old.refresh_token else "no"]]  # fmt: skip
        self._signed_in(tokens, self.response_type)
        self._save_timeline()

    async def sign_out(self) -> int:
        """Revokes the tokens (RFC 7009), then shows the API now refuses the old one."""
        tokens = self.tokens
        step = self.timeline.add("Sign out", "ok", "Tokens revoked at the provider and dropped from memory.",
                                 browser.now())  # fmt: skip
        for token, hint in ((tokens.refresh_token, "refresh_token"), (tokens.access_token, "access_token")):
            if token and self.metadata.revocation_endpoint:
                request = build_revocation_request(self.metadata, self.client, token, hint)
                parse_revocation_response(await browser.send(request))
                step["kv"].append(["revoked " + hint, shown(hint, token)])
        after = await browser.send(build_api_request(self.api_base + "/me" if self.api_base
                                                     else self.metadata.userinfo_endpoint, tokens.access_token))  # fmt: skip
        step["kv"].append(["API with the old access token", "HTTP " + str(after.status)])
        self.tokens, self.response_type, self.profile = None, "", {}
        self.storage.remove("tokens")
        self._save_timeline()
        return after.status

    def clear_timeline(self) -> None:
        self.timeline.clear()
        self._save_timeline()

    def _save_timeline(self) -> None:
        self.storage.set("timeline", self.timeline.to_json())


def describe_entry(entry: "dict") -> str:
    text = str(entry.get("method")) + " " + str(entry.get("path"))
    if entry.get("query"):
        text += " ?" + "&".join(p["name"] + "=" + p["value"] for p in entry["query"])
    if entry.get("form"):
        text += " body: " + ", ".join(p["name"] + "=" + p["value"] for p in entry["form"])
    if entry.get("origin"):
        text += " — Origin: " + str(entry["origin"])
    text += " — Referer: " + str(entry.get("referer") or "(none)")
    return text + " → " + str(entry.get("status"))


def _form_pairs(body: "str | None") -> "list":
    from oauth_client import parse_query

    return parse_query(body or "")


def _id_tokens(response: object) -> "list":
    try:
        data = json.loads(response.body)
    except ValueError:
        return []
    token = data.get("id_token") if isinstance(data, dict) and response.status == 200 else None
    return [token] if isinstance(token, str) else []


def _summary(tokens: TokenSet) -> str:
    parts = ["access_token", "token_type=" + tokens.token_type]
    if tokens.refresh_token:
        parts.append("refresh_token")
    if tokens.id_token:
        parts.append("id_token")
    return ", ".join(parts)


def _token_record(tokens: TokenSet, response_type: str) -> "dict":
    return {"access_token": tokens.access_token, "issued_at": tokens.issued_at, "expires_at": tokens.expires_at,
            "scopes": tokens.scopes, "refresh_token": tokens.refresh_token, "id_token": tokens.id_token,
            "claims": tokens.id_token_claims, "response_type": response_type}  # fmt: skip
